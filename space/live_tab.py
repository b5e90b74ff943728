"""Live tab: visuals made in real time from the song (played live) or a microphone.

The session runs in the server (:mod:`pipelines.live`); the tab starts and stops it, queues
prompts and turns the knobs. The pictures (and, for the song, its sound) come from the session's
own page, ``/live/{token}/view``, shown in the tab and openable full screen on a projector: an
MJPEG stream a browser shows without any plug-in.

The microphone streams to the server in blocks of 0.1 s (Gradio's streaming audio); the session
places its frames by when each block arrived, so the pictures follow the room's sound.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import gradio as gr

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from space.errors import user_errors
from space.page import Page, private

SONG, MIC = "The song (Audio tab), played live", "Microphone"
IDLE = "Press **Start**. The song plays from the page below (click it to hear it); with the microphone, press its record button after Start."
_BY_BROWSER: dict[str, str] = {}  # session hash -> live token, so that closing the page ends its session
_LOCK = threading.Lock()


@dataclass
class LiveTab:
    source: gr.Radio
    mic: gr.Audio
    prompts: gr.Textbox
    pulse: gr.Slider
    motion: gr.Slider
    record: gr.Checkbox
    start: gr.Button
    stop: gr.Button
    next: gr.Button
    freeze: gr.Checkbox
    add: gr.Textbox
    status: gr.Markdown
    screen: gr.HTML
    recording: gr.File
    token: gr.State
    timer: gr.Timer


def build(limits: Limits) -> LiveTab:
    seconds = f" (a session lasts up to {limits.max_live_seconds:g} s here)" if limits.max_live_seconds else ""
    gr.Markdown(
        "Visuals made **as the music plays**: the beat is tracked live and the pictures pulse on the beats "
        f"predicted ahead, changing prompt on a downbeat{seconds}. Keys on the picture: space next prompt, "
        "f freeze, h hide the overlay, enter full screen."
    )
    with gr.Row():
        source = gr.Radio([SONG, MIC], value=SONG, label="Listen to", elem_id="live-source")
        mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone", visible=False,
                       elem_id="live-mic")  # fmt: skip
    prompts = gr.Textbox(
        label="Prompts, one per line (the first shows first; the others follow, one every 8 bars or on Next)",
        lines=3, placeholder="empty: the project's keyframe prompts", elem_id="live-prompts",
    )  # fmt: skip
    with gr.Row():
        pulse = gr.Slider(0, 1, value=0.5, step=0.05, label="Pulse on the beat", elem_id="live-pulse")
        motion = gr.Slider(0, 1, value=0.5, step=0.05, label="Drift", elem_id="live-motion")
        record = gr.Checkbox(False, label="Record the session (mp4 after Stop)", elem_id="live-record")
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="live-start")
        stop = gr.Button("Stop", variant="stop", elem_id="live-stop")
        next_ = gr.Button("Next prompt", elem_id="live-next")
        freeze = gr.Checkbox(False, label="Freeze", elem_id="live-freeze")
    add = gr.Textbox(label="Queue a prompt (Enter)", elem_id="live-add")
    status = gr.Markdown(IDLE, elem_id="live-status")
    screen = gr.HTML("", elem_id="live-screen")
    recording = gr.File(label="Recording", visible=False, elem_id="live-recording")
    return LiveTab(source, mic, prompts, pulse, motion, record, start, stop, next_, freeze, add, status, screen,
                   recording, gr.State(None), gr.Timer(1.0, active=False))  # fmt: skip


def wire(page: Page, limits: Limits) -> None:
    from pipelines.live.display import SESSIONS

    tab: LiveTab = page.live
    tab.source.change(lambda s: gr.Audio(visible=s == MIC), tab.source, tab.mic, **private())

    @user_errors
    def start(source, song, seg_start, prompts, pulse, motion, record, token, project_json, model,
              request: gr.Request):  # fmt: skip
        if token and SESSIONS.get(token) is not None:
            raise BeatwalkError("a live session is running: Stop it first")
        engine, audio, offset = start_session(
            source, song, seg_start, prompts, pulse, motion, record, project_json, model, limits, request
        )
        try:
            session = SESSIONS.add(engine, audio=audio, audio_offset=offset)
        except BaseException:
            engine.stop()
            raise
        engine.start()
        with _LOCK:
            _BY_BROWSER[request.session_hash] = session.token
        return {tab.token: session.token, tab.screen: screen_html(session.token), tab.timer: gr.Timer(active=True),
                tab.status: "starting…", tab.recording: gr.File(value=None, visible=False)}  # fmt: skip

    tab.start.click(
        start,
        [tab.source, page.audio.song, page.audio.start, tab.prompts, tab.pulse, tab.motion, tab.record, tab.token,
         page.project, page.motion.controls["model"]],
        {tab.token, tab.screen, tab.timer, tab.status, tab.recording},
        **private(concurrency_limit=None),
    )  # fmt: skip

    def stop(token):
        recording = SESSIONS.remove(token) if token else None
        return {tab.token: None, tab.timer: gr.Timer(active=False), tab.screen: "",
                tab.status: "stopped" + (": the recording is below" if recording else ""),
                tab.recording: gr.File(value=str(recording), visible=True) if recording else gr.File(visible=False)}  # fmt: skip

    tab.stop.click(stop, tab.token, {tab.token, tab.timer, tab.screen, tab.status, tab.recording},
                   **private(concurrency_limit=None))  # fmt: skip

    def tick(token):
        session = SESSIONS.get(token) if token else None
        if session is None:
            return {tab.timer: gr.Timer(active=False), tab.status: "stopped"}
        status = session.engine.status()
        line = status_line(status)
        if status["message"].startswith("no sound yet") and session.audio is None:
            line += "  \n*Press the microphone's record button, and let the browser use the microphone.*"
        if not status["running"]:  # ended by itself: its time limit, the song's end, a failure
            return stop(token) | {tab.status: line}
        return {tab.status: line}

    tab.timer.tick(tick, tab.token, {tab.token, tab.timer, tab.screen, tab.status, tab.recording},
                   **private(concurrency_limit=None, show_progress="hidden"))  # fmt: skip

    def control(action, value_of=lambda *a: a[-1]):
        @user_errors
        def handler(token, *args):
            from pipelines.live import controls

            session = SESSIONS.get(token) if token else None
            if session is None:
                if action in ("pulse", "motion", "freeze"):
                    return gr.skip()  # set before Start: read at Start
                raise BeatwalkError("no live session: press Start first")
            controls.apply(session.engine.conductor, action, value_of(*args) if args else None)
            return status_line(session.engine.status())

        return handler

    tab.next.click(control("next"), tab.token, tab.status, **private(concurrency_limit=None))
    tab.freeze.change(control("freeze"), [tab.token, tab.freeze], tab.status, **private(concurrency_limit=None))
    tab.pulse.release(control("pulse"), [tab.token, tab.pulse], tab.status, **private(concurrency_limit=None))
    tab.motion.release(control("motion"), [tab.token, tab.motion], tab.status, **private(concurrency_limit=None))
    tab.add.submit(control("prompt"), [tab.token, tab.add], tab.status, **private(concurrency_limit=None)).success(
        lambda: "", None, tab.add, **private()
    )

    def hear(token, chunk):
        from pipelines.live.sources import PushSource

        session = SESSIONS.get(token) if token else None
        if session is None or chunk is None or not isinstance(session.engine.source, PushSource):
            return
        rate, samples = chunk
        try:
            session.engine.source.push(samples, int(rate))
        except BeatwalkError:
            return  # a block the tracker cannot read is dropped; the status line shows the silence

    tab.mic.stream(hear, [tab.token, tab.mic], None, stream_every=0.1,
                   time_limit=int(limits.max_live_seconds) if limits.max_live_seconds else None,
                   **private(concurrency_limit=None, show_progress="hidden"))  # fmt: skip


def start_session(source, song, seg_start, prompts, pulse, motion, record, project_json, model, limits, request):
    """A live engine (not started yet) for the tab's settings, with the song to play (or None) and
    where in it the session begins."""
    from pipelines.diffusion.families import check_offered, family_of
    from pipelines.live.conductor import LiveSettings
    from pipelines.live.engine import LiveEngine
    from pipelines.live.sources import FileSource, PushSource
    from space import gpu
    from space.motion_tab import fresh_render
    from space.session import session_dir

    if gpu.on_zero_gpu():
        raise BeatwalkError(
            "live visuals hold a GPU for the whole session, which ZeroGPU does not lend: duplicate this Space "
            "onto a dedicated GPU (or run python -m pipelines live)"
        )
    check_offered(model)
    texts = [line for line in (prompts or "").splitlines() if line.strip()]
    if not texts and project_json:
        from pipelines.project import Project

        texts = [k.prompt for k in Project.from_json(project_json).keyframes]
    if not texts:
        raise BeatwalkError("write a prompt (one per line), or make keyframes on the Keys tab")
    settings = LiveSettings(pulse=float(pulse), motion=float(motion)).check()
    if source == SONG:
        if not song:
            raise BeatwalkError("upload a song on the Audio tab first (or listen to the microphone)")
        offset = float(seg_start or 0.0)
        player, audio = FileSource(song, start=offset, max_seconds=limits.max_song_seconds), song
    elif source == MIC:
        player, audio, offset = PushSource(latency=0.05), None, 0.0
    else:
        raise BeatwalkError(f"listen to {SONG!r} or {MIC!r}")
    if family_of(model).name == "tiny":
        width = height = 64
    else:
        render = fresh_render(model, limits)
        width, height = render.width, render.height
    pipe = gpu.pipeline_for(fresh_render(model, limits))
    path = session_dir(request) / "live.mp4" if record else None
    engine = LiveEngine(pipe, player, texts, width=width, height=height, fps=24, settings=settings, record=path,
                        time_limit=limits.max_live_seconds)  # fmt: skip
    return engine, audio, offset


def screen_html(token: str) -> str:
    from pipelines.live.display import view_path

    url = view_path(token)
    return (
        f'<iframe src="{url}" title="live pictures" allow="autoplay; fullscreen" '
        'style="width:100%;aspect-ratio:16/9;border:0;background:#000"></iframe>'
        f'<p><a href="{url}" target="_blank" rel="noopener">Open full screen ↗</a> (for a projector or a '
        "second screen; the link steers this session)</p>"
    )


def status_line(status: dict) -> str:
    line = (f"**{status['message']}** · beat {status['beat_in_bar']}/{status['meter']} · {status['fps']:.0f} of "
            f"{status['target_fps']:g} fps · planned {status['horizon_ms']} ms ahead · {status['size'][0]}×{status['size'][1]}")  # fmt: skip
    queue = status["queue"]
    return line + f"  \nnow: *{status['prompt']}*" + (f" · next: *{queue[0]}*" if queue else "")


def end_live(request: gr.Request) -> None:
    """Stop the session of a page that was closed (``demo.unload``)."""
    from pipelines.live.display import SESSIONS

    with _LOCK:
        token = _BY_BROWSER.pop(getattr(request, "session_hash", None) or "", None)
    if token:
        SESSIONS.remove(token)
