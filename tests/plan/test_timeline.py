"""The frame plan on synthetic analyses whose beats and energy are known exactly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipelines.errors import BeatwalkError
from pipelines.plan.easing import EASINGS, ease
from pipelines.plan.timeline import BEAT_STEP, plan_frames
from pipelines.project import Project
from tests.analyses import synthetic_analysis

TRANSITIONS = ["walk", "linear", "beats", "cut"]


def project(keyframes, *, fps=24.0, **motion):
    """A project from ``(time, transition, hold, hold_unit)`` tuples (or bare times)."""
    frames = []
    for i, spec in enumerate(keyframes):
        spec = spec if isinstance(spec, tuple) else (spec,)
        time_, transition, hold, unit = spec + (None, "walk", 0.0, "beats")[len(spec) :]
        frames.append(
            {
                "time": time_,
                "prompt": f"p{i}",
                "seed": i,
                "transition": transition,
                "hold": hold,
                "hold_unit": unit,
            }
        )
    return Project.from_dict(
        {"audio": {"path": "song.wav"}, "keyframes": frames, "render": {"fps": fps}, "motion": motion}
    )


# -- shape of the plan ----------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 60.0])
@pytest.mark.parametrize("duration", [7.0, 9.987, 12.3])
def test_one_entry_per_frame(fps, duration):
    song = synthetic_analysis(duration=duration)
    plan = plan_frames(project([0.0, 3.0, 6.5], fps=fps), song)
    assert plan.n_frames == round(duration * fps)
    np.testing.assert_array_equal(plan.times, np.arange(plan.n_frames) / fps)
    for name in ("key_a", "key_b", "t", "pulse", "cut"):
        assert getattr(plan, name).shape == (plan.n_frames,)
    assert plan.key_a.dtype.kind == "i" and plan.cut.dtype == bool


@pytest.mark.parametrize("transition", TRANSITIONS)
@pytest.mark.parametrize("reactivity", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("easing", EASINGS)
@pytest.mark.parametrize("offset", [0.0, 0.12])
def test_plan_properties(transition, reactivity, easing, offset):
    song = synthetic_analysis(duration=16.0, bpm=120.0, first_beat=0.25)
    keys = [
        (0.0, transition),
        (2.0, transition, 2.0),
        (5.3, transition),
        (9.0, transition, 0.5, "seconds"),
        13.0,
    ]
    p = project(keys, reactivity=reactivity, easing=easing, offset=offset, pulse=0.0)
    plan = plan_frames(p, song)

    assert np.all((plan.t >= 0) & (plan.t <= 1))
    assert np.all((plan.key_b == plan.key_a) | (plan.key_b == plan.key_a + 1))
    assert np.all(plan.t[plan.key_a == plan.key_b] == 0)
    for k, keyframe in enumerate(p.keyframes):
        i = round(keyframe.time * p.render.fps)  # 5.3 s is between frames: the nearest one shows it
        assert plan.key_a[i] == k and plan.t[i] == 0
    # The picture only moves forward: along the path, every frame is at or past the one before.
    position = plan.key_a + plan.t
    assert np.all(np.diff(position) >= -1e-12)
    assert plan_frames(p, song).to_dict() == plan.to_dict()


def test_before_first_and_after_last_keyframe():
    song = synthetic_analysis(duration=10.0)
    plan = plan_frames(project([2.0, 5.0, 7.5]), song)
    before, after = plan.times < 2.0, plan.times >= 7.5
    assert np.all(plan.key_a[before] == 0) and np.all(plan.key_b[before] == 0) and np.all(plan.t[before] == 0)
    assert np.all(plan.key_a[after] == 2) and np.all(plan.key_b[after] == 2) and np.all(plan.t[after] == 0)


def test_keyframe_outside_the_song_is_refused():
    with pytest.raises(BeatwalkError, match="keyframe 2 is at 12 s, outside the song"):
        plan_frames(project([0.0, 12.0]), synthetic_analysis(duration=10.0))


# -- walk speed follows the music -------------------------------------------------------------------


@pytest.mark.parametrize("fps", [24.0, 30.0])
def test_no_reactivity_is_linear_in_time(fps):
    song = synthetic_analysis(duration=12.0)
    walk = plan_frames(project([0.0, 4.0, 8.0], fps=fps, reactivity=0.0, easing="linear", pulse=0), song)
    linear = plan_frames(project([(0.0, "linear"), (4.0, "linear"), 8.0], fps=fps, easing="linear"), song)
    np.testing.assert_allclose(walk.t, linear.t, atol=1e-12)
    moving = walk.times < 8.0
    np.testing.assert_allclose(walk.t[moving], (walk.times[moving] % 4.0) / 4.0, atol=1e-9)


def test_full_reactivity_moves_only_where_the_energy_is():
    # Energy only in 1 s bursts starting every 2 s; silence in between.
    song = synthetic_analysis(duration=12.0, energy=lambda t: ((t % 2.0) < 1.0).astype(float))
    plan = plan_frames(project([0.0, 6.0, 11.0], reactivity=1.0, smoothing=0.0, easing="linear"), song)
    step = np.diff(plan.key_a + plan.t)  # step i: the energy of frame window i
    phase = plan.times[:-1] % 2.0
    assert np.all(step[(phase > 1.05) & (phase < 1.95)] == 0)
    assert np.all(step[(phase > 0.05) & (phase < 0.95) & (plan.times[:-1] < 11.0)] > 0)


def test_half_reactivity_is_between_linear_and_energy():
    song = synthetic_analysis(duration=8.0, energy=lambda t: (t < 2.0).astype(float))
    t_at_2s = []
    for reactivity in (0.0, 0.5, 1.0):
        plan = plan_frames(
            project([0.0, 8.0 - 1 / 24], reactivity=reactivity, smoothing=0.0, easing="linear"), song
        )
        t_at_2s.append(plan.t[48])
    assert t_at_2s[0] < t_at_2s[1] < t_at_2s[2]
    assert t_at_2s[2] == pytest.approx(1.0, abs=0.02)


def test_a_hit_moves_the_picture_on_the_first_frame_after_it():
    # Energy only just after each beat: the picture changes on the first frame that starts after it.
    song = synthetic_analysis(duration=8.0, bpm=120.0, first_beat=0.51)
    plan = plan_frames(project([0.0, 7.9], reactivity=1.0, smoothing=0.0, easing="linear"), song)
    moved = np.flatnonzero(np.diff(plan.t) > 0) + 1
    beat_frames = np.ceil(np.asarray(song.beats) * 24).astype(int)
    np.testing.assert_array_equal(moved, beat_frames[beat_frames < plan.n_frames - 3])


def test_smoothing_spreads_a_hit_after_it():
    song = synthetic_analysis(duration=8.0, bpm=60.0, first_beat=1.0)
    sharp = plan_frames(project([0.0, 7.5], reactivity=1.0, smoothing=0.0, easing="linear"), song)
    smooth = plan_frames(project([0.0, 7.5], reactivity=1.0, smoothing=0.3, easing="linear"), song)
    moving = [np.count_nonzero(np.diff(plan.t[:48]) > 1e-9) for plan in (sharp, smooth)]
    assert moving[0] == 1 and moving[1] > 10
    # Causal: nothing moves before the first hit.
    assert np.all(smooth.t[:24] == 0)


def test_offset_delays_the_visuals():
    song = synthetic_analysis(duration=8.0, bpm=120.0, first_beat=0.5)
    base = plan_frames(project([0.0, 7.5], fps=50.0, reactivity=1.0, smoothing=0.0, pulse=0.5), song)
    late = plan_frames(
        project([0.0, 7.5], fps=50.0, reactivity=1.0, smoothing=0.0, pulse=0.5, offset=0.1), song
    )
    assert np.argmax(np.diff(late.t) > 0) == np.argmax(np.diff(base.t) > 0) + 5
    np.testing.assert_allclose(late.pulse[5:200], base.pulse[:195])


# -- holds, easing, continuity --------------------------------------------------------------------


@pytest.mark.parametrize("transition", ["walk", "linear", "beats"])
@pytest.mark.parametrize(
    ("hold", "unit", "seconds"), [(2.0, "beats", 1.0), (3.0, "beats", 1.5), (0.75, "seconds", 0.75)]
)
def test_hold_stays_exactly_on_the_keyframe(transition, hold, unit, seconds):
    song = synthetic_analysis(duration=10.0, bpm=120.0, first_beat=0.0)
    plan = plan_frames(project([0.0, (2.0, transition, hold, unit), 6.0], reactivity=0.5), song)
    held = (plan.times >= 2.0) & (plan.times < 2.0 + seconds)
    assert np.all(plan.key_a[held] == 1) and np.all(plan.key_b[held] == 1) and np.all(plan.t[held] == 0)
    after = np.flatnonzero(plan.times >= 2.0 + seconds)[0]
    assert plan.key_b[after] == 2 and plan.t[after + 12] > 0


def test_hold_in_beats_follows_the_local_beat_grid():
    # Beats slow from 0.5 s to 1 s apart at 4 s: a 2-beat hold at 5 s lasts 2 s.
    beats = np.concatenate([np.arange(0.0, 4.0, 0.5), np.arange(4.0, 12.0, 1.0)])
    song = synthetic_analysis(duration=12.0, beats=beats)
    plan = plan_frames(project([0.0, (5.0, "linear", 2.0), 10.0]), song)
    first_move = np.flatnonzero((plan.key_a == 1) & (plan.key_b == 2))[0]
    assert plan.times[first_move] == pytest.approx(7.0)


def test_hold_without_beats_uses_the_tempo():
    song = synthetic_analysis(duration=10.0, beats=[], bpm=90.0)
    plan = plan_frames(project([(0.0, "linear", 3.0), 6.0]), song)
    assert plan.times[np.flatnonzero(plan.key_b == 1)[0]] == pytest.approx(2.0)


def test_hold_longer_than_the_segment_is_a_cut_at_the_next_keyframe():
    song = synthetic_analysis(duration=10.0)
    plan = plan_frames(project([(0.0, "walk", 16.0), 4.0]), song)
    assert np.all(plan.t == 0)
    assert np.flatnonzero(plan.cut).tolist() == [96]


@pytest.mark.parametrize("easing", EASINGS)
def test_a_move_between_two_rests_uses_the_easing_curve(easing):
    song = synthetic_analysis(duration=10.0)
    plan = plan_frames(
        project([(0.0, "linear", 1.0, "seconds"), (4.0, "linear", 1.0, "seconds"), 8.0], easing=easing), song
    )
    move = (plan.times >= 5.0) & (plan.times < 8.0)
    np.testing.assert_allclose(plan.t[move], ease((plan.times[move] - 5.0) / 3.0, easing), atol=1e-12)


@pytest.mark.parametrize("easing", EASINGS)
@pytest.mark.parametrize("transition", ["walk", "linear"])
def test_path_passes_keyframes_without_a_jolt(easing, transition):
    # Segments of 2 s, 5 s and 3 s: a per-segment curve would change speed 2.5x at 2 s, or stop there.
    song = synthetic_analysis(duration=12.0)
    p = project(
        [(0.0, transition), (2.0, transition), (7.0, transition), 10.0], easing=easing, reactivity=0.0
    )
    plan = plan_frames(p, song)
    speed = np.diff(plan.key_a + plan.t)  # keyframes per frame
    for knot in (2.0, 7.0):
        i = round(knot * 24)  # speed[i - 1] comes into the keyframe, speed[i] leaves it
        assert speed[i - 1] > 0
        change = abs(speed[i] - speed[i - 1])
        assert change < 0.1 * speed[i - 1]
        # No bigger than the change from frame to frame around it: the speed is continuous.
        assert change <= 1.5 * max(abs(speed[i - 1] - speed[i - 2]), abs(speed[i + 1] - speed[i])) + 1e-12


def test_move_out_of_a_hold_starts_from_rest():
    song = synthetic_analysis(duration=12.0)
    plan = plan_frames(
        project([0.0, (4.0, "linear", 2.0, "seconds"), 10.0], easing="sine", reactivity=0.0), song
    )
    speed = np.diff(plan.key_a + plan.t)
    start = round(6.0 * 24)
    assert speed[start] < 0.1 * speed[start + 40]
    # ...and flows into keyframe 1 at the speed it comes from keyframe 0 (no stop before the hold).
    assert speed[round(4.0 * 24) - 2] < speed[round(2.0 * 24)]


# -- beats and cuts ------------------------------------------------------------------------------


@pytest.mark.parametrize("easing", EASINGS)
def test_beats_transition_steps_on_every_beat(easing):
    song = synthetic_analysis(duration=8.0, bpm=120.0, first_beat=0.25)
    plan = plan_frames(project([(0.0, "beats"), 4.0], fps=48.0, easing=easing, pulse=0.0), song)
    beats = np.asarray(song.beats)
    beats = beats[beats < 4.0]
    starts = np.ceil(beats * 48).astype(int)
    position = plan.key_a + plan.t
    # Still before each beat, at (j + 1) / N once the step is over (half a beat later), moving in between.
    for j, start in enumerate(starts):
        assert position[start - 1] == pytest.approx(j / len(beats))
        assert position[start + int(BEAT_STEP * 0.5 * 48)] == pytest.approx((j + 1) / len(beats))
        assert position[start + 1] > position[start - 1]


def test_beats_transition_without_beats_is_one_eased_move():
    song = synthetic_analysis(duration=8.0, beats=[])
    plan = plan_frames(project([(0.0, "beats"), 4.0], easing="sine"), song)
    moving = plan.times < 4.0
    np.testing.assert_allclose(plan.t[moving], ease(plan.times[moving] / 4.0, "sine"))


@pytest.mark.parametrize(("next_key", "cut_at"), [(8.0, 8.0), (8.3, 8.0), (8.9, 8.0), (9.7, 9.7)])
def test_cut_lands_on_the_downbeat_nearest_the_next_keyframe(next_key, cut_at):
    song = synthetic_analysis(duration=12.0, bpm=120.0, first_beat=0.0)  # downbeats every 2 s
    plan = plan_frames(project([(0.0, "cut"), next_key], fps=30.0), song)
    assert np.all(plan.t == 0)
    (at,) = np.flatnonzero(plan.cut)
    # 9.7 s is nearer the downbeat at 10 s: the cut cannot wait for it, so it falls on the keyframe.
    assert plan.times[at] == cut_at
    assert plan.key_a[at - 1] == 0 and np.all(plan.key_a[at:] == 1)


def test_cut_with_no_downbeat_after_the_hold_cuts_on_the_keyframe():
    song = synthetic_analysis(duration=12.0, bpm=120.0, first_beat=0.0)
    plan = plan_frames(project([(8.5, "cut"), 9.5]), song)
    assert plan.times[np.flatnonzero(plan.cut)].tolist() == [9.5]
    # Held for 9 beats (until 4.5 s): the downbeat at 4 s is inside the hold.
    plan = plan_frames(project([(0.0, "cut", 9.0), 5.0]), song)
    assert plan.times[np.flatnonzero(plan.cut)].tolist() == [5.0]


# -- pulse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pulse_on", ["beats", "downbeats", "onsets"])
def test_pulse_peaks_on_events_and_halves_each_decay(pulse_on):
    # 100 BPM from 0.4 s: beats fall between frames and, every third one, exactly on a frame (1.6 s, 3.4 s, ...).
    song = synthetic_analysis(duration=10.0, bpm=100.0, first_beat=0.4)
    plan = plan_frames(project([0.0], fps=30.0, pulse=0.4, pulse_decay=0.2, pulse_on=pulse_on), song)
    events = np.asarray(getattr(song, pulse_on))
    frames = np.ceil(np.round(events * 30, 9)).astype(int)  # the first frame at or after each event
    assert np.all(plan.pulse[: frames[0]] == 0)
    np.testing.assert_allclose(plan.pulse[frames], 0.4)
    peaks = np.flatnonzero(plan.pulse[1:] > plan.pulse[:-1]) + 1
    np.testing.assert_array_equal(peaks, frames)
    # 0.2 s (6 frames) after a peak, the push is half of it.
    assert plan.pulse[frames[2] + 6] == pytest.approx(0.2)


def test_no_pulse():
    plan = plan_frames(project([0.0, 5.0], pulse=0.0), synthetic_analysis(duration=10.0))
    assert np.all(plan.pulse == 0)


# -- JSON ----------------------------------------------------------------------------------------


def test_to_dict_is_the_whole_plan_as_json():
    """What the API's /plan answers: every per-frame array, one entry per frame."""
    import json

    plan = plan_frames(project([0.0, (3.0, "beats"), (6.0, "cut"), 8.0]), synthetic_analysis(duration=10.0))
    data = json.loads(json.dumps(plan.to_dict()))
    assert (data["fps"], data["duration"], data["n_frames"]) == (plan.fps, plan.duration, plan.n_frames)
    for name in ("times", "key_a", "key_b", "t", "pulse", "cut"):
        np.testing.assert_array_equal(np.asarray(data[name]), getattr(plan, name))
        assert len(data[name]) == plan.n_frames


def test_summary():
    song = synthetic_analysis(duration=10.0, first_beat=0.0)
    plan = plan_frames(project([(0.0, "walk", 2.0), (4.0, "cut"), 8.0], pulse=0.3), song)
    summary = plan.summary()
    assert summary["keyframes_from"] == {0: 0.0, 1: 4.0, 2: 8.0}
    assert summary["moves"] == [{"from": 0, "to": 1, "start": 1.0, "end": 4.0}]
    assert summary["cuts"] == [8.0]  # the downbeat at 8 s is the next keyframe's own time
    assert summary["pulses"] == len(song.beats)
    assert summary["still"] == pytest.approx(1 - 71 / 239, abs=0.01)


def test_ten_minutes_at_60_fps_plans_fast():
    song = synthetic_analysis(duration=600.0, bpm=128.0, envelope_rate=22050 / 256)  # analyze()'s rate
    transitions = TRANSITIONS * 20
    keys = [(float(s), transitions[i], float(i % 3)) for i, s in enumerate(range(0, 592, 8))]
    p = project(keys, fps=60.0)
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        plan = plan_frames(p, song)
        seconds.append(time.perf_counter() - start)
    assert plan.n_frames == 36000
    assert min(seconds) < 0.5  # about 0.06 s on an idle core


# -- on an analysed song, and the plot ------------------------------------------------------------


@pytest.fixture(scope="module")
def drums(song_120):
    from pipelines.music.analysis import analyze
    from pipelines.music.decode import load_audio

    path, beats, _ = song_120
    return analyze(load_audio(path)), beats


def test_on_an_analysed_drum_song_the_picture_moves_and_pulses_on_the_beats(drums):
    analysis, beats = drums
    plan = plan_frames(project([0.0, 6.0, 11.0], reactivity=1.0, smoothing=0.0, pulse=0.5), analysis)
    true_frames = np.floor(beats * 24).astype(int)
    rises = np.flatnonzero(np.diff(plan.pulse, prepend=0.0) > 0)
    near = [np.min(np.abs(true_frames - r)) <= 1 for r in rises]
    assert len(rises) >= 0.8 * len(beats) and np.mean(near) >= 0.9
    step = np.diff(plan.key_a + plan.t, prepend=0.0)
    on_beat = np.zeros(plan.n_frames, dtype=bool)
    on_beat[np.clip(true_frames[:, None] + np.arange(0, 2), 0, plan.n_frames - 1)] = True
    # Off the beats the hats (eighths) still move it a little.
    assert step[on_beat].mean() > 2.5 * step[~on_beat].mean()


def test_plot_frame_plan(drums, tmp_path):
    from matplotlib.figure import Figure

    from pipelines.plots import plot_frame_plan

    analysis, _ = drums
    plan = plan_frames(project([(0.0, "walk", 2.0), (4.0, "cut"), (8.0, "beats"), 11.0], pulse=0.3), analysis)
    figure = plot_frame_plan(plan, analysis, zoom=4.0)
    assert isinstance(figure, Figure) and len(figure.axes) == 3
    figure.savefig(tmp_path / "plan.png")
    assert (tmp_path / "plan.png").stat().st_size > 10_000
    assert len(plot_frame_plan(plan, analysis, zoom=8.0).axes) == 2


def test_keyframes_between_frames_show_on_the_nearest_frame():
    song = synthetic_analysis(duration=10.0)
    plan = plan_frames(project([0.01, 4.02, 9.99], fps=24.0), song)
    assert plan.key_a[0] == 0 and plan.t[0] == 0
    assert plan.key_a[96] == 1 and plan.t[96] == 0 and plan.key_a[95] == 0
    # The last frame starts at 9.958 s: a keyframe at 9.99 s still gets it.
    assert plan.key_a[-1] == 2 and plan.t[-1] == 0 and plan.key_b[-2] == 2
