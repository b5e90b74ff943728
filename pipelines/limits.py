"""Limits on the work one request may ask for, set by environment variables.

The public Space keeps them low; a duplicated Space or a local run lifts them
by setting the variables (``0`` or ``none`` means no limit). The CLI applies
only the song-length limit, and only when its variable is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from pipelines.errors import BeatwalkError
from pipelines.frames import frame_count


@dataclass(frozen=True)
class Limits:
    """What one request may ask for. ``None`` means unlimited."""

    max_song_seconds: float | None = 600.0
    max_pixels: int | None = 768 * 768
    max_frames: int | None = 6000
    max_steps: int | None = 8
    max_concurrent_renders: int | None = 1
    max_upload_mb: float | None = 50.0
    max_batch_size: int | None = 32
    max_keyframes: int | None = 300
    max_compose_seconds: float | None = 60.0
    max_variations: int | None = 2
    max_live_sessions: int | None = 1
    max_live_seconds: float | None = 600.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **defaults) -> Limits:
        """Read ``BEATWALK_MAX_SONG_SECONDS``, ``BEATWALK_MAX_PIXELS``, … over the defaults."""
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            default = defaults.get(field.name, field.default)
            name = "BEATWALK_" + field.name.upper()
            raw = environ.get(name)
            if raw is None or raw.strip() == "":
                values[field.name] = default
                continue
            if raw.strip().lower() in {"0", "none", "unlimited", "off"}:
                values[field.name] = None
                continue
            try:
                number = float(raw)
            except ValueError:
                raise BeatwalkError(f"{name} must be a number, got {raw!r}") from None
            if number < 0:
                raise BeatwalkError(f"{name} must not be negative, got {raw!r}")
            values[field.name] = int(number) if field.type in ("int | None",) else number
        return cls(**values)

    def check_plan(self, *, duration: float, fps: float, keyframes: int = 1) -> None:
        """Refuse a frame plan larger than these limits (song length, frames, keyframes), with one
        line naming the variable that lifts it.

        Parameters
        ----------
        duration : float > 0
            Length of the song segment, seconds.
        fps : float
            Frames per second.
        keyframes : int
            Keyframes, each a prompt to encode and a noise to draw.
        """
        if self.max_song_seconds is not None and duration > self.max_song_seconds:
            raise BeatwalkError(
                f"song segment is {duration:.0f} s, over the limit of {self.max_song_seconds:g} s "
                "(pick a shorter segment, or set BEATWALK_MAX_SONG_SECONDS)"
            )
        frames = frame_count(duration, fps)
        if self.max_frames is not None and frames > self.max_frames:
            raise BeatwalkError(
                f"{frames} frames ({duration:.0f} s at {fps:g} fps) is over the limit of {self.max_frames} "
                "(lower the fps, pick a shorter segment, or set BEATWALK_MAX_FRAMES)"
            )
        if self.max_keyframes is not None and keyframes > self.max_keyframes:
            raise BeatwalkError(
                f"{keyframes} keyframes is over the limit of {self.max_keyframes} (set BEATWALK_MAX_KEYFRAMES)"
            )

    def check_render(
        self, *, duration: float, width: int, height: int, fps: float, steps: int, batch_size: int = 1,
        keyframes: int = 1,
    ) -> None:  # fmt: skip
        """Refuse a render larger than these limits, with one line naming the variable that lifts it.

        Parameters
        ----------
        duration, fps, keyframes
            As for :meth:`check_plan`.
        width, height : int
            Frame size, pixels.
        steps : int
            Denoising steps per frame.
        batch_size : int
            Frames denoised together (memory grows with it).
        """
        self.check_plan(duration=duration, fps=fps, keyframes=keyframes)
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise BeatwalkError(
                f"size {width}×{height} is over the limit of {self.max_pixels} pixels per frame "
                "(set BEATWALK_MAX_PIXELS)"
            )
        if self.max_steps is not None and steps > self.max_steps:
            raise BeatwalkError(f"{steps} steps is over the limit of {self.max_steps} (set BEATWALK_MAX_STEPS)")
        if self.max_batch_size is not None and batch_size > self.max_batch_size:
            raise BeatwalkError(
                f"a batch of {batch_size} frames is over the limit of {self.max_batch_size} "
                "(set BEATWALK_MAX_BATCH_SIZE)"
            )

    def check_compose(self, *, seconds: float, variations: int = 1) -> None:
        """Refuse a composition longer, or with more variations, than these limits, with one line
        naming the variable that lifts it."""
        if self.max_compose_seconds is not None and seconds > self.max_compose_seconds:
            raise BeatwalkError(
                f"a song of {seconds:g} s is over the limit of {self.max_compose_seconds:g} s for composing "
                "(ask for a shorter one, or set BEATWALK_MAX_COMPOSE_SECONDS)"
            )
        if self.max_variations is not None and variations > self.max_variations:
            raise BeatwalkError(
                f"{variations} variations is over the limit of {self.max_variations} (set BEATWALK_MAX_VARIATIONS)"
            )
