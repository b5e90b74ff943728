"""End-to-end walk speed: frames per second from seed noise to H.264 in ffmpeg.

Real-size architectures with random weights (no download): ``sd-turbo`` is the
SD 2.1 UNet (865.9 M parameters) with its OpenCLIP-H text encoder and the SD
VAE; ``sdxl-turbo`` the SDXL UNet (2.567 G) with both text encoders. Random
weights give noise images, but every layer has its real size, so the speed is
the real model's. ``--tiny`` uses the built-in tiny model instead, so the
script itself runs (and is checked) on a CPU.

Every timed frame is distinct (a walk through four keyframes with a pulse on
every beat, no holds), is denoised, decoded, copied to the CPU and encoded by
:class:`pipelines.render.video.VideoWriter` (the encoder a render here would choose: NVENC where it works, else libx264). A few
untimed batches first warm up the kernels (and ``torch.compile`` if asked).

Examples
--------
On a GPU (needs torch, transformers, accelerate, diffusers, pydantic, numpy and
an ffmpeg on PATH or imageio-ffmpeg)::

    python -m benchmarks.gpu_walk --arch sd-turbo --steps 1 --batch-size 8 16
    python -m benchmarks.gpu_walk --arch sdxl-turbo --steps 1 4 --batch-size 8
    BEATWALK_COMPILE=1 python -m benchmarks.gpu_walk --arch sd-turbo --fast-decoder

On a CPU, the tiny model::

    python -m benchmarks.gpu_walk --tiny --device cpu --size 128 --batch-size 1 8 --frames 48

Each run prints one line per setting and appends them to ``benchmarks/RESULTS.md``
(``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pipelines.diffusion.conditioning import KeyframeConditioning
from pipelines.diffusion.models import load_pipeline, resolve_dtype
from pipelines.diffusion.tiny import real_size_pipeline
from pipelines.diffusion.walk import walk_frames
from pipelines.plan.timeline import FramePlan
from pipelines.project import Project
from pipelines.render.video import VideoWriter, h264_encoder

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PROMPTS = [
    "a neon city at night",
    "a forest in morning fog",
    "an ocean storm, oil painting",
    "a desert of glass",
]


def walk_project(model: str, *, size: int, steps: int, batch_size: int, fast_decoder: bool) -> Project:
    keyframes = [
        {"time": 2.0 * i, "prompt": p, "seed": 100 + i, "guidance": 0.0} for i, p in enumerate(PROMPTS)
    ]
    render = {"model": model, "width": size, "height": size, "steps": steps, "batch_size": batch_size,
              "fps": 24.0, "fast_decoder": fast_decoder}  # fmt: skip
    return Project.from_dict({"audio": {"path": "benchmark.wav"}, "keyframes": keyframes, "render": render})


def walk_plan(n_frames: int, *, fps: float = 24.0, n_keyframes: int = len(PROMPTS)) -> FramePlan:
    """A walk through the keyframes at constant speed, a decaying pulse every beat (120 BPM)."""
    position = np.linspace(0, n_keyframes - 1, n_frames, endpoint=False)
    key_a = np.floor(position).astype(np.int64)
    times = np.arange(n_frames) / fps
    since_beat = times % 0.5
    pulse = 0.3 * 0.5 ** (since_beat / 0.25)
    return FramePlan(
        fps, n_frames / fps, times, key_a, key_a + 1, position - key_a, pulse, np.zeros(n_frames, bool)
    )


def measure(pipe, project: Project, plan: FramePlan, *, warmup_frames: int) -> dict:
    """Seconds and frames per second for the whole plan, encoding included."""
    render = project.render
    conditioning = KeyframeConditioning(pipe, project.keyframes, render)
    with tempfile.TemporaryDirectory() as folder:
        warm = range(min(warmup_frames, plan.n_frames))
        for _ in walk_frames(conditioning, plan, warm, batch_size=render.batch_size):
            pass
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        encoder = h264_encoder(render.encoder, str(pipe.device))  # what a render here would encode with
        started = time.perf_counter()
        with VideoWriter(
            Path(folder) / "walk.mp4", width=render.width, height=render.height, fps=plan.fps, encoder=encoder
        ) as video:
            for _, frame in walk_frames(conditioning, plan, batch_size=render.batch_size):
                video.write(frame)
        seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return {"frames": plan.n_frames, "seconds": seconds, "fps": plan.n_frames / seconds, "peak_gib": peak,
            "encoder": encoder}  # fmt: skip


def machine(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPU cores"
    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return f"{cpu}, {torch.get_num_threads()} torch threads, load {os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["sd-turbo"], choices=["sd-turbo", "sdxl-turbo"])
    parser.add_argument("--tiny", action="store_true", help="the built-in tiny model (CPU check)")
    parser.add_argument("--device", default=None, help="cuda or cpu; default cuda when available")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, nargs="+", default=[1])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[8])
    parser.add_argument("--frames", type=int, default=240, help="timed frames (default 10 s at 24 fps)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed frames first (default 2 batches)")
    parser.add_argument(
        "--fast-decoder", action="store_true", help="AutoencoderTiny decoder (random weights)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    lines = []
    for arch in ["tiny"] if args.tiny else args.arch:
        dtype = resolve_dtype(args.dtype, device=device, sdxl=arch == "sdxl-turbo")
        if arch == "tiny":
            pipe = load_pipeline("tiny", dtype=args.dtype, device=device, fast_decoder=args.fast_decoder)
        else:
            pipe = real_size_pipeline(arch, device=device, dtype=dtype, fast_decoder=args.fast_decoder)
            if device.startswith("cuda"):
                pipe.unet.to(memory_format=torch.channels_last)
                pipe.vae.to(memory_format=torch.channels_last)
                if os.environ.get("BEATWALK_COMPILE", "") not in ("", "0"):
                    pipe.unet = torch.compile(pipe.unet, fullgraph=True)
        for steps in args.steps:
            for batch_size in args.batch_size:
                project = walk_project(arch, size=args.size, steps=steps, batch_size=batch_size,
                                       fast_decoder=args.fast_decoder)  # fmt: skip
                warmup = 2 * batch_size if args.warmup is None else args.warmup
                result = measure(pipe, project, walk_plan(args.frames), warmup_frames=warmup)
                peak = f", peak {result['peak_gib']:.1f} GiB" if result["peak_gib"] is not None else ""
                line = (
                    f"{arch} {args.size}² {steps} step{'s' * (steps > 1)} "
                    f"batch {batch_size} {str(dtype).removeprefix('torch.')}"
                    f"{' fast-decoder' if args.fast_decoder else ''}: {result['fps']:.1f} fps "
                    f"({result['frames']} frames in {result['seconds']:.1f} s, {result['encoder']} encoding included{peak})"
                )
                print(line, flush=True)
                lines.append(line)
    if not args.no_record:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        command = "python -m benchmarks.gpu_walk " + shlex.join(argv if argv is not None else sys.argv[1:])
        compiled = " · BEATWALK_COMPILE=1" if os.environ.get("BEATWALK_COMPILE", "") not in ("", "0") else ""
        header = f"- {stamp} · {machine(device)} · torch {torch.__version__}{compiled} · `{command}`"
        with RESULTS.open("a", encoding="utf-8") as results:
            results.write("\n".join([header, *(f"  - {line}" for line in lines)]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
