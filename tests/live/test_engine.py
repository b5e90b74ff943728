"""The live engine with the tiny model: its frames equal the offline walk's, and a session run on
real threads and a real clock makes, shows and records frames in time with a song."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.diffusion.conditioning import FrameState
from pipelines.diffusion.walk import preview_keyframe, render_states
from pipelines.errors import BeatwalkError
from pipelines.live.conductor import LiveSettings, MixAnchor, PromptAnchor
from pipelines.live.engine import LiveConditioning, LiveEngine
from pipelines.live.sources import SAMPLE_RATE, Clock, FileSource, PushSource, as_mono_float
from pipelines.project import Keyframe, RenderSettings
from pipelines.render.video import probe_video, read_frames
from synth.songs import drum_song, write_song

SIZE = 64


def test_an_anchor_renders_as_the_offline_keyframe_and_pulses_and_mixes_change_it(tiny_pipe, one_torch_thread):
    anchors = [PromptAnchor("a red sun", 7), PromptAnchor("a blue sea", 8), MixAnchor(0, 1, 0.5)]
    live = LiveConditioning(tiny_pipe, width=SIZE, height=SIZE, steps=1)
    live.sync(anchors, {0, 1, 2})
    still, pulsed, halfway, mixed = render_states(live, [
        FrameState.of(0, 0, 0.0, 0.0, -1), FrameState.of(0, 0, 0.0, 1.0, 3), FrameState.of(0, 1, 0.5, 0.0, -1),
        FrameState.of(2, 2, 0.0, 0.0, -1),
    ])  # fmt: skip
    offline = preview_keyframe(tiny_pipe, [Keyframe(time=0, prompt="a red sun", seed=7)],
                               RenderSettings(width=SIZE, height=SIZE, steps=1), 0)  # fmt: skip
    # The same frame, up to the rounding of a batch of four against a batch of one (on some CPUs
    # a pixel or so lands one level apart).
    difference = np.abs(still.astype(int) - np.asarray(offline).astype(int))
    assert difference.max() <= 1 and (difference == 0).mean() > 0.999
    assert np.abs(pulsed.astype(int) - still).mean() > 2
    np.testing.assert_allclose(mixed.astype(int), halfway.astype(int), atol=2)  # the point between, as the walk's
    live.sync(anchors, {1})  # forgotten anchors are dropped, the ones in use kept
    assert set(live._anchors) == {1}


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    samples, beats, _ = drum_song(duration=8.0, bpm=128.0, seed=3)
    return write_song(tmp_path_factory.mktemp("live") / "drums.wav", samples), beats


def test_a_session_on_a_song_locks_shows_frames_on_time_and_records_them(tiny_pipe, one_torch_thread, song, tmp_path):
    path, beats = song
    engine = LiveEngine(tiny_pipe, FileSource(path), ["a red sun", "a blue sea"], width=SIZE, height=SIZE, fps=24,
                        settings=LiveSettings(pulse=1.0, auto_bars=1), record=tmp_path / "live.mp4")  # fmt: skip
    assert engine.status()["message"] == "not started" and engine.frame_now() is None
    engine.start()
    seen, statuses = set(), []
    while not engine.wait(0.25):
        status = engine.status()
        statuses.append(status)
        got = engine.frame_now()
        if got is not None:
            seen.add(got[0])
            assert got[1].shape == (SIZE, SIZE, 3)
        if status["time"] > 7.0:
            break
    recording = engine.stop()
    last = statuses[-1]
    assert engine.error is None and last["locked"] and abs(last["bpm"] - 128) < 3, last
    assert any(s["message"].startswith("locked at") for s in statuses)
    assert last["slots"] > 0.6 * 7 * 24, last  # most slots made (a busy machine may skip some)
    assert last["prompt"] != "a red sun" or last["queue"] == []  # auto_bars moved on
    assert len(seen) > 10  # the screen moved on slot by slot
    info = probe_video(recording)
    assert info.has_audio and info.width == SIZE and abs(info.frames / 24 - last["time"]) < 1.0, info
    frames = np.stack(list(read_frames(recording)))
    assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3)).max() > 3  # pulses and walks show
    assert not (tmp_path / "live.mp4.heard.wav").exists()


def test_a_time_limit_ends_the_session_with_one_line(tiny_pipe, one_torch_thread, song):
    engine = LiveEngine(tiny_pipe, FileSource(song[0]), ["a"], width=SIZE, height=SIZE, time_limit=0.5).start()
    assert engine.wait(10)
    engine.stop()
    assert engine.error == "the session reached its time limit of 0.5 s"
    assert engine.status()["message"].startswith("stopped: the session reached")


def test_bad_engine_settings_are_refused(tiny_pipe, song):
    source = FileSource(song[0])
    with pytest.raises(BeatwalkError, match="multiples of 16"):
        LiveEngine(tiny_pipe, source, ["a"], width=72, height=64)
    with pytest.raises(BeatwalkError, match="batch size must be 1–32"):
        LiveEngine(tiny_pipe, source, ["a"], width=64, height=64, batch_size=0)
    with pytest.raises(BeatwalkError, match="display delay"):
        LiveEngine(tiny_pipe, source, ["a"], width=64, height=64, display_delay=5)


class ManualTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pushed_audio_is_placed_by_its_earliest_arrival_and_resampled():
    time = ManualTime()
    source = PushSource(clock=Clock(time))
    source.start()
    assert source.audio_now() == 0.0
    block = (np.sin(np.arange(4800) / 10) * 20000).astype(np.int16)  # 0.1 s at 48 kHz
    source.push(block, 48000)
    time.now += 0.25  # the next block is late (jitter): "now" keeps to the first one's pace
    source.push(block, 48000)
    heard = source.read()
    assert 0.15 * SAMPLE_RATE < len(heard) <= 0.2 * SAMPLE_RATE and np.abs(heard).max() <= 1.0  # soxr holds ~30 ms
    assert source.audio_now() == pytest.approx(0.1 + 0.25, abs=0.01)
    with pytest.raises(BeatwalkError, match="8–192 kHz"):
        source.push(block, 1000)


def test_blocks_of_any_shape_and_type_become_mono_floats():
    stereo = np.array([[32767, -32767], [16384, 16384]], dtype=np.int16)
    np.testing.assert_allclose(as_mono_float(stereo), [0.0, 0.5], atol=1e-4)
    assert as_mono_float(np.array([np.nan, 0.5])).tolist() == [0.0, 0.5]
    with pytest.raises(BeatwalkError, match="1-D or 2-D"):
        as_mono_float(np.zeros((2, 2, 2)))
