"""The feedback renderer (Deforum's method): each frame is the frame before, moved by the camera and
diffused again.

Frame ``i`` is made from frame ``i − 1``:

1. **move**: the picture is warped by the camera's motion of frame ``i``
   (:func:`pipelines.diffusion.warp.warp_frame`; the border mirrored, wrapped or stretched, never black);
2. **colour coherence**: its colours are matched to the stills of the two keyframes the frame lies
   between (mixed by the frame's position ``t``), against the drift of repeated img2img;
3. **re-diffuse**: img2img at a strength that follows the music — ``feedback.strength`` between
   beats, rising to ``feedback.beat_strength`` at a beat's full pulse (the plan's pulse, so
   ``motion.pulse_on`` and ``pulse_decay`` shape it) — conditioned on the walk's interpolated
   prompt embedding, with the walk's seed noise (slerped between keyframes, pushed on the beat).
   The noise changes with the music only, as the walk's does: a fresh noise per frame (Deforum's
   ``iter`` seeds) changes the picture on every frame and buries the beat (benchmarks/camera.py).

With ``cadence`` k, only frames whose index is a multiple of k are diffused (1 – 3); the frames
between are moved only (1). Frame 0 and the first frame after a cut are drawn from noise as the
walk draws them. A frame depends only on the frame before (kept as exact uint8) and on what the
project says, so a chunk that starts from its predecessor's last frame renders exactly what an
uninterrupted render gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import SimpleNamespace

import numpy as np
import torch

from pipelines.diffusion.conditioning import FrameState, KeyframeConditioning
from pipelines.diffusion.walk import _beat_numbers, _render_batch, encode_frames, walk_frames
from pipelines.diffusion.warp import blend_matched, warp_frame
from pipelines.errors import BeatwalkError


class FeedbackRenderer:
    """Renders a plan's frames one after the other, each from the one before.

    Parameters
    ----------
    keyframes : KeyframeConditioning
        The render's encoded prompts and seed noises.
    plan : pipelines.plan.timeline.FramePlan
        ``key_a``, ``key_b``, ``t``, ``pulse``, ``cut`` per frame.
    camera : pipelines.plan.camera.CameraPath
        Motion per frame (``zoom``, ``angle``, ``x``, ``y``) and ``border``.
    settings : pipelines.project.FeedbackSettings
        ``strength``, ``beat_strength``, ``color_coherence``, ``cadence``.
    pulse_size : float
        The plan's full pulse (``motion.pulse``): the pulse over it is how far a frame's strength
        rises towards ``beat_strength``.
    """

    def __init__(self, keyframes: KeyframeConditioning, plan, camera, settings, *, pulse_size: float):
        if keyframes.steps < 2:
            raise BeatwalkError(
                "the feedback renderer needs at least 2 denoising steps (with 1, every frame starts from noise): "
                "raise the steps or use the walk"
            )
        if camera.n_frames != len(plan.t):
            raise BeatwalkError(f"the camera has {camera.n_frames} frames, the plan {len(plan.t)}")
        self.keyframes, self.plan, self.camera, self.settings = keyframes, plan, camera, settings
        self.pulse_size = pulse_size
        self.beats = _beat_numbers(np.asarray(plan.pulse, dtype=float))
        self.diffusions = 0
        """Frames diffused so far (for benchmarks: cadence k divides them by k)."""
        self._stills: dict[int, np.ndarray] = {}

    def frames(
        self, frame_indices: Sequence[int], *, previous: np.ndarray | None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Render consecutive frames; ``previous`` is the frame before the first (None for frame 0).

        Yields ``(index, frame)`` with ``frame`` a ``(height, width, 3)`` uint8 array.
        """
        frame_indices = [int(i) for i in frame_indices]
        if frame_indices and frame_indices != list(
            range(frame_indices[0], frame_indices[0] + len(frame_indices))
        ):
            raise BeatwalkError("the feedback renderer renders consecutive frames only")
        if frame_indices and frame_indices[0] > 0 and previous is None:
            raise BeatwalkError(f"frame {frame_indices[0]} needs the frame before it")
        plan = self.plan
        with torch.inference_mode():
            for i in frame_indices:
                if not 0 <= i < len(plan.t):
                    raise BeatwalkError(f"frame {i} is outside the frame plan (0–{len(plan.t) - 1})")
                state = self._state(i)
                if i == 0 or plan.cut[i]:
                    frame = self._from_noise(state)
                else:
                    frame = self._next(i, state, previous)
                previous = frame
                yield i, frame

    def _state(self, i: int) -> FrameState:
        plan = self.plan
        return FrameState.of(
            int(plan.key_a[i]), int(plan.key_b[i]), float(plan.t[i]), float(plan.pulse[i]), self.beats[i]
        )

    def _from_noise(self, state: FrameState) -> np.ndarray:
        self.diffusions += 1
        return _render_batch(self.keyframes, [state]).numpy()[0]

    def _next(self, i: int, state: FrameState, previous: np.ndarray) -> np.ndarray:
        camera, settings = self.camera, self.settings
        moved = warp_frame(
            previous,
            zoom=camera.zoom[i],
            angle=camera.angle[i],
            x=camera.x[i],
            y=camera.y[i],
            border=camera.border,
        )
        strength = self.strength(i)
        if i % settings.cadence or strength <= 0:
            return moved
        if settings.color_coherence != "none":
            references = (self._still(state.key_a), self._still(state.key_b))
            moved = blend_matched(moved, references, state.t, settings.color_coherence)
        keyframes = self.keyframes
        init = encode_frames(keyframes.pipe, moved[None], sdxl=keyframes.sdxl).to(keyframes.dtype)
        steps = keyframes.steps
        start_step = steps - max(min(int(steps * strength), steps), 1)  # at least one step runs
        self.diffusions += 1
        return _render_batch(keyframes, [state], start_step=start_step, init=init).numpy()[0]

    def strength(self, i: int) -> float:
        """img2img strength of frame ``i``: ``strength``, rising to ``beat_strength`` with the pulse."""
        settings = self.settings
        lift = min(float(self.plan.pulse[i]) / self.pulse_size, 1.0) if self.pulse_size > 0 else 0.0
        return float(
            np.clip(settings.strength + (settings.beat_strength - settings.strength) * lift, 0.0, 1.0)
        )

    def _still(self, key: int) -> np.ndarray:
        """Keyframe ``key``'s own picture (the walk's, from noise): the colour reference."""
        if key not in self._stills:
            on_keyframe = SimpleNamespace(key_a=[key], key_b=[key], t=[0.0], pulse=[0.0])
            ((_, still),) = walk_frames(self.keyframes, on_keyframe, batch_size=1)
            self._stills[key] = still
        return self._stills[key]
