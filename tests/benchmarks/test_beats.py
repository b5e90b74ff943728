"""The beat benchmark: its degradations (``python -m benchmarks.beats --degrade``) each do to the
audio what their name says, at the level documented, and keep its length; the bar-phase fit
(``--fit-bar-phase``) labels its examples by the true bars."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import beats as benchmark
from synth.songs import drum_song

RATE = 22050


def _band_level(samples: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].mean())


@pytest.mark.parametrize("name", list(benchmark.DEGRADATIONS))
def test_degradations_keep_the_length_and_change_the_audio(name):
    samples, _, _ = drum_song(bpm=120.0, duration=4.0)
    out, rate = benchmark.DEGRADATIONS[name](samples, RATE, np.random.default_rng(0))
    assert out.ndim == 1 and np.all(np.isfinite(out))
    assert abs(len(out) / rate - len(samples) / RATE) < 0.06
    if rate == RATE and len(out) == len(samples):
        assert not np.allclose(out, samples, atol=1e-3)


def test_noise_is_pink_at_10_db_snr():
    samples = np.sin(2 * np.pi * 440 * np.arange(4 * RATE) / RATE).astype(np.float32)
    out, _ = benchmark._pink_noise(samples, RATE, np.random.default_rng(0))
    noise = out - samples
    assert 10 * np.log10(np.mean(samples**2) / np.mean(noise**2)) == pytest.approx(10.0, abs=0.01)
    # Pink: 3 dB less power per octave, so an octave band holds about the same power.
    low = _band_level(noise, RATE, 100, 200) * 100
    high = _band_level(noise, RATE, 1600, 3200) * 1600
    assert 0.6 < low / high < 1.6


def test_small_speaker_loses_the_bass_and_keeps_the_treble():
    t = np.arange(2 * RATE) / RATE
    samples = (np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    out, _ = benchmark._small_speaker(samples, RATE, np.random.default_rng(0))
    assert _band_level(out, RATE, 45, 55) < 1e-3 * _band_level(samples, RATE, 45, 55)
    assert _band_level(out, RATE, 1990, 2010) == pytest.approx(_band_level(samples, RATE, 1990, 2010), rel=0.1)


def test_hall_rings_on_after_a_click():
    samples = np.zeros(3 * RATE, dtype=np.float32)
    samples[RATE // 2] = 1.0
    out, _ = benchmark._hall(samples, RATE, np.random.default_rng(0))
    tail = out[RATE // 2 + RATE // 2 : RATE // 2 + RATE]  # 0.5-1 s after the click
    assert np.sqrt(np.mean(tail**2)) > 1e-3
    assert np.abs(out[: RATE // 2]).max() < 1e-6  # nothing before the click (FFT rounding aside)


def test_mp3_is_not_delayed():
    """The encoder's delay (about 50 ms through a pipe) is trimmed: the beats do not move."""
    samples, _, _ = drum_song(bpm=120.0, duration=4.0)
    out, rate = benchmark._mp3(samples, RATE, np.random.default_rng(0))
    assert rate == RATE
    lags = np.arange(-400, 401)
    middle = slice(RATE, 3 * RATE)
    correlation = [np.dot(out[RATE + lag : 3 * RATE + lag], samples[middle]) for lag in lags]
    assert abs(lags[int(np.argmax(correlation))]) <= 22  # 1 ms


def test_mp3_and_8k_keep_the_beats():
    import mir_eval

    from pipelines.music.beats import track_beats

    samples, beats, _ = drum_song(bpm=120.0, duration=8.0)
    for name in ("mp3", "8k"):
        out, rate = benchmark.DEGRADATIONS[name](samples, RATE, np.random.default_rng(0))
        tracked = track_beats(out, rate, tracker="dsp").beats
        assert mir_eval.beat.f_measure(beats, tracked) > 0.9, name


def test_true_positions_count_beats_from_each_bar_start():
    """Beats every second, bars from 1 s on in 4/4 then one 3/4 bar: each found beat gets the bar
    position of the true beat nearest it (-1 before the first bar), and is on the beat within 70 ms.
    A downbeat a hair off its beat still starts the bar there; one before the first beat, or on no
    beat, starts none; without downbeats no beat has a position."""
    beats = np.arange(12.0)
    downbeats = np.array([1.0, 5.0, 9.0])
    found = np.array([0.02, 1.0, 2.05, 4.0, 5.2, 9.0, 11.0])
    positions, on_beat = benchmark._true_positions(found, beats, downbeats)
    np.testing.assert_array_equal(positions, [-1, 0, 1, 3, 0, 0, 2])
    np.testing.assert_array_equal(on_beat, [True, True, True, True, False, True, True])

    off = np.array([-3.0, 1.0001, 4.5, 5.0, 9.0])
    np.testing.assert_array_equal(benchmark._true_positions(found, beats, off)[0], [-1, 0, 1, 3, 0, 0, 2])
    np.testing.assert_array_equal(benchmark._true_positions(found, beats, np.zeros(0))[0], [-1] * 7)


def test_phase_examples_give_one_true_bar_start_per_candidate_bar():
    """A 5/4 jazz clip (MMA, TimGM6mb): every stretch the tracker gets right gives five candidates,
    read in the shared block and in the 5/4 block alike; the one labelled the bar start is the shift
    by four beats, as the bar model alone starts this clip's bars on beat 5."""
    import shutil
    from pathlib import Path

    from pipelines.music.beats import METERS, PHASE_OFFSETS
    from synth.beat_set import SOUNDFONTS
    from synth.mma_set import clip_audio

    if shutil.which("mma") is None or shutil.which("fluidsynth") is None or not Path(SOUNDFONTS["timgm6mb"]).exists():
        pytest.skip("needs mma, fluidsynth and TimGM6mb (scripts/setup.sh --dev)")
    audio, beats, downbeats, *_ = clip_audio("jazz-54", 700200, "timgm6mb")
    item = benchmark.Item("jazz-54-700200", "jazz-54", "5/4", audio, RATE, beats, downbeats)
    rows, labels = benchmark.phase_examples(item)
    assert len(rows) >= 5 and len(rows) % 5 == 0
    width = len(PHASE_OFFSETS) * 9
    block = 1 + 5 - int(METERS[0])
    rows, labels = np.array(rows), np.array(labels).reshape(-1, 5)
    assert (labels.sum(axis=1) == 1).all()
    assert (np.argmax(labels, axis=1) == 4).all()
    np.testing.assert_array_equal(rows[:, :width], rows[:, block * width : (block + 1) * width])
    assert np.count_nonzero(rows[:, width : block * width]) == 0


@pytest.mark.parametrize("spec", ["mma-trian", "train:x"])
def test_fit_bar_phase_refuses_a_split_it_does_not_know_in_one_line(spec, capsys):
    with pytest.raises(SystemExit) as stop:
        benchmark.main(["--fit-bar-phase", spec])
    assert stop.value.code == 2
    assert f"error: --fit-bar-phase: {spec!r} is not SPLIT or SPLIT:N" in capsys.readouterr().err
