"""The page's shared parts: the project and analysis every tab edits, and the tabs' components.

The project (``pipelines.project.Project``) is the single source of truth: it lives as JSON in a
``gr.State``, every tab's action takes it and returns a new one, and the views (keyframe table,
frame-plan plot) are redrawn from it. The song's analysis lives beside it
(``Analysis.to_dict()``), so nothing is analysed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.project import Project


@dataclass
class Page:
    """Every component a handler may read or write, by tab."""

    project: gr.State  # Project JSON, or None before a song is analysed
    analysis: gr.State  # Analysis.to_dict(), or None
    last_render: gr.State  # {"kind", "project", "frames_done", "frames_total", "finished"}, or None
    notice: gr.State  # a line for the Keyframes tab, written there after an event of another tab
    saved: gr.BrowserState  # the project JSON, kept in the browser across page reloads
    audio: object  # audio_tab.AudioTab
    keys: object  # keyframes_tab.KeyframesTab
    motion: object  # motion_tab.MotionTab
    render: object  # render_tab.RenderTab
    description: gr.State = None  # SongDescription.to_dict() of the analysed song, or None
    live: object = None  # live_tab.LiveTab


def parse(project_json: str | None) -> Project:
    """The project from its JSON state; before any song is analysed there is none."""
    if not project_json:
        raise BeatwalkError("analyse a song first (Audio tab)")
    return Project.from_json(project_json)


def analysis_of(analysis_dict: dict | None):
    """The song's analysis from its state; before a song is analysed (or after another is
    uploaded) there is none."""
    if not analysis_dict:
        raise BeatwalkError("analyse a song first (Audio tab)")
    from pipelines.music.analysis import Analysis

    return Analysis.from_dict(analysis_dict)


def private(**kwargs) -> dict:
    """Options of a page event: not part of the named API."""
    return {"api_visibility": "private", **kwargs}


def unchanged(component) -> dict:
    """A handler's answer that changes nothing (an empty dict would be taken for one value)."""
    return {component: gr.skip()}
