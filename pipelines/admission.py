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
import re
from pathlib import Path

from pipelines.diffusion.families import check_offered, offered_models, takes_init_images
from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.project import NO_SONG, Project

INIT_IMAGE_NAME = re.compile(r"init-[0-9a-f]{16}\.png")
"""The names :func:`save_init_image` gives the init images it keeps."""

MAX_INIT_IMAGE_BYTES = 20_000_000
MAX_INIT_IMAGE_PIXELS = 4096 * 4096
KEPT_INIT_IMAGE_SIDE = 2048


def from_stranger(project: Project, *, song: str | None, images: Path | None = None) -> Project:
    """A project as a server may use it: its song is the one uploaded there (``song``; ``NO_SONG``
    when none is yet), and it names no other file but init images the server kept itself in
    ``images`` (:func:`save_init_image`; the visitor's own session folder).

    Raises
    ------
    BeatwalkError
        A keyframe names any other init image (the server would open a path from the project).
    """
    for number, keyframe in enumerate(project.keyframes, start=1):
        if keyframe.init_image is not None and not _kept_here(keyframe.init_image, images):
            if images is not None and _named_here(keyframe.init_image, images):
                raise BeatwalkError(f"keyframe {number}'s picture is no longer on the server: set it again")
            raise BeatwalkError(
                f"keyframe {number} has an init image: a server opens no file that a project names"
            )
    return project.replace(audio=project.audio.model_copy(update={"path": song or NO_SONG}))


def without_init_images(project: Project) -> tuple[Project, int]:
    """The project with no keyframe naming an init image (an import's paths are not opened), and
    how many were dropped."""
    dropped = sum(k.init_image is not None for k in project.keyframes)
    if not dropped:
        return project, 0
    keyframes = [k.model_copy(update={"init_image": None, "init_strength": 0.6}) for k in project.keyframes]
    return project.replace(keyframes=keyframes), dropped


def save_init_image(upload: str | Path, folder: Path) -> Path:
    """Keep an uploaded picture as an init image in ``folder``: decoded and written again as an RGB
    PNG (at most :data:`KEPT_INIT_IMAGE_SIDE` pixels a side), named by its content.

    Raises a one-line ``BeatwalkError`` for a file that is too large or not a picture.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(upload)
    try:
        if path.stat().st_size > MAX_INIT_IMAGE_BYTES:
            raise BeatwalkError(f"the init image is too large (over {MAX_INIT_IMAGE_BYTES // 1_000_000} MB)")
        with Image.open(path, formats=("PNG", "JPEG", "WEBP")) as image:
            width, height = image.size  # read from the header, before any pixel is decoded
            if width * height > MAX_INIT_IMAGE_PIXELS:
                raise BeatwalkError(
                    f"the init image is too large ({width}×{height}; at most {MAX_INIT_IMAGE_PIXELS // 1_000_000} megapixels)"
                )
            picture = ImageOps.exif_transpose(image).convert("RGB")  # a phone photo the right way up
    except BeatwalkError:
        raise
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        raise BeatwalkError("the init image cannot be read: upload a PNG, JPEG or WebP picture") from None
    picture.thumbnail((KEPT_INIT_IMAGE_SIDE, KEPT_INIT_IMAGE_SIDE))
    digest = hashlib.sha256(picture.tobytes() + repr(picture.size).encode()).hexdigest()[:16]
    kept = folder / f"init-{digest}.png"
    if not kept.exists():
        partial = kept.with_suffix(".part")
        picture.save(partial, format="PNG")
        partial.replace(kept)
    return kept


def _named_here(name: str, images: Path) -> bool:
    """Whether ``name`` names an init image of ``images`` that is gone (its folder swept)."""
    path = Path(name)
    return _in_folder(path, images) and not path.exists() and not path.is_symlink()


def _in_folder(path: Path, images: Path) -> bool:
    """Whether ``path`` has an init image's name and lies directly in ``images``."""
    return INIT_IMAGE_NAME.fullmatch(path.name) is not None and path.parent.resolve() == images.resolve()


def _kept_here(name: str, images: Path | None) -> bool:
    """Whether ``name`` is an init image that :func:`save_init_image` kept in ``images``."""
    if images is None:
        return False
    path = Path(name)
    return _in_folder(path, images) and not path.is_symlink() and path.is_file()


def for_download(project: Project, *, song: str | None) -> Project:
    """The project as a person downloads it (or the browser keeps it): its song and init images
    named by their file names only (no server path), as the CLI reads them from beside the
    project file."""
    keyframes = [
        k.model_copy(update={"init_image": Path(k.init_image).name}) if k.init_image else k
        for k in project.keyframes
    ]
    return project.replace(
        audio=project.audio.model_copy(update={"path": Path(song).name if song else NO_SONG}),
        keyframes=keyframes,
    )


def admit_render(
    project: Project, *, song: str | None, duration: float, limits: Limits, images: Path | None = None
) -> Project:
    """Check a render before any GPU time is spent on it; returns the project pointed at ``song``.

    Parameters
    ----------
    duration : float
        Length of the analysed song segment, seconds.
    images : Path, optional
        The folder of the init images this server kept for the visitor (:func:`from_stranger`).
    """
    if not song:
        raise BeatwalkError("upload a song first")
    project = from_stranger(project, song=song, images=images)
    check_offered(project.render.model)
    check_init_images(project)
    project.validate_against(duration)
    check_costs(project, duration=duration, limits=limits)
    return project


def admit_preview(project: Project, *, limits: Limits) -> None:
    """Check the model, size, steps and keyframes (what a single still costs) before a preview."""
    check_offered(project.render.model)
    check_init_images(project)
    # No song length or frame count is at stake for one still.
    check_costs(project, duration=0.0, limits=limits)


def check_init_images(project: Project) -> None:
    """Refuse init images with a model whose walk cannot start from them."""
    numbers = [n for n, k in enumerate(project.keyframes, start=1) if k.init_image]
    if numbers and not takes_init_images(project.render.model):
        raise BeatwalkError(
            f"keyframe {numbers[0]} has an init image, which model {project.render.model!r} cannot start from "
            "(SD 1.x/2.x models can): clear it or choose another model"
        )


def check_costs(project: Project, *, duration: float, limits: Limits) -> None:
    """Refuse a project whose render of ``duration`` seconds costs more than ``limits`` allow."""
    render = project.render
    limits.check_render(
        duration=duration, width=render.width, height=render.height, fps=render.fps, steps=render.steps,
        batch_size=1 if render.batch_size == "auto" else render.batch_size, keyframes=len(project.keyframes),
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
        if getattr(render, name) != "auto" and getattr(render, name) > top:  # "auto" batches stay within any limit
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
