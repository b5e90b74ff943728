"""The session's page, stream and controls over a real HTTP server (uvicorn), and OSC over real UDP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from pipelines.errors import BeatwalkError
from pipelines.live.conductor import Conductor
from pipelines.live.display import LiveSessions
from pipelines.live.engine import LiveEngine
from pipelines.live.osc import OscControls
from pipelines.live.run import PageServer
from pipelines.live.sources import FileSource
from synth.songs import drum_song, write_song


@pytest.fixture(scope="module")
def served(tiny_pipe, tmp_path_factory, one_torch_thread):
    samples, _, _ = drum_song(duration=30.0, bpm=120.0)
    path = write_song(tmp_path_factory.mktemp("page") / "drums.wav", samples)
    sessions = LiveSessions(max_sessions=1)
    engine = LiveEngine(tiny_pipe, FileSource(path), ["a red sun", "a blue sea"], width=64, height=64)
    session = sessions.add(engine, audio=path)
    engine.start()
    server = PageServer(sessions, "127.0.0.1", 0).start()
    yield server, session, sessions, path
    server.close()
    sessions.remove(session.token)


def get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def post(url: str, body: bytes):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_page_the_stream_and_a_frame(served):
    server, session, _, path = served
    base = server.url(f"/live/{session.token}/")
    status, kind, page = get(base + "view")
    assert status == 200 and "text/html" in kind and b'src="frames.mjpg"' in page and b"const hasAudio = true" in page
    time.sleep(1.0)
    status, kind, data = get(base + "frame.jpg")
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert kind == "image/jpeg" and frame.shape == (64, 64, 3)
    with urllib.request.urlopen(base + "frames.mjpg", timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        head = stream.read(4000)
    assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and head.count(b"--frame") >= 1
    assert get(base + "audio")[2] == path.read_bytes()
    status = json.loads(get(base + "status")[2])
    assert status["running"] and status["size"][0] in (64, 48, 32) and status["prompt"] == "a red sun"


def test_controls_over_http_and_their_one_line_refusals(served):
    server, session, _, _ = served
    base = server.url(f"/live/{session.token}/")
    code, status = post(base + "control", json.dumps({"action": "prompt", "value": "green hills"}).encode())
    assert code == 200 and status["queue"][-1] == "green hills"
    assert post(base + "control", b'{"action": "pulse", "value": 0.9}')[1]["settings"]["pulse"] == 0.9
    assert post(base + "control", b'{"action": "pulse", "value": 2}') == (400, {"error": "pulse must be between 0 and 1, got 2"})
    assert post(base + "control", b"not json")[0] == 400
    try:
        get(server.url("/live/not-a-session/status"))
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and "no such live session" in json.loads(exc.read())["error"]
    else:
        pytest.fail("an unknown session was answered")


def test_a_second_session_over_the_limit_is_refused(served):
    _, _, sessions, _ = served
    with pytest.raises(BeatwalkError, match="1 live session"):
        sessions.add(object())


def test_osc_messages_steer_the_conductor_and_bad_ones_are_dropped():
    from pythonosc.udp_client import SimpleUDPClient

    conductor = Conductor(["a"], fps=24)
    osc = OscControls(conductor, port=0).start()
    try:
        client = SimpleUDPClient(osc.host, osc.port)
        client.send_message("/beatwalk/prompt", "b")
        client.send_message("/beatwalk/prompt/next", "first")
        client.send_message("/beatwalk/pulse", 0.25)
        client.send_message("/beatwalk/freeze", 1)
        client.send_message("/beatwalk/move", [2, 1])
        client.send_message("/beatwalk/motion", 7.0)
        client.send_message("/somewhere/else", 1)
        deadline = time.monotonic() + 5
        while len(osc.errors) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        osc.close()
    assert conductor.queue.snapshot() == ("a", ("b", "first"))
    assert conductor.settings.pulse == 0.25 and conductor.settings.freeze and conductor.settings.motion == 0.5
    assert osc.errors == ["/beatwalk/motion: motion must be between 0 and 1, got 7",
                          "unknown OSC address /somewhere/else (Beatwalk listens under /beatwalk/)"]  # fmt: skip


def test_a_taken_osc_port_is_one_line():
    first = OscControls(Conductor(["a"], fps=24), port=0)
    try:
        with pytest.raises(BeatwalkError, match=f"cannot listen for OSC on 127.0.0.1:{first.port}"):
            OscControls(Conductor(["a"], fps=24), port=first.port)
    finally:
        first.close()


def test_a_session_that_ended_by_itself_frees_its_place(tiny_pipe, served):
    _, _, _, path = served
    sessions = LiveSessions(max_sessions=1)
    first = LiveEngine(tiny_pipe, FileSource(path), ["a"], width=64, height=64, time_limit=0.3)
    sessions.add(first)
    first.start()
    assert first.wait(10) and first.ended
    second = LiveEngine(tiny_pipe, FileSource(path), ["b"], width=64, height=64)
    session = sessions.add(second)  # the first is tidied away (stopped), not counted
    assert len(sessions) == 1 and sessions.get(session.token).engine is second
