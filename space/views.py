"""Views of the project, redrawn after every change: the keyframe table and choices, the frame plan."""

from __future__ import annotations

import gradio as gr

from pipelines.admission import check_costs, for_download
from pipelines.diffusion.families import TINY_MODELS, estimate_seconds
from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.plan.edits import keyframe_rows
from space.errors import user_errors
from space.page import Page, parse, private


def redraw(event, page: Page, limits: Limits, *, table: bool = True):
    """Chain the views after an event that changed the project (``table=False``: the table itself
    was the edit, so it is not rewritten under the person's cursor)."""

    def show_table(project_json):
        return keyframe_rows(parse(project_json) if project_json else None)

    @user_errors
    def show_timeline(project_json, analysis_dict):
        if not project_json or not analysis_dict:
            return None
        from pipelines.music.analysis import Analysis
        from pipelines.plots import plot_keyframes

        return plot_keyframes(parse(project_json), Analysis.from_dict(analysis_dict))

    def show_choices(project_json, chosen):
        choices = keyframe_choices(parse(project_json)) if project_json else []
        keep = chosen is not None and 0 <= int(chosen) < len(choices)
        return gr.update(choices=choices, value=int(chosen) if keep else (choices[0][1] if choices else None))

    @user_errors
    def show_plan(project_json, analysis_dict):
        if not project_json or not analysis_dict:
            return {page.motion.summary: "Analyse a song first (Audio tab)."}
        from pipelines.music.analysis import Analysis

        figure, line = plan_view(parse(project_json), Analysis.from_dict(analysis_dict), limits=limits)
        return {page.motion.plot: figure, page.motion.summary: line}

    def kept_in_browser(project_json):
        """The copy the browser keeps: no server path in it (the song and pictures by name)."""
        if not project_json:
            return project_json
        project = parse(project_json)
        return for_download(project, song=project.audio.path).to_json()

    keys = page.keys
    event = event.success(kept_in_browser, page.project, page.saved, **private())
    if table:
        event = event.success(show_table, page.project, keys.table, **private())
    event = event.success(show_choices, [page.project, keys.chosen], keys.chosen, **private())
    event = event.success(show_timeline, [page.project, page.analysis], keys.timeline, **private())
    return event.success(
        show_plan, [page.project, page.analysis], {page.motion.plot, page.motion.summary}, **private()
    )


def keyframe_choices(project) -> list[tuple[str, int]]:
    """The keyframe dropdown's entries: ``"1 · 0 s · prompt"`` and the keyframe's index."""
    return [(f"{i + 1} · {k.time:g} s · {_shorten(k.prompt)}", i) for i, k in enumerate(project.keyframes)]


def plan_view(project, analysis, *, limits: Limits):
    """The frame plan's figure and a summary line (frames, GPU time, any limit exceeded)."""
    from pipelines.plan.camera import plan_camera, preset_of
    from pipelines.plan.timeline import plan_frames
    from pipelines.plots import plot_frame_plan

    frame_plan = plan_frames(project, analysis)
    camera = plan_camera(project, analysis)
    render = project.render
    seconds = estimate_seconds(
        render, frame_plan.n_frames, keyframes=len(project.keyframes), feedback=project.feedback
    )
    line = (
        f"**{frame_plan.n_frames} frames** ({analysis.duration:.1f} s at {render.fps:g} fps, "
        f"{render.width}×{render.height}, {render.steps} step{'s' * (render.steps > 1)}, model `{render.model}`) · "
        f"about {_duration(seconds)} on {'this machine' if render.model in TINY_MODELS else 'a GPU'}"
    )
    if camera.moves or render.renderer == "feedback":
        named = preset_of(project.camera.model_copy(update={"border": "reflect"}))
        line += f" · camera {named or 'custom'}{' (and keyframes’ own)' if any(k.camera for k in project.keyframes) else ''}"
        line += f" · {render.renderer} renderer"
    try:
        check_costs(project, duration=analysis.duration, limits=limits)
    except BeatwalkError as exc:
        line += f"\n\n⚠️ The render will be refused: {exc}"
    return plot_frame_plan(frame_plan, analysis, camera=camera), line


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _shorten(text: str, length: int = 40) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
