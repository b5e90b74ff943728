"""The named API: every step as an endpoint that takes and returns plain values.

Files go in and out as files (``gradio_client.handle_file``), projects and analyses as JSON
strings, so a script can chain the steps::

    song = handle_file("song.mp3")
    analysis = client.predict(song=song, start=0, end=30, api_name="/analyze")
    project = client.predict(analysis_json=analysis, prompts="a forest\\na city", start=0, end=30,
                             api_name="/propose_keyframes")
    progress, video, project, score = client.predict(song=song, project_json=project, api_name="/render")

A song can be composed first (``/compose``: words in, audio files out, the composition's settings
as JSON), then analysed like any upload. A render can be stopped from the same client (``client.predict(api_name="/stop")`` while a
``client.submit(..., api_name="/render")`` job runs) and continued with ``resume=True``.

The endpoints live on hidden components and have no trigger in the page; the page's own events
are private and keep their state in ``gr.State``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.music.tempo_range import TEMPO_RANGE
from space import audio_tab, composing, gpu, motion_tab, rendering
from space.errors import user_errors
from space.page import parse
from space.render_tab import describe_progress
from space.session import session_dir


def build(limits: Limits) -> None:
    """Add the endpoints to the Blocks being built."""
    from pipelines.admission import admit_preview, from_stranger, sign_analysis, verified_analysis
    from pipelines.plan.edits import split_prompts
    from pipelines.project import NO_SONG

    model, _ = gpu.default_model()
    # Analyses go out signed and come back checked: plans are made only on the server's own.
    key = os.environ.get("BEATWALK_SECRET", "").encode() or secrets.token_bytes(32)

    @user_errors
    def analyze(song, start, end, slowest_bpm, fastest_bpm) -> str:
        """Analyse a song segment: tempo, beats, downbeats, onsets, sections, energy (JSON).

        ``start``, ``end``: the segment, seconds; ``end`` 0: to the end of the song.
        ``slowest_bpm``, ``fastest_bpm``: the tempo range the beats may follow (45-230); a project
        proposed from this analysis keeps it.
        """
        _, result = audio_tab.read_song(
            song, start, end, limits=limits, tempo_range=(slowest_bpm, fastest_bpm)
        )
        return json.dumps(sign_analysis(result.to_dict(), key))

    @user_errors
    def suggest_prompts(song, start, end, theme, engine, seed) -> str:
        """The song described and a prompt idea per section (JSON: description, suggestions).

        ``theme``: optional ("a journey through space"); ``engine``: "composer" (no weights) or
        "model" (this server's local language model; the composer where it cannot load, said in
        ``suggestions.notes``).
        """
        from pipelines.ideas.suggest import suggest_prompts as suggest
        from pipelines.music.tagging import describe_with_tags

        audio, result = audio_tab.read_song(song, start, end, limits=limits)
        description, tagger_note = describe_with_tags(audio, result, os.environ.get("BEATWALK_TAGGER"))
        suggestions = suggest(
            description, theme=theme, engine=engine or "composer", seed=int(seed or 0),
            model=os.environ.get("BEATWALK_IDEAS_MODEL") or None, local_only=True,
        )  # fmt: skip
        if tagger_note:
            suggestions.notes.insert(0, tagger_note)
        return json.dumps({"description": description.to_dict(), "suggestions": suggestions.to_dict()})

    @user_errors
    def propose_keyframes(analysis_json, prompts, start, end, seed, negative_prompt, every) -> str:
        """A new project (JSON): keyframes from prompts (one per line) spread over the song.

        ``every``: bars between keyframes; 0: on the song's sections.
        """
        from pipelines.plan.keyframes import propose_project

        result = verified_analysis(_json(analysis_json, "analysis"), key)
        start, end = audio_tab.segment(start, end)
        project = propose_project(
            NO_SONG, result, split_prompts(prompts), start=start, end=end, seed=int(seed or 0),
            negative_prompt=negative_prompt or "", every=int(every) if every else None,
            render=motion_tab.fresh_render(model, limits),
        )  # fmt: skip
        return project.to_json()

    @user_errors
    def plan(analysis_json, project_json) -> str:
        """The frame plan (JSON): for every frame, its two keyframes, the position t, pulse and cuts, and
        the camera's motion and the walk's pose per frame."""
        from pipelines.plan.camera import plan_camera
        from pipelines.plan.timeline import plan_frames

        result, project = verified_analysis(_json(analysis_json, "analysis"), key), parse(project_json)
        limits.check_plan(duration=result.duration, fps=project.render.fps, keyframes=len(project.keyframes))
        return json.dumps(plan_frames(project, result).to_dict() | {"camera": plan_camera(project, result).to_dict()})

    @user_errors
    def preview_keyframe(project_json, index):
        """The still of keyframe `index` (0-based) of a project, as an image."""
        project = from_stranger(parse(project_json), song=None)
        admit_preview(project, limits=limits)
        return gpu.preview_still(project.to_json(), int(index or 0))

    @user_errors
    def render(song, project_json, draft, resume, request: gr.Request):
        """Render a project on a song: (progress, mp4 with the song, project JSON, sync score JSON).

        ``draft``: low resolution, same timing; ``resume``: continue this session's stopped render.
        """
        project = parse(project_json)
        # The song is analysed here: an analysis sent by the client is never trusted.
        _, result = audio_tab.read_song(
            song, project.audio.start, project.audio.end, limits=limits, tempo_range=project.audio.tempo_range
        )
        steps = rendering.render_in_session(
            project, result, song=song, folder=session_dir(request), kind="draft" if draft else "final",
            resume=bool(resume), limits=limits,
        )  # fmt: skip
        with contextlib.closing(steps):
            for step in steps:
                if step.score is not None:
                    figures = step.score.to_dict() | {
                        "video": Path(step.video).name
                    }  # no server paths in answers
                    exported = step.project_file.read_text(encoding="utf-8")
                    yield f"done: {step.frames_total} frames", step.video, exported, json.dumps(figures)
                elif step.stopped:
                    yield f"stopped at {step.frames_done} frames: call again with resume", None, None, None
                elif step.progress is not None and step.video is None:
                    yield describe_progress(step.progress).replace("**", ""), None, None, None

    @user_errors
    def compose(prompt, seconds, variations, model, seed, guidance, temperature, top_k, melody, request: gr.Request):
        """Compose songs from words (MusicGen): (progress, the first song, every song, composition JSON).

        ``seconds``: length (longer than the model's 30 s by continuation); ``variations``: songs with
        seeds ``seed``, ``seed + 1``, ...; ``model``: "tiny" (offline, noise), "facebook/musicgen-small",
        "-medium" or "-melody" (weights CC BY-NC 4.0); ``melody``: optional tune to follow (melody
        models). ``/stop`` stops it, keeping the finished songs.
        """
        from space.compose_panel import settings_of

        settings = settings_of(prompt, seconds, model or "tiny", seed, guidance, temperature, top_k)
        steps = composing.compose_in_session(
            settings, session_dir(request), variations=int(variations or 1), melody=melody or None, limits=limits
        )
        with contextlib.closing(steps):
            for step in steps:
                line = composing.describe(step).replace("**", "")
                if not (step.finished or step.stopped):
                    yield line, None, None, None
                    continue
                recorded = None
                if step.paths:
                    from pipelines.music.compose import read_composition

                    recorded = read_composition(step.paths[0]).model_dump_json()
                yield line, (step.paths or [None])[0], list(step.paths) or None, recorded
                return

    @user_errors
    def stop(request: gr.Request) -> str:
        """Stop this session's running render after its current batch (``/render`` with resume continues
        it), or its composition (the finished songs are kept)."""
        folder = session_dir(request)
        if composing.composing(folder):
            composing.request_stop(folder)
            return "stopping the composition: the finished songs are kept"
        if not rendering.running(folder):
            return "no render is running in this session"
        rendering.request_stop(folder)
        return "stopping after the current batch: call /render with resume=True to continue"

    @user_errors
    def score(video, song) -> str:
        """How well a video's visual change lands on the beats (JSON).

        ``song``: optional; by default the video's own soundtrack.
        """
        from pipelines.score.sync import score_video

        if not video:
            raise BeatwalkError("give the video to score")
        scored = score_video(video, song=song or None, sidecar=False, max_seconds=limits.max_song_seconds)
        return json.dumps(scored.to_dict() | {"video": Path(video).name})

    with gr.Column(visible=False):
        song = gr.File(label="song", type="filepath")
        video_in = gr.File(label="video", type="filepath")
        start = gr.Number(0, label="start")
        end = gr.Number(0, label="end")  # 0: to the end of the song
        slowest_bpm = gr.Number(TEMPO_RANGE[0], label="slowest_bpm")
        fastest_bpm = gr.Number(TEMPO_RANGE[1], label="fastest_bpm")
        analysis_json = gr.Textbox(label="analysis_json")
        project_json = gr.Textbox(label="project_json")
        prompts = gr.Textbox(label="prompts")
        seed = gr.Number(0, precision=0, label="seed")
        negative_prompt = gr.Textbox("", label="negative_prompt")
        every = gr.Number(0, precision=0, label="every")  # 0: on sections
        theme = gr.Textbox("", label="theme")
        engine = gr.Textbox("composer", label="engine")
        ideas_out = gr.Textbox(label="ideas_json")
        index = gr.Number(0, precision=0, label="index")
        draft = gr.Checkbox(False, label="draft")
        resume = gr.Checkbox(False, label="resume")
        progress_out = gr.Textbox(label="progress")
        analysis_out = gr.Textbox(label="analysis_json")
        project_out = gr.Textbox(label="project_json")
        plan_out = gr.Textbox(label="plan_json")
        score_out = gr.Textbox(label="score_json")
        image_out = gr.Image(type="pil", label="still")
        video_out = gr.Video(label="video")
        prompt = gr.Textbox(label="prompt")
        seconds = gr.Number(30, label="seconds")
        variations = gr.Number(1, precision=0, label="variations")
        music_model = gr.Textbox("tiny", label="model")
        guidance = gr.Number(3.0, label="guidance")
        temperature = gr.Number(1.0, label="temperature")
        top_k = gr.Number(250, precision=0, label="top_k")
        melody = gr.File(label="melody", type="filepath")
        song_out = gr.File(label="song")
        songs_out = gr.File(label="songs", file_count="multiple")
        composition_out = gr.Textbox(label="composition_json")

    def endpoint(fn, inputs, outputs, **kwargs):
        gr.on([], fn, inputs, outputs, api_name=fn.__name__, api_description=_first_line(fn), **kwargs)

    endpoint(analyze, [song, start, end, slowest_bpm, fastest_bpm], analysis_out)
    endpoint(suggest_prompts, [song, start, end, theme, engine, seed], ideas_out)
    endpoint(
        propose_keyframes, [analysis_json, prompts, start, end, seed, negative_prompt, every], project_out
    )
    endpoint(plan, [analysis_json, project_json], plan_out)
    endpoint(
        preview_keyframe, [project_json, index], image_out,
        concurrency_id="preview", concurrency_limit=limits.max_concurrent_renders,
    )  # fmt: skip
    endpoint(
        render, [song, project_json, draft, resume], [progress_out, video_out, project_out, score_out],
        concurrency_id="render", concurrency_limit=limits.max_concurrent_renders,
    )  # fmt: skip
    endpoint(
        compose, [prompt, seconds, variations, music_model, seed, guidance, temperature, top_k, melody],
        [progress_out, song_out, songs_out, composition_out],
        concurrency_id="render", concurrency_limit=limits.max_concurrent_renders,
    )  # fmt: skip
    # Not queued: it must reach the server while this session's render holds the queue.
    endpoint(stop, [], progress_out, queue=False)
    endpoint(score, [video_in, song], score_out)


def _json(text: str | None, what: str) -> dict:
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise BeatwalkError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BeatwalkError(f"{what} is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise BeatwalkError(f"{what} must be a JSON object")
    return data


def _first_line(fn) -> str | None:
    return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else None
