"""Beat, downbeat and tempo tracking on synthetic songs with exact truth."""

from __future__ import annotations

import json
from pathlib import Path

import mir_eval
import numpy as np
import pytest
import soundfile

from pipelines.errors import BeatwalkError
from pipelines.music.beats import NET_PHASE_WEIGHTS, TRACKERS, BeatTrack, track_beats
from synth.songs import drum_song

SR = 22050
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(params=TRACKERS, autouse=True)
def tracker(request, monkeypatch):
    """Every test here runs with each tracker (the default one and the DSP one)."""
    monkeypatch.setenv("BEATWALK_BEAT_TRACKER", request.param)
    return request.param


@pytest.mark.parametrize("bpm", [60.0, 90.0, 120.0, 150.0, 180.0])
def test_beats_follow_drum_song(bpm, tracker, request):
    if bpm == 60.0:
        # A known octave error, kept visible: with kick or snare on every beat and hats on every
        # eighth, as loud off the beat as on it, the song also reads as a 120 BPM groove with kick
        # and snare on alternate beats. The DSP tracker's tempo prior (centred on 110 BPM) prefers
        # it, and the network gives the off-beat hats a beat probability of 0.42 (0.82 on the beats).
        request.applymarker(pytest.mark.xfail(reason="tracked at double tempo", strict=True))
    samples, beats, downbeats = drum_song(duration=12.0, bpm=bpm)
    track = track_beats(samples, SR)
    assert mir_eval.beat.f_measure(beats, track.beats) >= 0.9
    assert mir_eval.beat.f_measure(downbeats, track.downbeats) >= 0.8
    assert track.beats_per_bar == 4
    assert track.tempo == pytest.approx(bpm, rel=0.03)


@pytest.mark.parametrize("bpm", [100.0, 140.0])
def test_three_four_downbeats(bpm):
    samples, beats, downbeats = drum_song(duration=15.0, bpm=bpm, beats_per_bar=3)
    track = track_beats(samples, SR)
    assert track.beats_per_bar == 3
    assert mir_eval.beat.f_measure(beats, track.beats) >= 0.9
    assert mir_eval.beat.f_measure(downbeats, track.downbeats) >= 0.8


def test_downbeats_are_beats():
    samples, _, _ = drum_song(duration=10.0, bpm=128.0)
    track = track_beats(samples, SR)
    assert len(track.downbeats) > 0
    assert np.isin(track.downbeats, track.beats).all()


@pytest.mark.parametrize("samples", [np.zeros(10 * SR, np.float32), 1e-6 * np.ones(10 * SR, np.float32)])
def test_silence_has_no_beats(samples):
    track = track_beats(samples, SR)
    assert len(track.beats) == len(track.downbeats) == len(track.tempo_bpm) == 0
    assert track.beats_per_bar == 0
    assert track.tempo == 0.0


def test_silent_intro_has_no_beats():
    song, beats, _ = drum_song(duration=10.0, bpm=110.0, first_beat=0.0)
    intro = 4.0
    samples = np.concatenate([np.zeros(int(intro * SR), np.float32), song])
    track = track_beats(samples, SR)
    assert track.beats.min() > intro - 0.07
    assert mir_eval.beat.f_measure(beats + intro, track.beats) >= 0.9


def test_a_song_that_starts_on_the_beat_keeps_its_first_beat(tracker, request):
    if tracker == "dsp":
        request.applymarker(pytest.mark.xfail(reason="the onset envelope is zero in its first frames", strict=True))
    samples, beats, _ = drum_song(duration=10.0, bpm=110.0, first_beat=0.0)
    track = track_beats(samples, SR)
    assert track.beats[0] == pytest.approx(0.0, abs=0.03)
    assert mir_eval.beat.f_measure(beats, track.beats) == 1.0


def test_a_final_chord_rings_out_without_beats(tracker, request):
    """The decoder keeps a pulse going wherever there is sound: the network's tracker drops the
    beats it hears none at after the music's last beat."""
    if tracker == "dsp":
        request.applymarker(pytest.mark.xfail(reason="no trimming without a beat probability", strict=True))
    song, beats, _ = drum_song(duration=8.0, bpm=120.0)
    strike = beats[-1] + 0.5  # on the next beat, then 5 s of ring-out
    samples = np.zeros(int((strike + 5.0) * SR), np.float32)
    samples[: len(song)] = song
    t = np.arange(len(samples) - int(strike * SR)) / SR
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * np.exp(-0.8 * t)
    samples[int(strike * SR) :] += 0.25 * chord.astype(np.float32)
    track = track_beats(samples, SR)
    assert track.beats.max() < strike + 0.07
    assert mir_eval.beat.f_measure(np.append(beats, strike), track.beats) >= 0.95


def test_tempo_curve_follows_beats():
    samples, _, _ = drum_song(duration=12.0, bpm=96.0)
    track = track_beats(samples, SR)
    assert len(track.tempo_times) == len(track.tempo_bpm) == len(track.beats) - 1
    assert np.all(np.diff(track.tempo_times) > 0)
    np.testing.assert_allclose(track.tempo_bpm, 96.0, rtol=0.05)


def test_any_sample_rate():
    samples, beats, _ = drum_song(duration=10.0, bpm=120.0, sample_rate=44100)
    track = track_beats(samples, 44100)
    assert mir_eval.beat.f_measure(beats, track.beats) >= 0.9


def test_example_song_beats():
    truth = json.loads((EXAMPLES / "beatwalk-demo.beats.json").read_text())
    samples, sample_rate = soundfile.read(EXAMPLES / "beatwalk-demo.ogg", dtype="float32")
    track = track_beats(samples.mean(axis=1), sample_rate)
    assert mir_eval.beat.f_measure(np.array(truth["beats"]), track.beats) >= 0.95
    assert track.tempo == pytest.approx(truth["bpm"], rel=0.02)
    # Kick and bass hit beats 1 and 3 alike; the chord changes put the bar on beat 1.
    assert mir_eval.beat.f_measure(np.array(truth["downbeats"]), track.downbeats) >= 0.8
    assert track.beats_per_bar == truth["beats_per_bar"]


@pytest.mark.parametrize(
    "seconds, level, clip",
    [(60.0, 1.0, True), (20.0, 1e-3, False), (20.0, 0.1, False)],
    ids=["clipped-white-noise", "hiss-60dBFS", "white-noise-20dBFS"],
)
def test_noise_has_no_beats(seconds, level, clip):
    samples = level * np.random.default_rng(0).standard_normal(int(seconds * SR))
    if clip:
        samples = np.clip(samples, -1.0, 1.0)
    track = track_beats(samples.astype(np.float32), SR)
    assert len(track.beats) == len(track.downbeats) == 0
    assert track.tempo == 0.0


def test_quiet_music_over_hiss_keeps_its_beats():
    samples, beats, _ = drum_song(duration=12.0, bpm=100.0)
    samples = 0.05 * samples + 1e-3 * np.random.default_rng(1).standard_normal(len(samples)).astype(np.float32)
    track = track_beats(samples, SR)
    assert mir_eval.beat.f_measure(beats, track.beats) >= 0.9


@pytest.mark.parametrize("seconds", [0.0, 0.3, 0.9])
def test_very_short_input(seconds):
    samples, _, _ = drum_song(duration=1.0, bpm=120.0, first_beat=0.0)
    track = track_beats(samples[: int(seconds * SR)], SR)
    assert isinstance(track, BeatTrack)
    assert np.all((track.beats >= 0) & (track.beats <= seconds))


@pytest.mark.parametrize(
    "samples, sample_rate, kwargs",
    [
        (np.zeros((2, SR), np.float32), SR, {}),
        (np.full(SR, np.nan, np.float32), SR, {}),
        (np.zeros(SR, np.float32), 0, {}),
        (np.zeros(SR, np.float32), SR, {"min_bpm": 200.0, "max_bpm": 100.0}),
        (np.zeros(SR, np.float32), SR, {"tracker": "nope"}),
    ],
)
def test_bad_arguments_raise_beatwalk_error(samples, sample_rate, kwargs):
    with pytest.raises(BeatwalkError):
        track_beats(samples, sample_rate, **kwargs)


@pytest.fixture(scope="module")
def example_song():
    from pipelines.music.decode import load_audio

    truth = json.loads((EXAMPLES / "beatwalk-demo.beats.json").read_text())
    return load_audio(EXAMPLES / "beatwalk-demo.ogg").samples, np.asarray(truth["beats"])


@pytest.mark.parametrize(
    ("peak_db", "dc"),
    [(-50.0, 0.0), (-60.0, 0.0), (-40.0, 0.3), (-6.0, -0.4)],
    ids=["-50 dBFS", "-60 dBFS", "-40 dBFS + DC 0.3", "DC -0.4"],
)
def test_level_and_dc_do_not_change_the_beats(example_song, peak_db, dc, tracker):
    """A quiet master keeps its quiet passages; a DC offset does not set the spectrum's scale."""
    if peak_db < -50 and tracker == "dsp":
        pytest.skip("the DSP tracker's passages under -90 dBFS (quiet parts of a -60 dBFS song) count as silence")
    samples, truth = example_song
    clean = track_beats(samples, SR)
    quiet = samples / np.abs(samples).max() * 10 ** (peak_db / 20) + dc
    moved = track_beats(quiet.astype(np.float32), SR)
    assert mir_eval.beat.f_measure(clean.beats, moved.beats) >= 0.98
    assert mir_eval.beat.f_measure(truth, moved.beats) >= mir_eval.beat.f_measure(truth, clean.beats) - 0.01
    assert moved.tempo == pytest.approx(clean.tempo, abs=0.5)


def _pulse(frames: np.ndarray, length: int) -> np.ndarray:
    """A beat activation with a peak at each of ``frames``."""
    activation = np.full(length, 0.01)
    activation[frames] = 0.6
    return activation


def test_a_hole_in_a_steady_pulse_is_filled_on_the_beats():
    from pipelines.music.beats import _fill_holes

    truth = np.arange(100, 3000, 41)
    found = np.delete(truth, np.arange(30, 37))  # the decoder lost seven beats in a row
    activation = _pulse(truth, 3100)
    filled = _fill_holes(found, activation, np.ones(3100, dtype=bool))
    assert np.array_equal(filled, truth)


def test_a_silent_break_keeps_its_gap_and_a_tempo_change_keeps_its_beats():
    from pipelines.music.beats import _fill_holes

    truth = np.arange(100, 3000, 41)
    found = np.delete(truth, np.arange(30, 37))
    active = np.ones(3100, dtype=bool)
    active[truth[31] : truth[35]] = False  # the band stops: a break, not a hole
    assert np.array_equal(_fill_holes(found, _pulse(truth, 3100), active), found)
    # 120 -> 160 BPM (no interval a whole multiple of the one before): nothing to fill.
    change = np.concatenate([np.arange(100, 1500, 43), np.arange(1500, 3000, 32)])
    assert np.array_equal(_fill_holes(change, _pulse(change, 3100), np.ones(3100, dtype=bool)), change)


def test_a_steady_song_whose_drums_drop_out_keeps_its_beats(tracker, request):
    """Eight seconds of held chords as loud as the drums in the middle of a steady song: the
    beat goes on through them."""
    if tracker == "dsp":
        request.applymarker(pytest.mark.xfail(reason="its onset envelope wanders through held chords", strict=True))
    song, beats, _ = drum_song(duration=24.0, bpm=120.0, first_beat=0.5)
    lo, hi = int(8.0 * SR), int(16.0 * SR)
    t = np.arange(hi - lo) / SR
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    song[lo:hi] = (np.sqrt(np.mean(song**2)) / np.sqrt(np.mean(chords**2)) * chords).astype(np.float32)
    track = track_beats(song, SR)
    inside = beats[(beats > 8.5) & (beats < 15.5)]
    covered = np.min(np.abs(np.subtract.outer(inside, track.beats)), axis=1) < 0.07
    assert covered.mean() >= 0.9


def test_beats_locked_to_the_off_beats_move_to_where_the_kick_is():
    """The low band hits halfway between the decoded beats, not on them: the beats move there."""
    from pipelines.music.beats import _kick_phase

    frames = np.arange(10, 1000, 40)
    low = np.zeros(1100)
    low[frames[:-1] + 20] = 1.0  # the kicks, on the off-beats of the decoded pulse
    low[frames] = 0.3  # lighter hits on the decoded beats (snare, cymbal pushes)
    np.testing.assert_array_equal(_kick_phase(frames, low), frames[:-1] + 20)
    low[frames] = 2.0  # the kick on the decoded beats: they stay
    np.testing.assert_array_equal(_kick_phase(frames, low), frames)


def test_the_kick_check_leaves_the_beats_where_the_network_is_sure_of_them():
    """A bass line off the beat (a piece without drums) moves the beats only where the network
    hears beats halfway between them too (tuning split dev-large, second-round weights: six
    drumless clips 1.0 -> 0.0 with the check, back at 1.0 with this; a real metal song the check
    must move, 0.19 -> 0.78, kept)."""
    from pipelines.music.beats import NET_KICK_TRUST, _kick_phase

    frames = np.arange(10, 1000, 40)
    low = np.zeros(1100)
    low[frames[:-1] + 20] = 1.0  # bass notes halfway
    low[frames] = 0.3
    activation = np.full(1100, 0.01)
    activation[frames] = 0.9  # the network hears the beats, and next to nothing halfway
    np.testing.assert_array_equal(_kick_phase(frames, low, activation), frames)
    activation[frames[:-1] + 20] = 0.9 * NET_KICK_TRUST * 2  # unsure of the phase: the kick settles it
    np.testing.assert_array_equal(_kick_phase(frames, low, activation), frames[:-1] + 20)


def test_an_eight_beat_kick_on_the_ands_leaves_beats_the_network_hears():
    """MMA's 8-beat rock: the kick on 1, on the "and" of 3 and on the "and" of 4, so the low band
    hits harder halfway between the beats than on them. The network hears the beats (0.85) and a
    little halfway (0.15, a ratio of 0.18, as on tuning splits mma-dev and mma-fit, FluidR3, where
    the check had moved two such clips from 1.0 to 0.0): they stay. A one-drop groove the network
    half-hears halfway (ratio 0.24 on band-dev) still moves to its kick."""
    from pipelines.music.beats import _kick_phase

    frames = np.arange(10, 1290, 40)  # 32 beats, 8 bars
    halfway = frames[:-1] + 20
    low = np.zeros(1400)
    low[frames[::4]] = 1.0  # the kick on 1
    low[halfway[2::4]] = low[halfway[3::4]] = 1.0  # and on the "ands" of 3 and 4
    low[frames] += 0.2  # the bass on every beat
    activation = np.full(1400, 0.01)
    activation[frames] = 0.85
    activation[halfway] = 0.15
    np.testing.assert_array_equal(_kick_phase(frames, low, activation), frames)
    activation[halfway] = 0.85 * 0.24
    np.testing.assert_array_equal(_kick_phase(frames, low, activation), halfway)


def test_a_skank_is_tracked_on_its_kick_not_on_its_upstrokes(tracker):
    """Punk skank (kick on the beat, snare on every "and", the loudest onsets): the beats fall on
    the kick (tuning split band-dev's punk_skank clips). The DSP tracker, whose onsets weigh the
    low band and whose kick check moves beats locked to the off-beats, 0.59 on average. The
    network that learnt from real recordings and MMA's styles puts three of the four on the beat
    (1.00, 1.00, 0.98). On the fourth (0.01) it is sure of the wrong phase, and the kick check,
    which trusts it there so that pieces without drums keep their beats, no longer moves them
    (0.98 when it did)."""
    from synth.band import band_clip

    scores = []
    for j in range(4):
        y, beats, _ = band_clip(1_000_000 + 100 * 1 + j, style="punk_skank")
        scores.append(mir_eval.beat.f_measure(beats, track_beats(y, 22050).beats))
    if tracker == "tcn":
        assert sum(score > 0.95 for score in scores) >= 3, scores
    else:
        assert np.mean(scores) > 0.5, scores


def _bar_columns(n_bars: int, meter: int, *, net: list[float], harmony: list[float]) -> np.ndarray:
    """Per-beat bar evidence in ``_net_bar_columns``' layout: the network's downbeat logit, then
    harmonic columns summing to ``harmony`` and the rest zero, by beat of the bar."""
    from pipelines.music.beats import HARMONIC_COLUMNS

    columns = np.zeros((n_bars * meter, 9))
    columns[:, 0] = np.tile(net, n_bars)
    columns[:, 1 : 1 + HARMONIC_COLUMNS] = np.tile(harmony, n_bars)[:, None] / HARMONIC_COLUMNS
    return columns


def test_the_bar_phase_moves_bars_that_start_on_beat_three_to_where_the_chords_change():
    """A bossa nova's network logits favour beat 3 as a bar start a little (1.5 against -1.3),
    its chords change on beat 1: the bars move to beat 1. With the harmony flat, the bars go where
    the network hears them."""
    from pipelines.music.beats import _bar_phase

    meters = np.full(64, 4)
    chosen = np.tile([2, 3, 0, 1], 16)  # the bar model started bars on the true beat 3
    columns = _bar_columns(16, 4, net=[-1.3, -6.8, 1.5, -6.9], harmony=[3.5, 0.5, 0.0, 0.3])
    np.testing.assert_array_equal(_bar_phase(chosen, meters, columns), np.tile([0, 1, 2, 3], 16))

    flat = _bar_columns(16, 4, net=[-6.8, -6.8, 2.0, -6.9], harmony=[0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_bar_phase(chosen, meters, flat), np.tile([2, 3, 0, 1], 16))


def test_the_bar_phase_is_chosen_for_each_stretch_of_one_meter():
    """Eight bars of 4/4 then eight of 3/4, as the bar model gives them (each stretch from its beat
    1 to its last beat): the harmony moves the 4/4 bars by one beat (a tango's beat 2 taken for beat
    1: the chords change on what the model calls beat 4) and leaves the 3/4 bars, already right,
    alone."""
    from pipelines.music.beats import _bar_phase

    # By the bar model's positions 0-3: the true bar starts on its position 3.
    four = _bar_columns(8, 4, net=[-0.6, -2.1, -1.0, -1.8], harmony=[1.3, 0.1, 0.4, 5.0])
    three = _bar_columns(8, 3, net=[2.0, -3.0, -3.0], harmony=[2.0, 0.0, 0.0])
    columns = np.concatenate([four, three])
    meters = np.array([4] * 32 + [3] * 24)
    chosen = np.concatenate([np.tile([0, 1, 2, 3], 8), np.tile([0, 1, 2], 8)])
    expected = np.concatenate([np.tile([1, 2, 3, 0], 8), np.tile([0, 1, 2], 8)])
    np.testing.assert_array_equal(_bar_phase(chosen, meters, columns), expected)
    assert len(_bar_phase(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 9)))) == 0


@pytest.mark.parametrize("meter", [2, 3, 4, 5])
def test_the_bar_phase_does_not_depend_on_where_the_bar_model_started_the_bars(meter):
    """The bar starts come from the stretch's evidence alone: whichever beat the bar model took for
    beat 1, the same beats start the bars; a stretch under three bars is left as it is."""
    from pipelines.music.beats import _bar_phase

    rng = np.random.default_rng(meter)
    columns = np.tile(rng.normal(size=(meter, 9)), (6, 1)) + 0.3 * rng.normal(size=(6 * meter, 9))
    meters = np.full(6 * meter, meter)
    starts = {
        tuple(np.flatnonzero(_bar_phase((np.arange(6 * meter) + shift) % meter, meters, columns) == 0))
        for shift in range(meter)
    }
    assert len(starts) == 1
    # A labelling the phase moves when it has six bars, cut to two: it stays.
    labellings = [(np.arange(6 * meter) + s) % meter for s in range(meter)]
    shift = next(s for s, chosen in enumerate(labellings) if (_bar_phase(chosen, meters, columns) != chosen).any())
    short = (np.arange(2 * meter) + shift) % meter
    np.testing.assert_array_equal(_bar_phase(short, meters[: 2 * meter], columns[: 2 * meter]), short)


@pytest.mark.parametrize("clip", ["bossanova-700001", "tango-701801", "march-701101", "jazz-54-700200"])
def test_auto_accompaniment_bars_start_where_their_chords_change(clip, tracker, monkeypatch):
    """MMA's bossa nova, tango, march and 5/4 jazz (tuning split mma-dev, TimGM6mb): the network
    hears beat 3, beat 2 or 4, or beat 5 as the bar start about as well as beat 1 or better; the
    bar phase of the whole song puts the bars right (benchmarks/RESULTS.md, issue 17's fourth and
    fifth rounds)."""
    import shutil

    if tracker == "dsp" or shutil.which("mma") is None or shutil.which("fluidsynth") is None:
        pytest.skip("the network's bar phase; needs mma and fluidsynth (scripts/setup.sh --dev)")
    from synth.beat_set import SOUNDFONTS
    from synth.mma_set import clip_audio

    if not Path(SOUNDFONTS["timgm6mb"]).exists():
        pytest.skip("needs the TimGM6mb soundfont (scripts/setup.sh --dev)")
    style, seed = clip.rsplit("-", 1)
    audio, beats, downbeats, *_ = clip_audio(style, int(seed), "timgm6mb")
    track = track_beats(audio, SR)
    assert mir_eval.beat.f_measure(beats, track.beats) > 0.95
    assert mir_eval.beat.f_measure(downbeats, track.downbeats) > 0.9
    # The bar phase is what puts these bars right: without it they start on another beat.
    monkeypatch.setattr("pipelines.music.beats.NET_PHASE_WEIGHTS", np.zeros_like(NET_PHASE_WEIGHTS))
    assert mir_eval.beat.f_measure(downbeats, track_beats(audio, SR).downbeats) < 0.5
