"""The full-screen page of a live session and its HTTP routes (Starlette, no Gradio).

Frames go out as MJPEG (``multipart/x-mixed-replace``): every browser shows it in a plain
``<img>``, a projector laptop or OBS's browser source needs nothing installed, and each frame is
independent, so a slow viewer skips frames instead of falling behind (a WebRTC or HLS stream
would buffer, adding latency the beat cannot afford). The same routes are served by the CLI
(uvicorn) and mounted on the Space's own server.

Routes, under ``/live/{token}`` (the token is the session's secret: whoever has the link sees
and steers it):

- ``view``: the page: the frames filling the screen, an overlay (tempo, beat, fps, how far
  ahead frames are planned), keys (space/→ next prompt, f freeze, h hide the overlay, enter
  full screen), and for a song played from a file the song itself, in step with the session;
- ``frames.mjpg``: the stream; ``frame.jpg``: the frame on screen now;
- ``status``: the engine's status (JSON);
- ``control`` (POST JSON ``{"action": ..., "value": ...}``, see :mod:`pipelines.live.controls`);
- ``audio``: the song a file session plays.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import BeatwalkError
from pipelines.live import controls

PREFIX = "/live"
JPEG_QUALITY = 85


@dataclass
class LiveSession:
    engine: object  # pipelines.live.engine.LiveEngine
    token: str
    audio: Path | None = None  # the song, for the page to play (file sources)
    audio_offset: float = 0.0  # where in the song the session's audio time 0 is


class LiveSessions:
    """The sessions a server runs, by token; at most ``max_sessions`` at once (None: no limit)."""

    def __init__(self, max_sessions: int | None = 1):
        self.max_sessions = max_sessions
        self._sessions: dict[str, LiveSession] = {}
        self._lock = threading.Lock()

    def add(self, engine, *, audio: Path | None = None, audio_offset: float = 0.0) -> LiveSession:
        with self._lock:
            ended = [self._sessions.pop(t) for t, s in list(self._sessions.items()) if s.engine.ended]
            full = self.max_sessions is not None and len(self._sessions) >= self.max_sessions
            if not full:
                session = LiveSession(engine, secrets.token_urlsafe(12), audio, audio_offset)
                self._sessions[session.token] = session
        for gone in ended:  # ended by themselves (a time limit, an error) and never removed: tidy up
            gone.engine.stop()
        if full:
            raise BeatwalkError(
                f"this server runs {self.max_sessions} live session(s) at once and all are taken: try again "
                "later, or duplicate the Space (BEATWALK_MAX_LIVE_SESSIONS lifts the limit)"
            )
        return session

    def get(self, token: str) -> LiveSession | None:
        with self._lock:
            return self._sessions.get(token)

    def remove(self, token: str):
        """Stop a session and forget it; the recording's path if it made one."""
        with self._lock:
            session = self._sessions.pop(token, None)
        return session.engine.stop() if session is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


SESSIONS = LiveSessions(max_sessions=None)
"""The process's sessions (the Space sets its limit from BEATWALK_MAX_LIVE_SESSIONS)."""


def view_path(token: str) -> str:
    return f"{PREFIX}/{token}/view"


def routes(sessions: LiveSessions = SESSIONS) -> list:
    """Starlette routes of every session in ``sessions``."""
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    def find(request) -> LiveSession:
        session = sessions.get(request.path_params["token"])
        if session is None:
            raise _NotFound()
        return session

    def handler(fn):
        async def handle(request):
            try:
                return await fn(request, find(request))
            except _NotFound:
                return JSONResponse({"error": "no such live session (it has ended, or the link is wrong)"}, 404)
            except BeatwalkError as exc:
                return JSONResponse({"error": str(exc)}, 400)

        return handle

    async def view(request, session):
        return HTMLResponse(page_html(session))

    async def status(request, session):
        return JSONResponse(session.engine.status(), headers={"Cache-Control": "no-store"})

    async def frame(request, session):
        got = session.engine.frame_now()
        if got is None:
            return JSONResponse({"error": "no frame yet"}, 503)
        return Response(jpeg(got[1]), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def stream(request, session):
        engine = session.engine

        async def parts():
            shown = None
            while engine.running or shown is None:
                if await request.is_disconnected():
                    return
                got = engine.frame_now()
                if got is not None and got[0] != shown:
                    shown = got[0]
                    data = jpeg(got[1])
                    yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(data), data)
                await asyncio.sleep(0.5 / engine.fps)

        return StreamingResponse(parts(), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def control(request, session):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise BeatwalkError("a control is JSON: {\"action\": ..., \"value\": ...}") from None
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            raise BeatwalkError("a control is JSON: {\"action\": ..., \"value\": ...}")
        controls.apply(session.engine.conductor, body["action"], body.get("value"), next_up=bool(body.get("next_up")))
        return JSONResponse(session.engine.status())

    async def audio(request, session):
        if session.audio is None:
            return JSONResponse({"error": "this session listens live: there is no song to play"}, 404)
        return FileResponse(session.audio)

    base = PREFIX + "/{token}/"
    return [
        Route(base + "view", handler(view)),
        Route(base + "status", handler(status)),
        Route(base + "frame.jpg", handler(frame)),
        Route(base + "frames.mjpg", handler(stream)),
        Route(base + "control", handler(control), methods=["POST"]),
        Route(base + "audio", handler(audio)),
    ]


class _NotFound(Exception):
    pass


def jpeg(frame) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise BeatwalkError("a frame could not be encoded as JPEG")
    return data.tobytes()


def page_html(session: LiveSession) -> str:
    """The full-screen page; it talks to the routes beside it (relative URLs)."""
    audio = "true" if session.audio is not None else "false"
    return _PAGE.replace("{{AUDIO}}", audio).replace("{{OFFSET}}", f"{session.audio_offset:.3f}").replace(
        "{{TITLE}}", html.escape("Beatwalk live")
    )


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{TITLE}}</title>
<style>
html,body{margin:0;height:100%;background:#000;overflow:hidden;font:14px system-ui,sans-serif;color:#eee}
#frames{position:fixed;inset:0;width:100%;height:100%;object-fit:contain;image-rendering:auto}
#overlay{position:fixed;left:12px;top:10px;background:rgba(0,0,0,.55);padding:6px 10px;border-radius:6px;
 white-space:pre;pointer-events:none}
#beat{display:inline-block;width:10px;height:10px;border-radius:5px;background:#444;margin-right:6px}
#start{position:fixed;inset:0;display:none;align-items:center;justify-content:center;font-size:22px;
 background:rgba(0,0,0,.6);cursor:pointer}
.hidden{display:none!important}
</style></head>
<body>
<img id="frames" src="frames.mjpg" alt="live frames">
<div id="overlay"><span id="beat"></span><span id="line">connecting…</span></div>
<div id="start">▶ click to hear the song in step with the pictures</div>
<audio id="song" preload="auto"></audio>
<script>
const hasAudio = {{AUDIO}}, offset = {{OFFSET}};
const line = document.getElementById('line'), dot = document.getElementById('beat');
const song = document.getElementById('song'), start = document.getElementById('start');
let status = null, fetchedAt = 0, frozen = false;
if (hasAudio) { song.src = 'audio'; start.style.display = 'flex'; }
start.onclick = () => { start.style.display = 'none'; sync(true); song.play(); };
function now() { return status ? status.time + (performance.now() - fetchedAt) / 1000 : 0; }
function sync(force) {
  if (!hasAudio || !status) return;
  const want = offset + now();
  if (force || Math.abs(song.currentTime - want) > 0.08) song.currentTime = want;
}
async function poll() {
  try {
    const r = await fetch('status', {cache: 'no-store'});
    if (r.status === 404) { line.textContent = 'this live session has ended'; return; }
    status = await r.json(); fetchedAt = performance.now(); frozen = status.settings.freeze;
    line.textContent = `${status.message} · beat ${status.beat_in_bar}/${status.meter} · ` +
      `${status.fps.toFixed(0)}/${status.target_fps} fps · planned ${status.horizon_ms} ms ahead · ` +
      `${status.size[0]}×${status.size[1]}\\n${status.prompt}` +
      (status.queue.length ? `  →  ${status.queue[0]}` : '');
    if (!song.paused) sync(false);
    if (!status.running) { line.textContent = status.message; return; }
  } catch (e) { line.textContent = 'reconnecting…'; }
  setTimeout(poll, 500);
}
function tick() {
  if (status && status.locked) {
    const beats = now() * status.bpm / 60, phase = beats - Math.floor(beats);
    dot.style.background = phase < 0.2 ? (status.beat_in_bar === 1 ? '#f55' : '#fff') : '#444';
  }
  requestAnimationFrame(tick);
}
async function control(action, value) {
  const r = await fetch('control', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                    body: JSON.stringify({action, value})});
  if (!r.ok) line.textContent = (await r.json()).error;
}
document.addEventListener('keydown', (e) => {
  if (e.key === ' ' || e.key === 'ArrowRight') { control('next'); e.preventDefault(); }
  else if (e.key === 'f') { frozen = !frozen; control('freeze', frozen); }
  else if (e.key === 'h') document.getElementById('overlay').classList.toggle('hidden');
  else if (e.key === 'Enter') document.documentElement.requestFullscreen?.();
});
document.getElementById('frames').ondblclick = () => document.documentElement.requestFullscreen?.();
poll(); tick();
</script></body></html>
"""
