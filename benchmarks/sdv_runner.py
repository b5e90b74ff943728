"""stable-diffusion-videos' side of the speed comparison; runs inside the sdv venv.

Started by ``benchmarks/sdv_compare.py`` with the sdv venv's Python (diffusers
≤ 0.39, transformers < 5, stable-diffusion-videos 0.9.2); it must not import
``pipelines``. It reads one JSON job from the file named on the command line
and prints one JSON line of results on stdout.

Jobs
----
``{"action": "check", "model": DIR, "prompt", "seed", "steps", "guidance", "height", "width", "out": NPY}``
    Fingerprint the weights loaded from ``DIR`` and save one keyframe image
    (sdv's own ``__call__`` with sdv's own seed noise) as float32 HxWx3 in
    ``out``, so the caller can check both tools run the same model.
``{"action": "walk", "model": DIR, "walk": {...}, "warmup": {...}}``
    Load the model (not timed), run ``warmup`` through ``walk`` (not timed:
    the first calls of a process pay one-off kernel set-up), then time
    ``StableDiffusionWalkPipeline.walk(**walk)`` end to end: audio offsets,
    text encoding, denoising, PNG frames, per-clip and final mp4.

The stand-in for ``torchvision.io.write_video``
-----------------------------------------------
sdv imports ``torchvision.io.write_video`` (and ``pil_to_tensor``), and no CPU
build of torchvision exists on this machine. :func:`_install_torchvision_standin`
registers a two-function ``torchvision`` module that does the same job:
``write_video`` pipes the THWC uint8 frames into ffmpeg's libx264 with the
options sdv passes (``crf=10``, ``pix_fmt=yuv420p``) and muxes the audio
array as AAC, as torchvision does through PyAV. It uses the same ffmpeg
binary as Beatwalk, so encoding costs are comparable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import diffusers
import numpy as np
import safetensors.torch
import soundfile
import torch
import transformers
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.schedulers import SchedulerMixin
from model_timing import cpu_seconds, time_model_calls, weights_fingerprint  # beside this file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizerFast


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    # Only now that diffusers and transformers are imported: they decide at import
    # time whether torchvision is installed, and must see none.
    _install_torchvision_standin(job.get("ffmpeg"))
    from stable_diffusion_videos import StableDiffusionWalkPipeline

    # sdv turns diffusers' logging up to INFO on import; its per-batch lines
    # only clutter the benchmark's output.
    diffusers.utils.logging.set_verbosity_warning()
    pipe = _load(StableDiffusionWalkPipeline, job["model"])
    if job["action"] == "check":
        result = _check(pipe, job)
    else:
        if job.get("warmup"):
            pipe.walk(**job["warmup"])
        model = time_model_calls(pipe)
        start, start_cpu = time.perf_counter(), cpu_seconds()
        video = pipe.walk(**job["walk"])
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
        pngs = len(list(Path(video).parent.glob("**/*.png")))
        result = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "model_cpu_seconds": model["seconds"],
            "video": str(video),
            "png_frames": pngs,
        }
    result["versions"] = {
        "stable_diffusion_videos": _version("stable_diffusion_videos"),
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
    }
    print(json.dumps(result))


def _load(pipeline_class, model_dir: str):
    """The walk pipeline from a diffusers folder saved by a newer diffusers.

    Components are loaded one by one: the folder's ``model_index.json`` names
    the stock ``StableDiffusionPipeline``, and transformers 5 saves only the
    fast tokenizer's ``tokenizer.json``. transformers 5 also saves CLIPTextModel's
    weights without the ``text_model.`` key prefix that transformers 4 expects
    (``from_pretrained`` would silently leave them random), so they are loaded
    here with the prefix put back, strictly.
    """
    root = Path(model_dir)
    scheduler_config = json.loads((root / "scheduler" / "scheduler_config.json").read_text())
    scheduler_class = getattr(diffusers, scheduler_config["_class_name"])
    assert issubclass(scheduler_class, SchedulerMixin)
    pipe = pipeline_class(
        vae=AutoencoderKL.from_pretrained(root / "vae"),
        text_encoder=_text_encoder(root / "text_encoder"),
        tokenizer=CLIPTokenizerFast.from_pretrained(root / "tokenizer"),
        unet=UNet2DConditionModel.from_pretrained(root / "unet"),
        scheduler=scheduler_class.from_config(scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _text_encoder(folder: Path) -> CLIPTextModel:
    model = CLIPTextModel(CLIPTextConfig.from_pretrained(folder))
    state = safetensors.torch.load_file(folder / "model.safetensors")
    model.load_state_dict(
        {key if key.startswith("text_model.") else f"text_model.{key}": value for key, value in state.items()}
    )
    return model.eval()


def _check(pipe, job: dict) -> dict:
    noise_shape = (1, pipe.unet.config.in_channels, job["height"] // 8, job["width"] // 8)
    latents = pipe.init_noise(job["seed"], noise_shape, torch.float32)
    image = pipe(
        prompt=job["prompt"],
        latents=latents,
        height=job["height"],
        width=job["width"],
        num_inference_steps=job["steps"],
        guidance_scale=job["guidance"],
        output_type="numpy",
    )["images"][0]
    np.save(job["out"], image.astype(np.float32))
    fingerprints = {
        name: weights_fingerprint(getattr(pipe, name)) for name in ("unet", "vae", "text_encoder")
    }
    return {"fingerprints": fingerprints, "scheduler": type(pipe.scheduler).__name__}


def _install_torchvision_standin(ffmpeg: str | None) -> None:
    """Register the two torchvision functions sdv imports (see the module docstring)."""
    ffmpeg = ffmpeg or shutil.which("ffmpeg") or _imageio_ffmpeg()

    def write_video(
        filename,
        video_array,
        fps,
        video_codec="libx264",
        options=None,
        audio_array=None,
        audio_fps=None,
        audio_codec=None,
        audio_options=None,
    ):
        frames = torch.as_tensor(video_array).to(torch.uint8).numpy()
        _, height, width, _ = frames.shape
        command = [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "-",
        ]
        with tempfile.TemporaryDirectory() as scratch:
            if audio_array is not None:
                wav = os.path.join(scratch, "audio.wav")
                soundfile.write(wav, torch.as_tensor(audio_array).numpy().T, int(audio_fps), subtype="FLOAT")
                command += ["-i", wav, "-map", "0:v", "-map", "1:a", "-c:a", audio_codec or "aac"]
            command += ["-c:v", video_codec]
            for key, value in (options or {}).items():
                command += [f"-{key}", str(value)]
            command.append(str(filename))
            subprocess.run(command, input=frames.tobytes(), check=True)

    def pil_to_tensor(image):
        array = np.asarray(image)
        array = array[:, :, None] if array.ndim == 2 else array
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    torchvision = types.ModuleType("torchvision")
    io = types.ModuleType("torchvision.io")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    io.write_video = write_video
    functional.pil_to_tensor = pil_to_tensor
    torchvision.io, torchvision.transforms, transforms.functional = io, transforms, functional
    sys.modules.update(
        {
            "torchvision": torchvision,
            "torchvision.io": io,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def _imageio_ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name.replace("_", "-"))


if __name__ == "__main__":
    main()
