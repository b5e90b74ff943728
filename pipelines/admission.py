"""What a server accepts from strangers: projects within its limits and its models, naming no file.

A project that reaches the Space (or its API) was written by someone else: its paths are never
opened (its song is the one uploaded beside it), its model must be one the server offers, and its
size, length, frames and steps must be within :class:`~pipelines.limits.Limits`. These are rules
of Beatwalk, not of the page, so they live here and the Space calls them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from pathlib import Path

from pipelines.diffusion.families import check_offered, offered_models
from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.project import NO_SONG, Project


def from_stranger(project: Project, *, song: str | None) -> Project:
    """A project as a server may use it: its song is the one uploaded there (``song``; ``NO_SONG``
    when none is yet), and it names no other file.

    Raises
    ------
    BeatwalkError
        A keyframe names an init image (the server would have to open a path from the project).
    """
    for i, keyframe in enumerate(project.keyframes):
        if keyframe.init_image is not None:
            raise BeatwalkError(
                f"keyframe {i + 1} has an init image: a server opens no file that a project names"
            )
    return project.replace(audio=project.audio.model_copy(update={"path": song or NO_SONG}))


def for_download(project: Project, *, song: str | None) -> Project:
    """The project as a person downloads it: its song named by its file name only (no server path),
    as the CLI reads it from beside the project file."""
    return project.replace(
        audio=project.audio.model_copy(update={"path": Path(song).name if song else NO_SONG})
    )


def admit_render(project: Project, *, song: str | None, duration: float, limits: Limits) -> Project:
    """Check a render before any GPU time is spent on it; returns the project pointed at ``song``.

    Parameters
    ----------
    duration : float
        Length of the analysed song segment, seconds.
    """
    if not song:
        raise BeatwalkError("upload a song first")
    project = from_stranger(project, song=song)
    check_offered(project.render.model)
    project.validate_against(duration)
    check_costs(project, duration=duration, limits=limits)
    return project


def admit_preview(project: Project, *, limits: Limits) -> None:
    """Check the model, size, steps and keyframes (what a single still costs) before a preview."""
    check_offered(project.render.model)
    # No song length or frame count is at stake for one still.
    check_costs(project, duration=0.0, limits=limits)


def check_costs(project: Project, *, duration: float, limits: Limits) -> None:
    """Refuse a project whose render of ``duration`` seconds costs more than ``limits`` allow."""
    render = project.render
    limits.check_render(
        duration=duration, width=render.width, height=render.height, fps=render.fps, steps=render.steps,
        batch_size=render.batch_size, keyframes=len(project.keyframes),
    )  # fmt: skip


def largest_side(limits: Limits) -> int:
    """The longest frame side a server's size controls offer, pixels (multiples of 64, 64–2048)."""
    if limits.max_pixels is None:
        return 2048
    return max(64, min(2048, int(math.sqrt(limits.max_pixels) * 1.5) // 64 * 64))


def most_steps(limits: Limits) -> int:
    """The most denoising steps a server's steps control offers."""
    return limits.max_steps or 50


def largest_batch(limits: Limits) -> int:
    """The largest batch a server's batch size control offers."""
    return limits.max_batch_size or 64


def fit_to_limits(
    project: Project, limits: Limits, *, model: str, offered: list[str] | None = None
) -> tuple[Project, list[str]]:
    """The project with its render settings inside what a server offers, and what was changed,
    e.g. ``"steps 25 → 8"``.

    A project from a duplicated Space or the CLI may ask for more steps, a larger size or another
    model than this server allows (``model`` takes the place of one not in ``offered``, by default
    :func:`~pipelines.diffusion.families.offered_models`); they are brought in here, in the open,
    instead of being refused.
    """
    render = project.render
    changes, notes = {}, []
    tops = {"width": largest_side(limits), "height": largest_side(limits), "steps": most_steps(limits)}
    tops["batch_size"] = largest_batch(limits)
    for name, top in tops.items():
        if getattr(render, name) > top:
            notes.append(f"{name} {getattr(render, name)} → {top}")
            changes[name] = top
    if render.model not in (offered_models() if offered is None else offered):
        notes.append(f"model {render.model} → {model}")
        changes["model"] = model
    if not changes:
        return project, []
    return project.replace(render=render.model_dump() | changes), notes


def sign_analysis(data: dict, key: bytes) -> dict:
    """An analysis (``Analysis.to_dict()``) with the server's signature added (``"signature"``).

    A server plans and proposes only on analyses it made itself: one sent back unchanged carries a
    valid signature, one that a client wrote or altered (a 10-hour duration, NaN beats) does not.
    """
    return {**data, "signature": _signature(data, key)}


def verified_analysis(data: dict, key: bytes):
    """The :class:`~pipelines.music.analysis.Analysis` of a signed analysis; refused unless its
    signature is this server's (:func:`sign_analysis`)."""
    from pipelines.music.analysis import Analysis

    data = dict(data)
    signature = data.pop("signature", None)
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(data, key)):
        raise BeatwalkError(
            "the analysis was not made by this server (or was changed): send back what /analyze "
            "returned, unchanged (a restarted server signs anew: analyse again)"
        )
    return Analysis.from_dict(data)


def _signature(data: dict, key: bytes) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
