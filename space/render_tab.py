"""Render tab: a low-resolution draft of the whole song, then the final video, then its sync score."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from space import rendering
from space.errors import user_errors
from space.page import Page, analysis_of, parse, private


@dataclass
class RenderTab:
    draft: gr.Button
    final: gr.Button
    resume: gr.Button
    stop: gr.Button
    progress: gr.Markdown
    frame: gr.Image
    video: gr.Video
    download_video: gr.DownloadButton
    download_project: gr.DownloadButton
    score: gr.Markdown
    plot: gr.Plot


def build() -> RenderTab:
    """The tab's components (inside ``gr.Tab``)."""
    gr.Markdown(
        "**Draft** renders the whole song at low resolution with the same timing as the final, so you can "
        "check the motion quickly. **Final** uses the Motion tab's size and steps. **Stop** keeps what is done; "
        "**Resume** continues the last stopped render."
    )
    with gr.Row():
        draft = gr.Button("Render draft", variant="primary", elem_id="render-draft")
        final = gr.Button("Render final", variant="primary", elem_id="render-final")
        resume = gr.Button("Resume", elem_id="render-resume")
        stop = gr.Button("Stop", variant="stop", elem_id="render-stop")
    progress = gr.Markdown("", elem_id="render-progress")
    with gr.Row():
        frame = gr.Image(
            label="Latest frame", type="numpy", interactive=False, elem_id="render-frame", height=256
        )
        video = gr.Video(label="Video", interactive=False, elem_id="render-video")
    with gr.Row():
        # Greyed out until a render has made something to download.
        download_video = gr.DownloadButton("Download mp4", value=None, interactive=False, elem_id="download-video")
        download_project = gr.DownloadButton(
            "Download project JSON", value=None, interactive=False, elem_id="download-project"
        )
    score = gr.Markdown("", elem_id="sync-score")
    plot = gr.Plot(
        label="Does it dance? Visual change over onset strength, beats marked", elem_id="sync-plot",
        elem_classes=["wide-plot"],
    )
    return RenderTab(
        draft, final, resume, stop, progress, frame, video, download_video, download_project, score, plot
    )


def wire(page: Page, limits: Limits) -> None:
    """Draft, Final and Resume render in the session; Stop asks the running render to stop."""
    from space.session import session_dir

    render = page.render
    outputs = {render.progress, render.frame, render.video, render.download_video, render.download_project,
               render.score, render.plot, page.last_render}  # fmt: skip

    def prepared(kind, resume, project_json, analysis_dict, song, last, folder):
        """What to render, ``(kind, project, analysis)``, once it is sure to be admitted."""
        from pipelines.admission import admit_render

        if resume:
            if not last or last.get("finished"):
                raise BeatwalkError("there is no stopped render to resume")
            kind, project_json = last["kind"], last["project"]
        project, analysis = parse(project_json), analysis_of(analysis_dict)
        admit_render(project, song=song, duration=analysis.duration, limits=limits, images=folder)
        return kind, project, analysis

    def check(kind, resume):
        """The render button's first event: a refusal shows on the progress line alone, not as
        "Error" on every panel of the tab."""

        @user_errors
        def check_render(project_json, analysis_dict, song, last, request: gr.Request):
            prepared(kind, resume, project_json, analysis_dict, song, last, session_dir(request))
            return f"Starting the {kind or last['kind']}…"

        return check_render

    def render_video(kind, resume, project_json, analysis_dict, song, last, request):
        folder = session_dir(request)
        kind, project, analysis = prepared(kind, resume, project_json, analysis_dict, song, last, folder)
        steps = rendering.render_in_session(
            project, analysis, song=song, folder=folder, kind=kind, resume=resume, limits=limits, images=folder
        )
        with contextlib.closing(steps):  # a closed event (page left) ends the render now
            for step in steps:
                yield shown(step, stopping=rendering.stop_requested(folder))

    def shown(step, *, stopping: bool) -> dict:
        """What the page shows of one step of the render (``stopping``: Stop was pressed)."""
        kind = step.kind.capitalize()
        state = {"kind": step.kind, "project": step.project.to_json(), "frames_done": step.frames_done,
                 "frames_total": step.frames_total, "finished": step.video is not None}  # fmt: skip
        updates = {page.last_render: state}
        if step.video is not None:
            # The downloads are sent again with the score: an update without them would clear them.
            downloads = {render.download_video: gr.DownloadButton(value=step.video, interactive=True),
                         render.download_project: gr.DownloadButton(value=str(step.project_file), interactive=True)}  # fmt: skip
            updates |= downloads
        if step.score is not None:
            updates |= {render.progress: f"✅ {kind} done: {step.frames_total} frames.",
                        render.score: describe_score(step.score), render.plot: plot_score(step.score)}  # fmt: skip
        elif step.video is not None:
            updates |= {render.progress: f"✅ {kind} done: {step.frames_total} frames. Scoring…", render.video: step.video}
        elif step.stopped or (stopping and step.progress is not None):
            # After Stop, the render's last reports must not overwrite the stopped message.
            updates[render.progress] = stopped_message(state)
        elif step.progress is None:
            updates[render.progress] = f"Starting the {step.kind}…"
        else:
            updates[render.progress] = describe_progress(step.progress)
        if step.video is None and step.progress is not None and step.progress.last_frame is not None:
            updates[render.frame] = step.progress.last_frame
        return updates

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
        folder = session_dir(request)
        if not rendering.running(folder):
            return "No render is running."
        rendering.request_stop(folder)
        return stopped_message(last) if last and not last.get("finished") else gr.skip()

    inputs = [page.project, page.analysis, page.audio.song, page.last_render]
    for button, fn, kind, resume in (
        (render.draft, render_draft, "draft", False),
        (render.final, render_final, "final", False),
        (render.resume, resume_render, None, True),
    ):
        checked = button.click(check(kind, resume), inputs, render.progress, **private())
        checked.success(fn, inputs, outputs, **private(concurrency_id="render",
                                                       concurrency_limit=limits.max_concurrent_renders))  # fmt: skip
    # Stop does not cancel the render event: cancelling let Gradio mark the progress box "Error"
    # now and then. The render sees the stop file after its current batch and ends by itself,
    # with the job on disk for Resume.
    render.stop.click(stop, page.last_render, render.progress, **private(queue=False))


def plot_score(score):
    from pipelines.plots import plot_sync

    return plot_sync(score)


def stopped_message(state: dict) -> str:
    return (
        f"⏹️ Stopped at {state['frames_done']} / {state['frames_total']} frames. "
        "**Resume** continues from the last finished chunk."
    )


def describe_progress(progress) -> str:
    done, total = progress.frames_done, progress.frames_total
    eta = "" if progress.eta is None else f" · about {_clock(progress.eta)} left"
    return f"**{done} / {total} frames** · {_clock(progress.elapsed)} elapsed{eta}"


def verdict(score) -> str:
    """The sync score in plain words: how many of the picture's jumps land on beats, and when."""
    hits = f"{score.precision:.0%} of the picture's jumps land on a beat, on {score.recall:.0%} of the beats"
    if score.f_measure >= 0.8:
        words = "It dances: the picture moves with the beat"
    elif score.f_measure >= 0.5:
        words = "It half dances: the picture often moves with the beat"
    else:
        words = "It barely follows the beat (a stronger pulse or more reactivity on the Motion tab helps)"
    late = f"{abs(score.offset_ms):.0f} ms {'after' if score.offset_ms > 0 else 'before'} the sound"
    timing = "in time with the sound" if abs(score.offset_ms) < 1000 / score.fps else f"about {late}"
    return f"{words}. {hits}, {timing}."


def describe_score(score) -> str:
    correlation = "–" if score.correlation is None else f"{score.correlation:.2f}"
    return (
        f"**{verdict(score)}**\n\n"
        f"Sync: F-measure {score.f_measure:.2f} (visual peaks on beats within ±1 frame; "
        f"precision {score.precision:.2f}, recall {score.recall:.2f}) · correlation with onset strength "
        f"{correlation} · best audio-visual offset {score.offset_ms:+.0f} ms · DTW distance {score.dtw_distance:.3f} · "
        f"AV-Align {score.av_align:.2f} (motion peaks on onsets)"
    )


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
