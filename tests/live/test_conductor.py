"""The conductor's controls and plans, on a steady forecast (no audio)."""

from __future__ import annotations

import pytest

from pipelines.errors import BeatwalkError
from pipelines.live import controls
from pipelines.live.conductor import Conductor, LiveSettings, MixAnchor, PromptAnchor
from pipelines.live.tracker import Forecast

FPS = 24
STEADY = Forecast(time=0.0, locked=True, beat=0.0, number=0, period=0.5, meter=4, bar_phase=0)  # 120 BPM


def plan(conductor, seconds, start=0):
    return [conductor.plan(n, STEADY) for n in range(start, start + int(seconds * FPS))]


def test_pulses_start_on_every_predicted_beat_and_decay():
    conductor = Conductor(["a"], fps=FPS, settings=LiveSettings(pulse=0.8, motion=0.0))
    slots = plan(conductor, 4)
    onsets = [s.time for s in slots if s.onset]
    assert onsets == pytest.approx([0.5 * k for k in range(8)], abs=0.5 / FPS)
    assert [s.pulse for s in slots[:3]] == pytest.approx([0.8, 0.8 * 0.5 ** ((1 / FPS) / 0.08), 0.8 * 0.5 ** ((2 / FPS) / 0.08)])
    assert all(s.pulse < 0.05 for s in slots if 0.4 < s.time % 0.5 < 0.49)  # decayed before the next beat


def test_next_changes_prompt_on_the_coming_downbeat_over_the_crossfade():
    conductor = Conductor(["a", "b"], fps=FPS, settings=LiveSettings(motion=0.0, auto_bars=0, crossfade_beats=4))
    plan(conductor, 1.1)  # to beat 2.2
    conductor.next()
    slots = plan(conductor, 4, start=int(1.1 * FPS))
    changed = [s for s in slots if s.prompt == "b"]
    assert changed[0].time == pytest.approx(2.0)  # the downbeat after beat 2.2 is beat 4 = 2 s
    assert conductor.queue.snapshot() == ("b", ())
    walk = [s.t for s in changed if s.time < 4.0]
    assert walk == sorted(walk) and walk[0] == 0.0 and walk[-1] > 0.95
    assert isinstance(conductor.anchors[changed[0].b], PromptAnchor)
    assert conductor.anchors[changed[0].b].prompt == "b"


def test_a_change_midway_starts_from_where_the_walk_stands():
    conductor = Conductor(["a", "b", "c"], fps=FPS, settings=LiveSettings(motion=0.0, auto_bars=0, crossfade_beats=16))
    conductor.next()
    plan(conductor, 3)  # on the way to b (beats 0-16); the next downbeat is beat 8, halfway
    conductor.next()
    slots = plan(conductor, 3, start=3 * FPS)
    to_c = [s for s in slots if s.prompt == "c"]
    assert to_c and isinstance(conductor.anchors[to_c[0].a], MixAnchor)
    assert conductor.anchors[to_c[0].a].t == pytest.approx(0.5)
    assert conductor.in_use() >= {to_c[0].a, to_c[0].b}


def test_auto_bars_moves_the_queue_by_itself():
    conductor = Conductor(["a", "b", "c"], fps=FPS, settings=LiveSettings(auto_bars=2))
    slots = plan(conductor, 9)
    starts = {}
    for s in slots:
        starts.setdefault(s.prompt, s.time)
    assert starts["b"] == pytest.approx(4.0) and starts["c"] == pytest.approx(8.0)  # every 2 bars of 2 s


def test_freeze_holds_the_picture_and_the_pulses():
    conductor = Conductor(["a"], fps=FPS)
    plan(conductor, 1)
    controls.apply(conductor, "freeze", True)
    held = plan(conductor, 1, start=FPS)
    assert len({(s.a, s.b, s.t, s.pulse) for s in held}) == 1 and not any(s.onset for s in held)
    controls.apply(conductor, "freeze", "off")
    assert any(s.onset for s in plan(conductor, 1, start=2 * FPS))


def test_drift_with_nothing_queued_walks_to_new_seeds():
    conductor = Conductor(["a"], fps=FPS, settings=LiveSettings(motion=1.0))
    slots = plan(conductor, 6)
    seeds = {conductor.anchors[s.b].seed for s in slots}
    assert len(seeds) >= 3 and {conductor.anchors[s.b].prompt for s in slots} == {"a"}


def test_queue_controls_and_their_numbering_from_one():
    conductor = Conductor(["a"], fps=FPS)
    for text in ("b", "c", "d"):
        controls.apply(conductor, "prompt", text)
    controls.apply(conductor, "prompt", "first", next_up=True)
    controls.apply(conductor, "move", [4, 1])
    controls.apply(conductor, "remove", 2)
    assert conductor.queue.snapshot() == ("a", ("d", "b", "c"))
    controls.apply(conductor, "queue", ["x", "  y   z "])
    assert conductor.queue.snapshot() == ("a", ("x", "y z"))


@pytest.mark.parametrize(
    "action, value, message",
    [
        ("pulse", 3, "pulse must be between 0 and 1"),
        ("pulse", "loud", "pulse takes a number"),
        ("motion", float("nan"), "motion takes a number"),
        ("freeze", "maybe", "freeze takes true or false"),
        ("remove", 5, "no queued prompt 5"),
        ("move", [1], "move takes two queue numbers"),
        ("prompt", "   ", "a prompt must be some words"),
        ("prompt", "x" * 501, "500 characters at most"),
        ("crossfade", 2.5, "crossfade takes a whole number"),
        ("dance", None, "unknown control 'dance'"),
    ],
)
def test_bad_controls_are_one_line_and_change_nothing(action, value, message):
    conductor = Conductor(["a", "b"], fps=FPS)
    before = (conductor.queue.snapshot(), vars(conductor.settings).copy())
    with pytest.raises(BeatwalkError, match=message):
        controls.apply(conductor, action, value)
    assert (conductor.queue.snapshot(), vars(conductor.settings)) == before


def test_bad_sessions_are_refused():
    with pytest.raises(BeatwalkError, match="at least one prompt"):
        Conductor([], fps=FPS)
    with pytest.raises(BeatwalkError, match="fps must be 1–60"):
        Conductor(["a"], fps=120)
    conductor = Conductor(["a"], fps=FPS)
    conductor.plan(5, STEADY)
    with pytest.raises(BeatwalkError, match="planned already"):
        conductor.plan(5, STEADY)
