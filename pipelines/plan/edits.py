"""Keyframe edits: pure functions from a project (and its song's analysis) to a new, validated project.

What a person does to the keyframes on the timeline — add one on the nearest beat, snap them all,
remove one, edit them as a table, analyse another segment of the song — is done here, the same
for the Space, the API and any script. Every edit returns a new :class:`~pipelines.project.Project`
(the old one is left as it was) or raises a one-line :class:`~pipelines.errors.BeatwalkError`.
"""

from __future__ import annotations

import json
import math

from pydantic import ValidationError

from pipelines.errors import BeatwalkError
from pipelines.plan.keyframes import propose_keyframes, propose_project, snap_to_beat, song_ref
from pipelines.project import NO_SONG, Keyframe, Project, RenderSettings, first_error

SNAP_TARGETS = ("beat", "downbeat", "section start", "exact time")
"""Where :func:`add_keyframe` may put a new keyframe near the time asked for."""

KEYFRAME_COLUMNS = (
    "time (s)", "prompt", "negative prompt", "seed", "guidance", "hold", "hold unit", "transition",
)  # fmt: skip
"""The keyframe table's columns (:func:`keyframe_rows`, :func:`with_rows`)."""


def project_for_song(
    project: Project | None,
    analysis,
    *,
    song: str,
    start: float,
    end: float | None,
    prompts: str,
    negative_prompt: str = "",
    seed: int = 0,
    render: RenderSettings | None = None,
) -> tuple[Project, str]:
    """The project after (re-)analysing a song: a new one, or the old one on the new segment.

    Another song (``song`` is not the project's) gets a new project with its settings kept;
    the same song on another segment keeps the keyframes inside it (those past its end are
    dropped, and said so), and if none is left, keyframes are proposed afresh. A project waiting
    for its song (imported, its ``audio.path`` :data:`~pipelines.project.NO_SONG`) takes ``song``
    as its own. Returns the project and a status line.

    Parameters
    ----------
    project : Project or None
        The project so far; None: propose a new one (with ``render`` settings).
    analysis : pipelines.music.analysis.Analysis
        The analysis of the segment ``start``–``end`` of ``song``.
    prompts : str
        One per line (:func:`split_prompts`); read only when keyframes are proposed.
    """
    audio = song_ref(song, analysis, start=start, end=end)
    if project is not None and project.audio.path not in (song, NO_SONG):
        fresh = propose_keyframes(analysis, split_prompts(prompts), seed=seed, negative_prompt=negative_prompt)
        return project.replace(audio=audio, keyframes=fresh), (
            f"A new song: proposed {len(fresh)} keyframes from your prompts (the settings are kept)."
        )
    if project is None:
        fresh = propose_project(
            song,
            analysis,
            split_prompts(prompts),
            start=start,
            end=end,
            seed=seed,
            negative_prompt=negative_prompt,
            render=render,
        )
        return fresh, f"Proposed {len(fresh.keyframes)} keyframes from your prompts."
    kept = [k for k in project.keyframes if k.time < analysis.duration]
    if not kept:
        keyframes = propose_keyframes(
            analysis, split_prompts(prompts), seed=seed, negative_prompt=negative_prompt
        )
        return project.replace(audio=audio, keyframes=keyframes), (
            f"No keyframe was inside the new segment: proposed {len(keyframes)} from your prompts."
        )
    dropped = len(project.keyframes) - len(kept)
    note = f" Dropped {dropped} keyframe(s) past the end of the segment." if dropped else ""
    return project.replace(audio=audio, keyframes=kept), f"Song analysed.{note}"


def add_keyframe(
    project: Project, analysis, *, at: float | None, snap: str = "beat", prompt: str = ""
) -> Project:
    """A new keyframe near ``at`` seconds, on the nearest beat, downbeat or section start (``snap``,
    one of :data:`SNAP_TARGETS`); it copies the keyframe before it, with ``prompt`` (empty: that
    keyframe's), a new seed and no hold."""
    if at is None or not math.isfinite(float(at)) or float(at) < 0:
        raise BeatwalkError("give the time of the new keyframe in seconds (>= 0)")
    time = round(snap_time(float(at), analysis, snap), 3)
    if time >= analysis.duration:
        raise BeatwalkError(f"{time:g} s is past the end of the segment ({analysis.duration:g} s)")
    if any(abs(k.time - time) < 1e-3 for k in project.keyframes):
        raise BeatwalkError(f"there is already a keyframe at {time:g} s")
    before = [k for k in project.keyframes if k.time < time] or project.keyframes[:1]
    template = before[-1]
    keyframe = template.model_copy(
        update={
            "time": time,
            "prompt": prompt.strip() or template.prompt,
            "seed": (max(k.seed for k in project.keyframes) + 1) % 2**32,
            "hold": 0.0,
        }
    )
    return project.replace(keyframes=sorted([*project.keyframes, keyframe], key=lambda k: k.time))


def snap_time(time: float, analysis, target: str) -> float:
    """The beat, downbeat or section start nearest to ``time`` (``target``), or ``time`` itself."""
    if target == "beat":
        return snap_to_beat(time, analysis)
    if target == "downbeat":
        return snap_to_beat(time, analysis, downbeats=True)
    if target == "section start":
        starts = [float(s["start"]) for s in analysis.sections] or [time]
        return min(starts, key=lambda s: abs(s - time))
    if target == "exact time":
        return time
    raise BeatwalkError(f"snap to one of: {', '.join(SNAP_TARGETS)}")


def snap_all(project: Project, analysis) -> Project:
    """Every keyframe time moved to its nearest beat; two landing on one beat is refused."""
    times = [round(snap_to_beat(k.time, analysis), 3) for k in project.keyframes]
    for i in range(1, len(times)):
        if times[i] == times[i - 1]:
            raise BeatwalkError(
                f"keyframes {i} and {i + 1} would both land on the beat at {times[i]:g} s: move or remove one"
            )
    return project.replace(
        keyframes=[k.model_copy(update={"time": t}) for k, t in zip(project.keyframes, times)]
    )


def remove_keyframe(project: Project, index: int | None) -> Project:
    """The project without keyframe ``index`` (0-based); the last one cannot go."""
    if index is None or not 0 <= int(index) < len(project.keyframes):
        raise BeatwalkError("choose a keyframe to remove")
    if len(project.keyframes) == 1:
        raise BeatwalkError("a project needs at least one keyframe")
    return project.replace(keyframes=[k for i, k in enumerate(project.keyframes) if i != int(index)])


def set_init_image(project: Project, index: int | None, image: str | None, strength: float = 0.6) -> Project:
    """The project with keyframe ``index`` (0-based) starting from ``image`` at ``strength``
    (img2img: low stays close to the image, 1 is the prompt alone); ``image=None`` clears it."""
    if index is None or not 0 <= int(index) < len(project.keyframes):
        raise BeatwalkError("choose a keyframe for the init image")
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise BeatwalkError("init strength must be a number") from None
    if not 0 < strength <= 1:
        raise BeatwalkError(f"init strength must be above 0 and at most 1, got {strength:g}")
    keyframes = list(project.keyframes)
    index = int(index)
    keyframes[index] = keyframes[index].model_copy(
        update={"init_image": image, "init_strength": strength if image else 0.6}
    )
    return project.replace(keyframes=keyframes)


def set_keyframe_camera(project: Project, index: int | None, camera) -> Project:
    """The project with keyframe ``index`` (0-based) bringing its own camera from its time on
    (a :class:`pipelines.project.CameraSettings`); ``None``: the camera before it goes on."""
    if index is None or not 0 <= int(index) < len(project.keyframes):
        raise BeatwalkError("choose a keyframe for the camera")
    keyframes = list(project.keyframes)
    keyframes[int(index)] = keyframes[int(index)].model_copy(update={"camera": camera})
    return project.replace(keyframes=keyframes)


def split_prompts(text: str | None) -> list[str]:
    """Prompts from text with one per line (blank lines skipped); none at all is refused."""
    prompts = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not prompts:
        raise BeatwalkError("write at least one prompt (one per line)")
    return prompts


# -- the keyframes as a table ---------------------------------------------------------------------


def keyframe_rows(project: Project | None) -> list[list]:
    """The keyframes as table rows, in :data:`KEYFRAME_COLUMNS` order."""
    if project is None:
        return []
    return [
        [k.time, k.prompt, k.negative_prompt, k.seed, k.guidance, k.hold, k.hold_unit, k.transition]
        for k in project.keyframes
    ]


def with_rows(project: Project, rows: list[list]) -> Project:
    """The project with its keyframes read from edited table rows, sorted by time.

    Blank rows are skipped and blank cells take the keyframe defaults. What the table does not show
    (a keyframe's init image and strength; what suggested its prompt, while the prompt is unchanged)
    stays with its keyframe: the one at the row's time, else
    the one the row showed (rows are shown in the project's order). Raises a one-line
    ``BeatwalkError`` naming the row (numbered from 1, as the table shows them).
    """
    shown = project.keyframes
    at_time = {k.time: k for k in shown}
    keyframes = []
    for number, row in enumerate(rows, start=1):
        cells = list(row) + [None] * (len(KEYFRAME_COLUMNS) - len(row))
        if all(blank(c) for c in cells):
            continue
        time, prompt, negative, seed, guidance, hold, hold_unit, transition = cells[: len(KEYFRAME_COLUMNS)]
        data = {
            "time": _number(time, "time", number),
            "prompt": "" if blank(prompt) else str(prompt),
            "negative_prompt": "" if blank(negative) else str(negative),
            "seed": 0 if blank(seed) else _integer(seed, "seed", number),
            "guidance": None if blank(guidance) else _number(guidance, "guidance", number),
            "hold": 0.0 if blank(hold) else _number(hold, "hold", number),
            "hold_unit": "beats" if blank(hold_unit) else str(hold_unit).strip(),
            "transition": "walk" if blank(transition) else str(transition).strip(),
        }
        before = at_time.get(data["time"]) or (shown[number - 1] if number <= len(shown) else None)
        if before is not None and before.init_image is not None:
            data |= {"init_image": before.init_image, "init_strength": before.init_strength}
        if before is not None and before.camera is not None:
            data["camera"] = before.camera
        if before is not None and before.idea is not None and before.prompt == data["prompt"]:
            data["idea"] = before.idea  # a suggested prompt, not edited since
        try:
            keyframes.append(Keyframe.model_validate(data))
        except ValidationError as exc:
            raise BeatwalkError(f"row {number}: {first_error(exc)}") from None
    if not keyframes:
        raise BeatwalkError("the table has no keyframe: a project needs at least one")
    return project.replace(keyframes=sorted(keyframes, key=lambda k: k.time))


def blank(cell) -> bool:
    """Whether a table cell is empty (None, NaN, or only spaces)."""
    return (
        cell is None
        or (isinstance(cell, float) and math.isnan(cell))
        or (isinstance(cell, str) and not cell.strip())
    )


def _number(cell, name: str, row: int) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        raise BeatwalkError(f"row {row}: {name} must be a number, got {json.dumps(str(cell))}") from None
    if not math.isfinite(value):
        raise BeatwalkError(f"row {row}: {name} must be a finite number")
    return value


def _integer(cell, name: str, row: int) -> int:
    value = _number(cell, name, row)
    if value != int(value):
        raise BeatwalkError(f"row {row}: {name} must be a whole number, got {value:g}")
    return int(value)
