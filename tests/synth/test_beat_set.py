"""The evaluation and training set generator: the pieces that need no fluidsynth.

Rendering (fluidsynth and its soundfonts) is not installed on CI; what is tested here is what
decides the music: the varied kind's drum grooves, human timing and room reverb.
"""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from synth import beat_set as eval_set


@pytest.mark.parametrize("meter", [(4, 2), (3, 2), (5, 2), (2, 3), (4, 3)])
@pytest.mark.parametrize("seed", range(6))
def test_grooves_fit_in_one_bar_and_mostly_mark_the_bar_start(meter, seed):
    beats_per_bar, subdivisions = meter
    groove = eval_set._groove(beats_per_bar, subdivisions, np.random.default_rng(seed))
    assert groove["kit"] in eval_set.DRUM_KITS
    positions = [position for _, position, _ in groove["hits"]]
    assert positions and min(positions) >= 0 and max(positions) < beats_per_bar
    kicks = [position for pitch, position, _ in groove["hits"] if pitch in (35, 36)]
    assert 0.0 in kicks


def test_grooves_differ_between_clips():
    hits = {str(eval_set._groove(4, 2, np.random.default_rng(seed))["hits"]) for seed in range(40)}
    assert len(hits) >= 10


def test_played_groove_follows_the_grid_and_fills_the_last_beat():
    groove = {"kit": 8, "hits": [(36, 0.0, 110), (38, 1.0, 95), (38, 3.0, 95)], "crash": True}
    part = pretty_midi.Instrument(0, is_drum=True)

    def when(position):
        return 0.5 * position  # 120 BPM

    eval_set._play_groove(part, groove, 4, 4, when, 1.0, False, np.random.default_rng(0))
    assert sorted(n.start for n in part.notes) == [2.0, 2.5, 3.5] and part.program == 8
    part.notes.clear()
    eval_set._play_groove(part, groove, 4, 4, when, 1.0, True, np.random.default_rng(0))
    starts = sorted(n.start for n in part.notes)
    # The snare on beat 4 gives way to four sixteenths of fill, then the crash on the next bar.
    assert starts[:2] == [2.0, 2.5] and starts[2:6] == pytest.approx([3.5, 3.625, 3.75, 3.875])
    assert starts[-1] == 4.0 and part.notes[-1].pitch == eval_set.CRASH


def test_human_timing_stays_within_a_few_tens_of_milliseconds():
    rng = np.random.default_rng(0)
    parts = {name: pretty_midi.Instrument(0) for name in ("harmony", "melody", "bass")}
    parts["drums"] = pretty_midi.Instrument(0, is_drum=True)
    for part in parts.values():
        part.notes = [pretty_midi.Note(90, 60, 0.5 * k, 0.5 * k + 0.3) for k in range(200)]
    eval_set._vary(parts, rng)
    for part in parts.values():
        shifts = np.array([n.start for n in part.notes]) - 0.5 * np.arange(200)
        assert np.abs(shifts).max() < 0.06
        assert all(n.end > n.start for n in part.notes)
    assert parts["bass"].program in eval_set.VARIED_BASS


def test_room_reverb_keeps_length_and_level():
    audio = np.zeros(22050 * 2, dtype=np.float32)
    audio[::11025] = 0.9
    outs = [eval_set._room(audio, np.random.default_rng(seed)) for seed in range(8)]
    assert any(out is audio for out in outs) and any(out is not audio for out in outs)
    for out in outs:
        assert out.shape == audio.shape and out.dtype == np.float32
        assert np.abs(out).max() == pytest.approx(0.9, abs=1e-5)
    wet = next(out for out in outs if out is not audio)
    # Sound rings on between the clicks.
    assert np.abs(wet[2000:10000]).mean() > 1e-3


def test_some_parts_play_detached_and_drums_keep_their_length():
    shortened = 0
    for seed in range(10):
        parts = {name: pretty_midi.Instrument(0) for name in ("harmony", "melody", "bass")}
        parts["drums"] = pretty_midi.Instrument(0, is_drum=True)
        for part in parts.values():
            part.notes = [pretty_midi.Note(90, 60, 0.5 * k, 0.5 * k + 0.4) for k in range(20)]
        eval_set._vary(parts, np.random.default_rng(seed))
        for name, part in parts.items():
            lengths = np.array([n.end - n.start for n in part.notes])
            assert np.allclose(lengths, lengths[0]) and 0.05 <= lengths[0] <= 0.4 + 1e-9
            if name == "drums":
                assert lengths[0] == pytest.approx(0.4)
            shortened += lengths[0] < 0.39
    assert 5 <= shortened <= 25  # about half of the 30 pitched parts
