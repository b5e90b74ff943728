"""Running a live session from the command line: the source, the engine, the page, OSC, the end.

``python -m pipelines live SONG`` plays a song in real time (as a DJ's deck would, through this
machine's clock) and makes the visuals for it; ``--device`` listens to a sound card instead. The
page is served with uvicorn; the session ends at the song's end, after ``--seconds``, or on
Ctrl-C, and a recording (``--record``) is finished in every case.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
import sys
import threading
import time

from pipelines.errors import BeatwalkError
from pipelines.live.conductor import LiveSettings, clean_prompt
from pipelines.live.display import LiveSessions, routes, view_path


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise BeatwalkError(f"--serve must look like 127.0.0.1:8765, got {text!r}") from None
    if not 0 <= number < 65536:
        raise BeatwalkError(f"port must be 0–65535, got {number}")
    return host or "127.0.0.1", number


class PageServer:
    """The live routes served by uvicorn on a thread."""

    def __init__(self, sessions: LiveSessions, host: str, port: int):
        import uvicorn
        from starlette.applications import Starlette

        with socket.socket() as probe:  # uvicorn would only log a bind failure, from its thread
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise BeatwalkError(f"cannot serve the page on {host}:{port}: {exc.strerror or exc}") from None
            if port == 0:
                port = probe.getsockname()[1]
        self.host, self.port = host, port
        config = uvicorn.Config(Starlette(routes=routes(sessions)), host=host, port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="live-page", daemon=True)

    def start(self) -> PageServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self._server.started:
            raise BeatwalkError(f"the page server did not start on {self.host}:{self.port}")
        return self

    def url(self, path: str) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def run_cli(args, *, size: tuple[int, int] | None = None) -> int:
    """The ``live`` command: ``args`` from its parser, ``size`` its ``--size`` (None: the model's)."""
    from pipelines.diffusion.families import family_of
    from pipelines.diffusion.models import load_pipeline
    from pipelines.live.engine import LiveEngine
    from pipelines.live.sources import DeviceSource, FileSource

    # 1. Check everything cheap before loading a model
    if args.input is not None:
        if args.song is not None or args.device is not None:
            raise BeatwalkError("give one input: a song, --input or --device")
        if args.input.strip().lower() in ("mic", "microphone"):
            args.device = "default"
        else:
            args.song = Path(args.input)
    if (args.song is None) == (args.device is None):
        raise BeatwalkError("give a song to play live, or --device to listen to a sound card (one of the two)")
    prompts = [clean_prompt(p) for p in (args.prompt or ["an abstract painting, vivid colours"])]
    settings = LiveSettings(pulse=args.pulse, motion=args.motion, auto_bars=args.auto_bars, seed=args.seed).check()
    family = family_of(args.model)
    side = 64 if family.name == "tiny" else family.size
    width, height = size or (side, side)
    if args.seconds is not None and args.seconds <= 0:
        raise BeatwalkError(f"--seconds must be positive, got {args.seconds:g}")
    if args.record is not None:
        if args.record.suffix.lower() != ".mp4":
            raise BeatwalkError(f"--record writes an mp4, got {args.record.name}")
        if not args.record.resolve().parent.is_dir():
            raise BeatwalkError(f"cannot record to {args.record}: its folder does not exist")
    serve = None if args.serve.strip().lower() == "none" else parse_address(args.serve)
    if args.song is not None:
        if not args.song.is_file():
            raise BeatwalkError(f"song not found: {args.song}")
        source = FileSource(args.song, start=args.start)
    else:
        source = DeviceSource(None if args.device == "default" else _device(args.device))

    # 2. The model, the engine, the page, OSC
    pipe = load_pipeline(args.model)
    engine = LiveEngine(
        pipe, source, prompts, width=width, height=height, fps=args.fps, steps=args.steps,
        batch_size=args.batch_size, display_delay=args.display_delay, settings=settings, record=args.record,
    )  # fmt: skip
    sessions = LiveSessions(max_sessions=1)
    session = sessions.add(engine, audio=args.song.resolve() if args.song else None, audio_offset=args.start)
    page = PageServer(sessions, *serve).start() if serve else None
    osc = None
    try:
        if args.osc is not None:
            from pipelines.live.osc import OscControls

            osc = OscControls(engine.conductor, host=serve[0] if serve else "127.0.0.1", port=args.osc).start()
            print(f"osc: listening on udp {osc.host}:{osc.port} (/beatwalk/...)", file=sys.stderr)
        engine.start()
        if page is not None:
            print(f"view: {page.url(view_path(session.token))}", file=sys.stderr)
        # 3. Until the song ends, --seconds pass, Ctrl-C or a failure
        ends = args.seconds if args.seconds is not None else getattr(source, "duration", None)
        interrupted = False
        try:
            while not engine.wait(1.0):
                status = engine.status()
                print(f"\r{status['time']:7.1f} s  {status['message']:<44} {status['fps']:4.0f} fps  "
                      f"{status['size'][0]}x{status['size'][1]}", end="", file=sys.stderr, flush=True)  # fmt: skip
                if ends is not None and status["time"] >= ends:
                    break
        except KeyboardInterrupt:
            interrupted = True
        print(file=sys.stderr)
    finally:
        if osc is not None:
            osc.close()
        status = engine.status()
        recording = sessions.remove(session.token)
        if page is not None:
            page.close()
    if engine.error:
        raise BeatwalkError(f"the live session stopped: {engine.error}")
    summary = {k: status[k] for k in ("time", "bpm", "locked", "slots", "skipped", "late", "size")}
    summary["recording"] = str(recording) if recording else None
    print(json.dumps(summary))
    return 130 if interrupted else 0


def _device(text: str):
    return int(text) if text.isdigit() else text
