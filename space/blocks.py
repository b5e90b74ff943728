"""The Beatwalk Space: four tabs over one project, and a named API.

The project (``pipelines.project.Project``) is the single source of truth: it
lives as JSON in a ``gr.State``, every tab's action takes it and returns a new
one, and the views (keyframe table, frame-plan plot) are redrawn from it. The
song's analysis lives beside it (``Analysis.to_dict()``), so nothing is
analysed twice. Handlers here are thin: they unpack components, call the tab
modules (plain functions over projects), and turn bad input into one-line
``gr.Error``s.
"""

from __future__ import annotations

import os

from space import gpu  # first: `import spaces` must precede torch

# isort: split

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from space import api, audio_tab, keyframes_tab, motion_tab, render_tab
from space.errors import user_errors
from space.keyframes_tab import parse
from space.session import end_session, session_dir, sessions_root

TITLE = "Beatwalk"
INTRO = (
    "# 🥁 Beatwalk\n"
    "Turn a song into an audio-reactive latent-walk music video: prompts become keyframes on the song's "
    "timeline, and the walk between them speeds up with the music and pulses on the beats. "
    "**1** Audio → **2** Keyframes → **3** Motion → **4** Render. Every step is also an API endpoint "
    "(see *Use via API* at the bottom)."
)


def build_demo(limits: Limits | None = None) -> gr.Blocks:
    """The whole app; ``limits`` default to ``Limits.from_env()``."""
    limits = Limits.from_env() if limits is None else limits
    model, banner = gpu.default_model()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(INTRO)
        if banner:
            gr.Markdown(banner, elem_id="banner")
        project = gr.State(None)  # Project JSON
        analysis = gr.State(None)  # Analysis.to_dict()
        last_render = gr.State(None)  # {"kind", "project", "frames_done", "frames_total", "finished"}
        with gr.Tabs():
            with gr.Tab("1 · Audio", elem_id="tab-audio"):
                audio = audio_tab.build(limits)
            with gr.Tab("2 · Keyframes", elem_id="tab-keyframes"):
                keys = keyframes_tab.build()
            with gr.Tab("3 · Motion", elem_id="tab-motion"):
                motion = motion_tab.build(limits, model=model)
            with gr.Tab("4 · Render", elem_id="tab-render"):
                render = render_tab.build()
        api.build(limits)
        _wire(limits, project, analysis, last_render, audio, keys, motion, render)
        demo.unload(end_session)
    demo.queue(default_concurrency_limit=2)
    return demo


def launch_options(limits: Limits | None = None) -> dict:
    """``demo.launch`` arguments that enforce the limits (upload size)."""
    limits = Limits.from_env() if limits is None else limits
    options = {"max_file_size": None if limits.max_upload_mb is None else f"{limits.max_upload_mb:g}mb"}
    if os.environ.get("BEATWALK_SESSIONS_DIR"):
        # Gradio copies outputs from the temp dir on its own; a configured root may lie elsewhere.
        options["allowed_paths"] = [str(sessions_root())]
    return options


def _wire(limits, project, analysis, last_render, audio, keys, motion, render) -> None:
    """Events: functions first (closures over the limits), then the wiring."""
    from pipelines.music.analysis import Analysis

    settings = motion.inputs

    # -- views of the project ---------------------------------------------------

    def show_table(project_json):
        return keyframes_tab.table_rows(parse(project_json) if project_json else None)

    def show_choices(project_json, chosen):
        choices = keyframes_tab.keyframe_choices(parse(project_json) if project_json else None)
        keep = chosen is not None and 0 <= int(chosen) < len(choices)
        return gr.update(choices=choices, value=int(chosen) if keep else (choices[0][1] if choices else None))

    @user_errors
    def show_plan(project_json, analysis_dict):
        if not project_json or not analysis_dict:
            return gr.skip(), "Analyse a song first (Audio tab)."
        return motion_tab.plan(parse(project_json), Analysis.from_dict(analysis_dict), limits=limits)

    def redraw(event, *, table: bool = True):
        if table:
            event = event.success(show_table, project, keys.table, api_visibility="private")
        event = event.success(show_choices, [project, keys.chosen], keys.chosen, api_visibility="private")
        return event.success(
            show_plan, [project, analysis], [motion.plot, motion.summary], api_visibility="private"
        )

    # -- audio ------------------------------------------------------------------

    @user_errors
    def analyse(song, start, end, slowest, fastest, project_json, prompts, negative, seed, *values):
        audio_data, result = audio_tab.analyze_song(
            song, start, end, limits=limits, tempo_range=(slowest, fastest)
        )
        start, end = audio_tab.segment(start, end)
        current = parse(project_json) if project_json else None
        new, note = keyframes_tab.project_for_song(
            current,
            result,
            song=song,
            start=start,
            end=end,
            prompts=prompts,
            negative=negative,
            seed=seed,
            render=motion_tab.default_render(values[motion_tab.FIELDS.index("model")]),
        )
        new = motion_tab.apply_settings(new, list(values))
        figure = audio_tab.figure(result, audio_data)
        return result.to_dict(), audio_tab.describe(result), figure, new.to_json(), note

    analyse_inputs = [
        audio.song,
        audio.start,
        audio.end,
        audio.slowest,
        audio.fastest,
        project,
        keys.prompts,
        keys.negative,
        keys.seed,
        *settings,
    ]
    analyse_outputs = [analysis, audio.summary, audio.plot, project, keys.status]
    redraw(audio.analyze.click(analyse, analyse_inputs, analyse_outputs, api_visibility="private"))

    # Half or double the tempo found: set the range one octave around it, then analyse again.
    @user_errors
    def halve(analysis_dict):
        return audio_tab.range_at(analysis_dict, 0.5)

    @user_errors
    def double(analysis_dict):
        return audio_tab.range_at(analysis_dict, 2.0)

    for button, fn in ((audio.half, halve), (audio.double, double)):
        ranged = button.click(fn, analysis, [audio.slowest, audio.fastest], api_visibility="private")
        redraw(ranged.success(analyse, analyse_inputs, analyse_outputs, api_visibility="private"))

    # -- keyframes ----------------------------------------------------------------

    @user_errors
    def propose(project_json, analysis_dict, prompts, negative, seed, every):
        current = parse(project_json)
        keyframes = keyframes_tab.propose(
            Analysis.from_dict(analysis_dict), prompts, negative, seed, every=every
        )
        new = keyframes_tab.replace(current, keyframes=keyframes)
        return new.to_json(), f"Proposed {len(keyframes)} keyframes."

    @user_errors
    def edit_table(project_json, rows):
        if not project_json:
            return gr.skip(), "Analyse a song first (Audio tab)."
        try:
            new = keyframes_tab.project_from_table(parse(project_json), rows)
        except BeatwalkError as exc:  # shown beside the table while the person keeps typing
            return gr.skip(), f"⚠️ Not applied: {exc}"
        return new.to_json(), f"{len(new.keyframes)} keyframes."

    @user_errors
    def add(project_json, analysis_dict, at, snap, prompt):
        current, result = parse(project_json), Analysis.from_dict(analysis_dict)
        new = keyframes_tab.add_keyframe(current, result, at=at, snap=snap, prompt=prompt)
        return new.to_json(), f"Added a keyframe; {len(new.keyframes)} in all."

    @user_errors
    def snap(project_json, analysis_dict):
        new = keyframes_tab.snap_all(parse(project_json), Analysis.from_dict(analysis_dict))
        return new.to_json(), "Every keyframe is on a beat."

    @user_errors
    def remove(project_json, index):
        new = keyframes_tab.remove_keyframe(parse(project_json), index)
        return new.to_json(), f"Removed; {len(new.keyframes)} keyframes left."

    @user_errors
    def preview(project_json, index):
        current = parse(project_json)
        if index is None:
            raise gr.Error("choose a keyframe to preview")
        render_tab.check_settings(current, limits=limits)
        return gpu.preview_still(current.to_json(), int(index))

    @user_errors
    def import_project(upload, song, model):
        if upload is None:
            return (gr.skip(),) * (6 + len(settings))
        imported = keyframes_tab.import_project(upload, song=song)
        # Settings this Space's controls cannot hold give way to its limits and to the model chosen here.
        new, fitted = motion_tab.fit_controls(imported, limits, model=model)
        if fitted:  # a toast: the status line below is rewritten when the song is analysed again
            gr.Warning(f"Imported project brought within this Space's settings: {', '.join(fitted)}.")
        note = f"Imported {len(new.keyframes)} keyframes."
        note += "" if song else " Upload its song, then Analyse."
        return (
            new.to_json(), note, new.audio.start, new.audio.end, *audio_tab.tempo_range_values(new),
            *motion_tab.control_values(new),
        )  # fmt: skip

    @user_errors
    def reanalyse(song, *values):
        if not song:
            return (gr.skip(),) * len(analyse_outputs)
        return analyse(song, *values)

    @user_errors
    def export(project_json, song, request: gr.Request):
        return str(keyframes_tab.export_project(parse(project_json), session_dir(request), song=song))

    status = [project, keys.status]
    redraw(
        keys.propose.click(
            propose,
            [project, analysis, keys.prompts, keys.negative, keys.seed, keys.every],
            status,
            api_visibility="private",
        )
    )
    redraw(
        keys.table.input(
            edit_table, [project, keys.table], status, api_visibility="private", trigger_mode="always_last"
        ),
        table=False,
    )
    redraw(
        keys.add.click(
            add,
            [project, analysis, keys.add_time, keys.add_snap, keys.add_prompt],
            status,
            api_visibility="private",
        )
    )
    redraw(keys.snap.click(snap, [project, analysis], status, api_visibility="private"))
    redraw(keys.remove.click(remove, [project, keys.chosen], status, api_visibility="private"))
    keys.preview.click(
        preview,
        [project, keys.chosen],
        keys.preview_image,
        api_visibility="private",
        concurrency_id="preview",
        concurrency_limit=limits.max_concurrent_renders,
    )
    imported = keys.import_file.upload(
        import_project,
        [keys.import_file, audio.song, motion.controls["model"]],
        [project, keys.status, audio.start, audio.end, audio.slowest, audio.fastest, *settings],
        api_visibility="private",
    )
    redraw(imported.success(reanalyse, analyse_inputs, analyse_outputs, api_visibility="private"))
    keys.export.click(export, [project, audio.song], keys.export_file, api_visibility="private")

    # -- motion -----------------------------------------------------------------

    @user_errors
    def change_settings(project_json, analysis_dict, *values):
        if not project_json:
            return gr.skip()
        return motion_tab.apply_settings(parse(project_json), list(values)).to_json()

    changed = gr.on(
        [c.input for c in settings],
        change_settings,
        [project, analysis, *settings],
        project,
        api_visibility="private",
        trigger_mode="always_last",
    )
    redraw(changed, table=False)

    # -- render -----------------------------------------------------------------

    render_outputs = [
        render.progress,
        render.frame,
        render.video,
        render.download_video,
        render.download_project,
        render.score,
        render.plot,
        last_render,
    ]

    def render_video(kind, resume, project_json, analysis_dict, song, last, request):
        folder = session_dir(request)
        if resume:
            if not last or last.get("finished"):
                raise gr.Error("there is no stopped render to resume")
            kind, project_json = last["kind"], last["project"]
        if not analysis_dict:
            raise gr.Error("analyse a song first (Audio tab)")
        result = Analysis.from_dict(analysis_dict)
        current = render_tab.prepare(parse(project_json), song=song, duration=result.duration, limits=limits)
        frames_total = round(result.duration * current.render.fps)
        state = {
            "kind": kind,
            "project": current.to_json(),
            "frames_done": 0,
            "frames_total": frames_total,
            "finished": False,
        }
        skip = gr.skip()
        yield f"Starting the {kind}…", skip, skip, skip, skip, skip, skip, state
        last_progress = None
        progresses = render_tab.run(
            current, analysis_dict, folder, kind=kind, resume=resume, frames_total=frames_total
        )
        try:
            for last_progress in progresses:
                state = state | {
                    "frames_done": last_progress.frames_done,
                    "frames_total": last_progress.frames_total,
                }
                frame = skip if last_progress.last_frame is None else last_progress.last_frame
                # After Stop, the render's last report must not overwrite the stopped message.
                stopping = render_tab.stop_requested(folder)
                line = (
                    render_tab.stopped_message(state)
                    if stopping
                    else render_tab.describe_progress(last_progress)
                )
                yield line, frame, skip, skip, skip, skip, skip, state
        finally:
            progresses.close()  # a cancelled event (page closed) closes this generator: end the render now
        if last_progress is None or last_progress.video_path is None:
            yield render_tab.stopped_message(state), skip, skip, skip, skip, skip, skip, state
            return
        video = last_progress.video_path
        exported = keyframes_tab.export_project(current, folder, song=song)
        score = render_tab.score(video, result)
        done = f"✅ {kind.capitalize()} done: {state['frames_total']} frames. Scoring…"
        yield done, skip, video, video, str(exported), skip, skip, state | {"finished": True}
        yield (
            f"✅ {kind.capitalize()} done: {state['frames_total']} frames.",
            skip,
            skip,
            skip,
            skip,
            render_tab.describe_score(score),
            render_tab.plot_score(score),
            state | {"finished": True},
        )

    @user_errors
    def render_draft(project_json, analysis_dict, song, last, request: gr.Request):
        yield from render_video("draft", False, project_json, analysis_dict, song, last, request)

    @user_errors
    def render_final(project_json, analysis_dict, song, last, request: gr.Request):
        yield from render_video("final", False, project_json, analysis_dict, song, last, request)

    @user_errors
    def resume_render(project_json, analysis_dict, song, last, request: gr.Request):
        yield from render_video(None, True, project_json, analysis_dict, song, last, request)

    @user_errors
    def stop(last, request: gr.Request):
        render_tab.request_stop(session_dir(request))
        return render_tab.stopped_message(last) if last and not last.get("finished") else gr.skip()

    render_inputs = [project, analysis, audio.song, last_render]
    for button, fn in ((render.draft, render_draft), (render.final, render_final), (render.resume, resume_render)):
        button.click(
            fn,
            render_inputs,
            render_outputs,
            api_visibility="private",
            concurrency_id="render",
            concurrency_limit=limits.max_concurrent_renders,
        )
    # Stop does not cancel the render event: cancelling let Gradio mark the progress box "Error"
    # now and then. The render sees the stop file after its current batch and ends by itself,
    # with the job on disk for Resume.
    render.stop.click(stop, last_render, render.progress, api_visibility="private", queue=False)
