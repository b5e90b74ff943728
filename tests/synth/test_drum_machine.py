"""Synthetic drum songs (synth/drum_machine.py): the beat network's drum-machine training music."""

from __future__ import annotations

import numpy as np
import pytest

from synth import drum_machine
from synth.drum_machine import SAMPLE_RATE, synth_drum_clip

SEEDS = range(12)


@pytest.fixture(scope="module")
def clips():
    return {seed: synth_drum_clip(seed, seconds=12.0) for seed in SEEDS}


def test_same_seed_same_song():
    a, b = synth_drum_clip(3, seconds=6.0), synth_drum_clip(3, seconds=6.0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], synth_drum_clip(4, seconds=6.0)[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_beats_and_bars_follow_a_tempo_in_range(clips, seed):
    y, beats, downbeats = clips[seed]
    assert y.shape == (12 * SAMPLE_RATE,) and y.dtype == np.float32
    assert 0.1 - 1e-6 <= np.abs(y).max() <= 0.9 + 1e-6
    assert beats[0] >= 0 and beats[-1] < 12.0
    bpm = 60.0 / np.diff(beats)
    assert bpm.min() > 45 and bpm.max() < 215
    # Bars are a whole number of beats, the same number throughout.
    bar = np.searchsorted(beats, downbeats)
    assert np.array_equal(beats[bar], downbeats) and bar[0] == 0
    assert len(set(np.diff(bar))) <= 1 and np.diff(bar)[0] in (2, 3, 4, 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_bar_starts_with_a_kick_and_nothing_sounds_before_the_first_beat(clips, seed):
    y, beats, downbeats = clips[seed]
    lead_in = y[: max(int((beats[0] - 0.04) * SAMPLE_RATE), 0)]
    assert lead_in.size == 0 or np.abs(lead_in).max() < 1e-6
    # The kick on beat 1: energy rises at each bar start (within the timing jitter).
    envelope = np.convolve(y.astype(np.float64) ** 2, np.ones(256) / 256, mode="same")
    for t in downbeats[downbeats < 11.5]:
        i = int(t * SAMPLE_RATE)
        before = envelope[max(i - int(0.06 * SAMPLE_RATE), 0) : max(i - int(0.03 * SAMPLE_RATE), 1)].mean()
        after = envelope[i : i + int(0.05 * SAMPLE_RATE)].max()
        assert after > 1.5 * before + 1e-9


def test_the_songs_vary():
    meters, tempi = set(), []
    for seed in range(40):
        _, beats, downbeats = synth_drum_clip(seed, seconds=8.0)
        meters.add(int(np.searchsorted(beats, downbeats[1])) if len(downbeats) > 1 else 0)
        tempi.append(60.0 / np.median(np.diff(beats)))
    assert {2, 3, 4} <= meters
    assert min(tempi) < 80 and max(tempi) > 140


def test_stabs_add_short_chords_without_changing_the_grid():
    plain = synth_drum_clip(7, seconds=8.0)
    assert np.array_equal(plain[0], synth_drum_clip(7, seconds=8.0, stabs=0.0)[0])
    y, beats, downbeats = synth_drum_clip(7, seconds=8.0, stabs=1.0)
    assert np.array_equal(beats, plain[1]) and np.array_equal(downbeats, plain[2])
    assert not np.array_equal(y, plain[0])


def test_a_stab_sounds_then_is_released():
    stab = drum_machine._stab(220.0, (1.0, 1.26, 1.5), 4410)
    assert stab.shape == (4410,)
    assert np.abs(stab[:2000]).max() > 1.0 and abs(stab[-1]) < 0.01
    # Released over the last 10 ms: quieter there than just before.
    assert np.abs(stab[-100:]).max() < 0.5 * np.abs(stab[-441:-220]).max()


def test_sparse_grooves_are_slowed_below_the_ceiling_and_the_others_are_untouched():
    slowed = 0
    for seed in range(60):
        plain = synth_drum_clip(seed, seconds=8.0)
        y, beats, downbeats = synth_drum_clip(seed, seconds=8.0, sparse_max_bpm=140.0)
        if all(np.array_equal(a, b) for a, b in zip(plain, (y, beats, downbeats))):
            continue
        slowed += 1
        before, after = (60.0 / np.median(np.diff(b)) for b in (plain[1], beats))
        assert 50.0 * 0.99 <= after <= 140.0 < before
        # Same meter, same first beat: the song is stretched, not recomposed.
        per_bar = int(np.searchsorted(plain[1], plain[2][1]))
        assert np.array_equal(downbeats, beats[::per_bar]) and beats[0] == pytest.approx(plain[1][0])
    assert 2 <= slowed <= 20
