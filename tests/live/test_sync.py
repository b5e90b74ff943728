"""The tracker and the conductor together, as the engine drives them, on a clock of samples.

Audio goes in 512-sample blocks (23 ms, a sound card's); every slot is planned when it is 0.35 s
ahead of the newest audio (the engine's horizon with a GPU batch and a display delay), so each
pulse rests on a *predicted* beat. Deterministic: no threads, no wall clock.
"""

from __future__ import annotations

import numpy as np
import pytest

# The conductor driven as the engine drives it, on a clock of samples: the benchmark's own loop.
from benchmarks.live import FPS, SR, play
from synth.songs import drum_song, tempo_change_song


def errors_in_frames(onsets, beats, *, after):
    """For each true beat after ``after`` s: the distance to the nearest pulse, in frames."""
    times = onsets[:, 0]
    return np.array([np.min(np.abs(times - b)) * FPS for b in beats if b > after])


def extras(onsets, beats, *, end):
    """Pulses more than 1.5 frames from every beat (before the audio ends)."""
    return [t for t in onsets[:, 0] if t < end and np.min(np.abs(beats - t)) * FPS > 1.5]


@pytest.mark.parametrize(
    "song",
    [
        pytest.param(lambda: drum_song(duration=24.0, bpm=140.0, seed=2), id="steady-140"),
        pytest.param(lambda: tempo_change_song(duration=28.0, bpm=124.0, to_bpm=112.0, change_at=10.0, ramp=10.0, seed=2),
                     id="ramp-124-to-112"),  # fmt: skip
    ],
)
def test_pulses_land_within_a_frame_of_every_beat_after_four_bars(song):
    samples, beats, downbeats = song()
    onsets, tracker = play(samples)
    errors = errors_in_frames(onsets, beats, after=beats[16])
    assert errors.max() <= 1.0, f"worst beat {errors.max():.2f} frames off"
    assert not extras(onsets, beats, end=len(samples) / SR)
    assert tracker.forecast().locked


def test_a_step_in_tempo_costs_at_most_two_beats():
    samples, beats, _ = tempo_change_song(duration=28.0, bpm=120.0, to_bpm=132.0, change_at=14.0, seed=2)
    onsets, tracker = play(samples)
    errors = errors_in_frames(onsets, beats, after=beats[16])
    off = np.flatnonzero(errors > 1.0)
    late = [b for b, e in zip(beats[beats > beats[16]], errors) if e > 1.0]
    assert len(off) <= 2 and all(14.0 <= b < 14.0 + 3 * 60 / 132 for b in late), late
    assert abs(tracker.forecast().bpm - 132.0) < 2.0


def test_downbeats_are_found_from_the_bar_phase():
    samples, beats, downbeats = drum_song(duration=24.0, bpm=128.0, seed=1)
    onsets, tracker = play(samples)
    later = onsets[onsets[:, 0] > beats[16]]
    marked = later[later[:, 2] == 1, 0]
    hits = [d for d in downbeats if d > beats[16] and np.min(np.abs(marked - d)) * FPS <= 1.0] if len(marked) else []
    due = [d for d in downbeats if d > beats[16]]
    assert len(hits) >= len(due) - 1, f"{len(hits)} of {len(due)} downbeats"
    assert tracker.forecast().meter == 4


def test_silence_never_locks_and_plans_no_pulses():
    onsets, tracker = play(np.zeros(SR * 6, dtype=np.float32))
    assert len(onsets) == 0 and not tracker.forecast().locked
