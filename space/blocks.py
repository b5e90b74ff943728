"""The Beatwalk Space: four tabs over one project, a Live tab, and a named API.

Each tab module builds its components (``build``) and wires its events (``wire``); the project
and the song's analysis they share are on the :class:`~space.page.Page`. Handlers are thin: they
call the functions of ``pipelines`` and turn bad input into one-line ``gr.Error``s.
"""

from __future__ import annotations

import os

from space import gpu  # first: `import spaces` must precede torch

# isort: split

import gradio as gr

from pipelines.limits import Limits
from pipelines.live.display import SESSIONS
from pipelines.live.display import routes as live_routes
from space import api, audio_tab, keyframes_tab, live_tab, motion_tab, render_tab
from space.page import Page
from space.session import end_session, sessions_root

TITLE = "Beatwalk"
INTRO = "## 🥁 Beatwalk · a music video that dances to your song"
ABOUT = (
    "Prompts become keyframes on the song's timeline, and the latent walk between them speeds up with the "
    "music and pulses on the beats. **1** Audio → **2** Keyframes → **3** Motion → **4** Render; or **Live**: "
    "visuals made as the music plays, for a screen or a projector. Every step is also an API endpoint (see *Use "
    "via API* at the bottom)."
)
# On a phone every tab keeps a button of its own (Gradio folds those that do not fit behind "•••").
CSS = """
#page-tabs .tab-container > button { padding: 6px 8px; min-width: 0; }
/* On a phone the wide plots keep a readable size and scroll sideways. */
@media (max-width: 640px) {
  #page-tabs .tab-container > button { padding: 6px 4px; font-size: 13px; }
  .wide-plot { overflow-x: auto; }
  .wide-plot img { min-width: 760px; max-width: none; }
}
"""
TABS = (audio_tab, keyframes_tab, motion_tab, render_tab, live_tab)


def build_demo(limits: Limits | None = None) -> gr.Blocks:
    """The whole app; ``limits`` default to ``Limits.from_env()``."""
    limits = Limits.from_env() if limits is None else limits
    model, banner = gpu.default_model()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Accordion("How it works", open=False):
            gr.Markdown(ABOUT)
        if banner:
            gr.Markdown(banner, elem_id="banner")
        # The project, the analysis, the last render, a note; the project kept in the browser too.
        states = gr.State(None), gr.State(None), gr.State(None), gr.State("")
        saved = gr.BrowserState(None, storage_key="beatwalk-project", secret=os.environ.get("BEATWALK_SECRET") or None)
        with gr.Tabs(elem_id="page-tabs"):
            with gr.Tab("1 Audio", elem_id="tab-audio"):
                audio = audio_tab.build(limits)
            with gr.Tab("2 Keys", elem_id="tab-keyframes"):
                keys = keyframes_tab.build()
            with gr.Tab("3 Motion", elem_id="tab-motion"):
                motion = motion_tab.build(limits, model=model)
            with gr.Tab("4 Render", elem_id="tab-render"):
                render = render_tab.build()
            with gr.Tab("Live", elem_id="tab-live"):
                live = live_tab.build(limits)
        # The API first: it takes the endpoint names, which the page's private events would otherwise take.
        api.build(limits)
        page = Page(*states, saved, audio=audio, keys=keys, motion=motion, render=render, description=gr.State(None),
                    live=live)  # fmt: skip
        for tab in TABS:
            tab.wire(page, limits)
        keyframes_tab.restore(page, demo, limits)
        demo.unload(end_session)
        demo.unload(live_tab.end_live)
    SESSIONS.max_sessions = limits.max_live_sessions
    demo.queue(default_concurrency_limit=2)
    return demo


def launch_options(limits: Limits | None = None) -> dict:
    """``demo.launch`` arguments that enforce the limits (upload size)."""
    limits = Limits.from_env() if limits is None else limits
    options = {
        "max_file_size": None if limits.max_upload_mb is None else f"{limits.max_upload_mb:g}mb",
        "css": CSS,
        # The live sessions' pages and streams (pipelines.live.display), served beside the app.
        "app_kwargs": {"routes": live_routes(SESSIONS)},
    }
    if os.environ.get("BEATWALK_SESSIONS_DIR"):
        # Gradio copies outputs from the temp dir on its own; a configured root may lie elsewhere.
        options["allowed_paths"] = [str(sessions_root())]
    return options
