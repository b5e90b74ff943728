"""``python -m pipelines live`` in a subprocess: a song played live, recorded, steered over the page."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.render.video import probe_video
from synth.songs import drum_song, write_song

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def live(*flags, timeout=120):
    return subprocess.run([sys.executable, "-m", "pipelines", "live", *map(str, flags)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    samples, _, _ = drum_song(duration=5.0, bpm=120.0)
    return write_song(tmp_path_factory.mktemp("cli") / "drums.wav", samples)


def test_a_song_played_live_and_recorded_with_its_sound(song, tmp_path):
    out = tmp_path / "live.mp4"
    result = live("--input", song, "--prompt", "a red sun", "--prompt", "a blue sea", "--record", out, "--serve", "none")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["recording"] == str(out) and summary["locked"] and abs(summary["bpm"] - 120) < 3, summary
    info = probe_video(out)
    assert info.has_audio and (info.width, info.height) == (64, 64) and 4.5 <= info.duration <= 6.5, info
    assert "the input has ended" in result.stderr or "locked at" in result.stderr


def test_the_page_steers_a_running_session(song, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "live", str(song), "--serve", "127.0.0.1:0", "--seconds", "30"],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as a terminal sends it: a run started in the background (nohup, `&`) ignores
        # SIGINT, and Python then never turns it into KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        line = ""
        deadline = time.monotonic() + 90
        while "view: " not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
        url = re.search(r"view: (\S+)", line).group(1)
        control = urllib.request.Request(url.replace("/view", "/control"), data=b'{"action": "prompt", "value": "green"}',
                                         method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(control, timeout=10) as response:
            assert json.loads(response.read())["queue"] == ["green"]
        time.sleep(1.5)
        process.send_signal(2)  # Ctrl-C ends the session, quietly
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in stderr
    assert json.loads(stdout)["slots"] > 0


@pytest.mark.parametrize(
    "flags, message",
    [
        ((), "give a song to play live, or --device"),
        (("missing.wav",), "song not found: missing.wav"),
        (("--input", "missing.wav"), "song not found: missing.wav"),
        (("{song}", "--input", "mic"), "give one input"),
        (("{song}", "--size", "60x60"), "multiples of 16"),
        (("{song}", "--size", "big"), "--size must look like 512x512"),
        (("{song}", "--pulse", "2"), "pulse must be between 0 and 1"),
        (("{song}", "--record", "out.avi"), "--record writes an mp4"),
        (("{song}", "--serve", "localhost:http"), "--serve must look like"),
        (("{song}", "--prompt", " "), "a prompt must be some words"),
    ],
)
def test_bad_input_is_one_line(song, flags, message):
    result = live(*(f.format(song=song) for f in flags))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
