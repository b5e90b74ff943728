"""The auto-accompaniment clips (synth/mma_set.py): MMA's own MIDI and its annotation.

Needs the Debian package ``mma`` (``scripts/setup.sh --dev`` installs it); rendering to audio
(fluidsynth and its soundfonts) is not tested here.
"""

import shutil

import numpy as np
import pytest

from synth.mma_set import SPLITS, STYLES, annotate, chart, midi, style_info

pytestmark = pytest.mark.skipif(shutil.which("mma") is None, reason="needs the mma package")


def _lowest_at(pm, at: float):
    """Pitch class of the lowest pitched note that starts within 50 ms of ``at`` (None: none)."""
    near = [n for part in pm.instruments if not part.is_drum for n in part.notes if abs(n.start - at) < 0.05]
    return min(near, key=lambda n: n.pitch).pitch % 12 if near else None


@pytest.mark.parametrize("style, beats_per_bar", [("jazz-54", 5), ("68march", 2), ("bossanova", 4), ("waltz", 3), ("blues", 4)])
def test_the_grid_is_mmas_beats_and_bars(style, beats_per_bar):
    pm, time, bpm, roots = midi(style, 12)
    assert time == beats_per_bar
    beats, downbeats = annotate(pm, time, len(roots))
    np.testing.assert_allclose(np.diff(beats), 60.0 / bpm, rtol=1e-3)
    np.testing.assert_allclose(downbeats, beats[::time])
    assert len(downbeats) == len(roots)
    if style == "jazz-54":
        return  # Take Five's vamp: its bass and piano come in half a beat after the bar line
    # The grid's phase against the music: at the bar lines the lowest note that starts is that
    # bar's chord root or its fifth (a waltz's bass alternates them by the bar); one beat later it
    # is not its root, and a bar earlier the chords do not fit.
    def bass_of_chord(at, root):
        return _lowest_at(pm, at) in (root, (root + 7) % 12)

    on = np.mean([bass_of_chord(at, root) for at, root in zip(downbeats, roots)])
    later = np.mean([_lowest_at(pm, at) == root for at, root in zip(beats[1::time], roots)])
    # (the bars whose chord is not the one before: a blues holds one for four bars)
    changes = [k for k in range(1, len(roots)) if roots[k] != roots[k - 1]]
    bar_early = np.mean([bass_of_chord(downbeats[k - 1], roots[k]) for k in changes])
    assert on >= 0.75 and later < on - 0.25 and bar_early < on - 0.25, (on, later, bar_early)


def test_a_clip_is_the_same_every_time_and_each_seed_its_own():
    def notes(pm):
        return sorted((round(n.start, 4), n.pitch, n.velocity) for part in pm.instruments for n in part.notes)

    assert notes(midi("blues", 3)[0]) == notes(midi("blues", 3)[0])
    assert notes(midi("blues", 3)[0]) != notes(midi("blues", 4)[0])


def test_every_style_has_a_groove_and_a_chart_mma_reads():
    for style in STYLES:
        time, grooves = style_info(style)
        assert 2 <= time <= 5 and grooves, style
        _, _, bpm, roots = chart(style, 1)
        low, high = STYLES[style][1]
        assert low <= bpm <= high and len(roots) >= 8
        pm, *_ = midi(style, 1)  # mma refuses a chart it cannot read (a non-zero exit)
        assert pm.get_end_time() > 0.9 * len(roots) * time * 60.0 / bpm


def test_the_splits_do_not_share_seeds():
    seeds = {name: {spec.seed + 100 * s + k for s in range(len(STYLES)) for k in range(spec.clips_per_style)}
             for name, spec in SPLITS.items()}
    names = list(seeds)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not seeds[a] & seeds[b], (a, b)
