"""The project: one serialisable description of a music video.

A project names the song (and the segment of it used), the prompt keyframes
on its timeline, how the visuals follow the music, and how to render. The
Space's tabs edit it, ``gradio_client`` sends it as JSON, the CLI reads it
from a file, and every rendered mp4 gets it back as a sidecar ``.json``, so
any video can be rendered again exactly.

Times are in seconds from the start of the segment (``audio.start``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.errors import BeatwalkError, first_error  # noqa: F401  (first_error: also imported from here)
from pipelines.music.compose import Composition
from pipelines.music.tempo_range import check_tempo_range

PROJECT_VERSION = 1
NO_SONG = "song"
"""``audio.path`` of a project that names no file yet: one a server received, waiting for its upload."""

Transition = Literal["walk", "linear", "beats", "cut"]
"""How the move from a keyframe into the next one is shaped.

- ``walk``: speed follows the music (reactivity source and strength), eased.
- ``linear``: constant speed, eased, ignoring the music.
- ``beats``: moves in steps that land on beats.
- ``cut``: stays, then jumps to the next keyframe on the downbeat nearest to it.
"""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class AudioRef(_Model):
    """The song, the segment of it that the video covers, and how its beat is read."""

    path: str = Field(min_length=1, description="Song file; relative paths are relative to the project file.")
    start: float = Field(0.0, ge=0, description="Segment start in the song, seconds.")
    end: float | None = Field(None, gt=0, description="Segment end in the song, seconds; None: the end.")
    tempo_range: tuple[float, float] | None = Field(
        None,
        description="Slowest and fastest tempo the beat tracker may follow, BPM; None: 45-230 "
        "(pipelines.music.tempo_range.TEMPO_RANGE). Narrow it when the beats come out at twice or half the "
        "song's tempo.",
    )
    composition: Composition | None = Field(
        None, description="How the song was composed by Beatwalk, when it was (the song can be made again)."
    )

    @model_validator(mode="after")
    def _segment_order(self) -> AudioRef:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"audio.end ({self.end:g} s) must be after audio.start ({self.start:g} s)")
        if self.tempo_range is not None:
            check_tempo_range(*self.tempo_range)
        return self

    def read(self, *, max_seconds: float | None = None):
        """Decode and analyse this segment of the song, its beat read in ``tempo_range``.

        Returns a :class:`pipelines.music.song.Song` ``(audio, analysis)``; ``max_seconds`` refuses
        a longer segment (None: no limit).
        """
        from pipelines.music.song import read_song

        return read_song(
            self.path, start=self.start, end=self.end, tempo_range=self.tempo_range, max_seconds=max_seconds
        )


    def analysis(self, *, max_seconds: float | None = None):
        """The analysis of :meth:`read` (no audio), kept on disk and read back for the same song
        segment (:mod:`pipelines.music.cache`)."""
        from pipelines.music.cache import cached_analysis

        return cached_analysis(
            self.path, start=self.start, end=self.end, tempo_range=self.tempo_range, max_seconds=max_seconds
        )


class PromptSource(_Model):
    """What wrote a keyframe's prompt when a person did not (prompt ideas from the music)."""

    engine: str = Field(min_length=1, max_length=200, description="'composer' or 'model:<hub id>'.")
    seed: int = Field(0, ge=0, lt=2**32)
    theme: str = Field("", max_length=300)


Beats = Literal["beats", "downbeats", "onsets"]
Energy = Literal["percussive", "onset", "bass", "harmonic"]


class CameraAxis(_Model):
    """One camera axis over the song: a steady rate, a kick on each beat, and a follow of an energy.

    The motion of a frame (how far the camera moves from the frame before) is
    ``base / fps``, plus ``follow_amount · energy / fps`` (energy 0..1 of the ``follow`` curve),
    plus the kick: on each beat (downbeat, onset) the camera moves ``kick`` in all, most of it on
    the beat's frame and the rest with a half-life of ``kick_decay`` seconds. Units: zoom in
    natural-log scale (0.04: 4 % closer; negative: out), angle in degrees (positive: the picture
    turns anticlockwise), x and y in frame widths and heights (positive: the camera moves right,
    down).
    """

    base: float = Field(0.0, ge=-720, le=720, description="Steady motion per second.")
    kick: float = Field(0.0, ge=-180, le=180, description="Motion of one kick, in all.")
    kick_on: Beats = "beats"
    kick_decay: float = Field(0.08, ge=0.02, le=4, description="Half-life of a kick, seconds.")
    follow: Energy = "bass"
    follow_amount: float = Field(0.0, ge=-720, le=720, description="Motion per second at full energy.")

    @property
    def moves(self) -> bool:
        return bool(self.base or self.kick or self.follow_amount)


_AXIS_LIMITS = {"zoom": 2.0, "x": 2.0, "y": 2.0, "angle": 720.0}
"""The largest |base|, |kick| and |follow_amount| per axis (zoom: e² per second; x, y: two frames)."""


class CameraSettings(_Model):
    """Zoom, rotation and 2-D translation over the song (all still by default)."""

    zoom: CameraAxis = CameraAxis()
    angle: CameraAxis = CameraAxis()
    x: CameraAxis = CameraAxis()
    y: CameraAxis = CameraAxis()
    border: Literal["reflect", "wrap", "replicate"] = Field(
        "reflect", description="What shows where the moved picture leaves the frame: never black."
    )
    ease: float = Field(0.5, ge=0, le=8, description="Seconds to blend into another keyframe's camera.")

    @model_validator(mode="after")
    def _axes_in_range(self) -> CameraSettings:
        for name, limit in _AXIS_LIMITS.items():
            axis = getattr(self, name)
            for term in ("base", "kick", "follow_amount"):
                if abs(getattr(axis, term)) > limit:
                    raise ValueError(
                        f"camera {name}.{term} must be within ±{limit:g}, got {getattr(axis, term):g}"
                    )
        return self

    @property
    def moves(self) -> bool:
        return any(getattr(self, name).moves for name in _AXIS_LIMITS)


class FeedbackSettings(_Model):
    """The feedback renderer: each frame is the one before, moved by the camera and diffused again."""

    strength: float = Field(
        0.4, ge=0, le=1, description="img2img strength between beats (0: no new diffusion)."
    )
    beat_strength: float = Field(0.6, ge=0, le=1, description="img2img strength at a beat's full pulse.")
    color_coherence: Literal["lab", "rgb", "hsv", "none"] = Field(
        "lab", description="Match each frame's colours to its keyframes' stills against drift."
    )
    cadence: int = Field(
        1, ge=1, le=8, description="Diffuse every k-th frame; the frames between are moved only."
    )


class Keyframe(_Model):
    """A prompt pinned to a time on the song's timeline."""

    time: float = Field(ge=0, description="Seconds from the start of the segment.")
    prompt: str = Field(min_length=1, max_length=2000)
    negative_prompt: str = Field("", max_length=2000)
    seed: int = Field(0, ge=0, lt=2**32)
    guidance: float | None = Field(
        None, ge=0, le=30, description="Classifier-free guidance; None: the model's default. ≤ 1 skips it."
    )
    init_image: str | None = Field(None, description="Optional image file to start from.")
    init_strength: float = Field(
        0.6, gt=0, le=1, description="How far from the init image (img2img strength)."
    )
    hold: float = Field(
        0.0, ge=0, le=3600, description="Stay on this keyframe's image for this long after its time."
    )
    hold_unit: Literal["beats", "seconds"] = "beats"
    transition: Transition = Field("walk", description="How the move into the next keyframe is shaped.")
    idea: PromptSource | None = Field(None, description="What wrote the prompt, if it was suggested.")
    camera: CameraSettings | None = Field(
        None, description="The camera from this keyframe on; None: as before."
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, prompt: str) -> str:
        if not prompt.strip():
            raise ValueError("prompt must not be empty")
        return prompt


class MotionSettings(_Model):
    """How the walk follows the music."""

    reactivity_source: Literal["percussive", "onset", "bass"] = "percussive"
    reactivity: float = Field(
        0.7, ge=0, le=1, description="0: linear time; 1: speed fully follows the energy."
    )
    smoothing: float = Field(0.1, ge=0, le=2, description="Smoothing of the energy curve, seconds.")
    easing: Literal["linear", "sine", "cubic", "smoothstep"] = "sine"
    pulse: float = Field(0.3, ge=0, le=1, description="Size of the push on each beat; 0: none.")
    # A sharp push lands the visual peak on the beat; a long tail adds off-beat peaks (benchmarks/sync.py).
    pulse_decay: float = Field(0.08, ge=0.02, le=4, description="Half-life of a pulse, seconds.")
    pulse_on: Literal["beats", "downbeats", "onsets"] = "beats"
    offset: float = Field(
        0.0,
        ge=-0.5,
        le=0.5,
        description="Shift of the visuals against the audio, seconds; > 0: visuals later.",
    )


class RenderSettings(_Model):
    """How frames are made and encoded."""

    model: str = Field("tiny", min_length=1, description="Hub id, local diffusers folder, or 'tiny'.")
    width: int = Field(512, ge=64, le=2048, multiple_of=8)
    height: int = Field(512, ge=64, le=2048, multiple_of=8)
    fps: float = Field(24.0, ge=1, le=60)
    steps: int = Field(4, ge=1, le=150)
    batch_size: Annotated[int, Field(ge=1, le=256)] | Literal["auto"] = Field(
        "auto",
        description="Frames denoised together; 'auto': chosen for the device and frame size when rendering "
        "(pipelines.diffusion.batching), and kept by the job and the sidecar.",
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    fast_decoder: bool = Field(False, description="Decode with AutoencoderTiny (faster, slightly softer).")
    renderer: Literal["walk", "feedback"] = Field(
        "walk",
        description="walk: every frame from noise on the latent path; feedback: from the frame before.",
    )
    encoder: Literal["auto", "libx264", "h264_nvenc"] = Field(
        "auto",
        description="H.264 encoder of the chunks; 'auto': NVENC on a CUDA GPU where ffmpeg can use it, "
        "else libx264 (pipelines.render.video.h264_encoder), kept by the job for its resume.",
    )


class Project(_Model):
    """Everything needed to render one music video, exactly."""

    version: int = PROJECT_VERSION
    audio: AudioRef
    keyframes: list[Keyframe] = Field(min_length=1, max_length=10_000)
    motion: MotionSettings = MotionSettings()
    camera: CameraSettings = CameraSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    render: RenderSettings = RenderSettings()

    @model_validator(mode="after")
    def _feedback_has_steps(self) -> Project:
        if self.render.renderer == "feedback" and self.render.steps < 2:
            raise ValueError(
                "the feedback renderer needs at least 2 denoising steps (with 1, every frame starts from noise): "
                "raise the steps or use the walk"
            )
        return self

    @model_validator(mode="after")
    def _keyframes_in_order(self) -> Project:
        times = [k.time for k in self.keyframes]
        # Numbered from 1, as the page's table and the frame plan show them.
        for n, (a, b) in enumerate(zip(times, times[1:]), start=2):
            if b == a:
                raise ValueError(f"keyframes {n - 1} and {n} have the same time ({a:g} s)")
            if b < a:
                raise ValueError(
                    f"keyframe times must increase: keyframe {n} ({b:g} s) comes before {n - 1} ({a:g} s)"
                )
        return self

    def validate_against(self, duration: float) -> None:
        """Check what depends on the song: every keyframe lies inside the segment.

        Parameters
        ----------
        duration : float > 0
            Length of the analysed segment, seconds.
        """
        for n, k in enumerate(self.keyframes, start=1):
            if k.time >= duration:
                raise BeatwalkError(
                    f"keyframe {n} is at {k.time:g} s, outside the song segment (0–{duration:g} s)"
                )

    def replace(self, **fields) -> Project:
        """A validated copy with some top-level fields replaced (``model_copy`` would skip the checks).

        Values may be models or plain data (``keyframes=[Keyframe, ...]``, ``render={...}``).
        """

        def plain(value):
            return value.model_dump() if isinstance(value, BaseModel) else value

        data = self.model_dump()
        for name, value in fields.items():
            data[name] = [plain(v) for v in value] if isinstance(value, list) else plain(value)
        return Project.from_dict(data)

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Project:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BeatwalkError(f"project is not valid JSON: {exc}") from None
        except RecursionError:
            raise BeatwalkError("project is not valid JSON: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: object) -> Project:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise BeatwalkError(f"invalid project: {first_error(exc)}") from None

    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read a project file; a relative ``audio.path`` becomes relative to the file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BeatwalkError(f"project file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BeatwalkError(f"cannot read project file {path}: {exc}") from None
        project = cls.from_json(text)
        song = Path(project.audio.path)
        if not song.is_absolute():
            project.audio.path = str((path.parent / song).resolve())
        return project

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path
