"""The prepared GPU run: every figure issue 22 asks of one H100/H200, in one process, in minutes.

Real-size architectures with random weights (``pipelines.diffusion.tiny.real_size_pipeline``;
speed does not depend on the weights), half precision, 512², walks of distinct frames from seed
noise to H.264 (:func:`benchmarks.gpu_walk.measure`, encoding included):

- sd-turbo, 1 step: the full VAE and the fast decoder (AutoencoderTiny), batches 8–64 and the
  batch ``"auto"`` picks by its memory probe;
- SDXL-turbo, 1 and 4 steps, batch 8 and ``"auto"``;
- per setting: frames per second end to end, peak GPU memory, the seconds per frame and step the
  Space's GPU-time estimate should use (``families.ModelFamily.seconds_per_step``: the render's
  whole time per frame over its steps), and the fraction of the physical limit reached: the
  FLOPs of one UNet step and one VAE decode (counted by ``torch.utils.flop_counter`` on the
  architecture itself) times the frames per second, against 800 TFLOP/s (dense half precision).

Each setting that fails (out of memory, a kernel missing) prints its one line and the run goes on.
Appends a table to ``benchmarks/RESULTS.md``. ``--tiny`` runs the same code on the CPU with the
tiny model (a check of the script, not a measurement)::

    python -m benchmarks.gpu_suite                  # on the GPU machine: about 4 minutes
    python -m benchmarks.gpu_suite --tiny --no-record
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from benchmarks.gpu_walk import measure, walk_plan, walk_project
from benchmarks.results import record

YARDSTICK_TFLOPS = 800.0
"""Dense half-precision TFLOP/s of one H100/H200 (the issue's yardstick)."""

GPU_SETTINGS = [
    # (architecture, steps, fast decoder, batch sizes)
    ("sd-turbo", 1, False, [8, 16, 32, 64, "auto"]),
    ("sd-turbo", 1, True, [8, 16, 32, 64, "auto"]),
    ("sdxl-turbo", 1, False, [8, "auto"]),
    ("sdxl-turbo", 4, False, [8, "auto"]),
]
CPU_SETTINGS = [("tiny", 1, False, [2, "auto"]), ("tiny", 2, False, [2])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (checks the script)")
    parser.add_argument("--size", type=int, default=None, help="frame side, px (default 512; 64 with --tiny)")
    parser.add_argument("--frames", type=int, default=None, help="timed frames per setting (default 240; 16 with --tiny)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU here (use --tiny for a CPU check of the script)", file=sys.stderr)
        return 2
    size = args.size or (64 if args.tiny else 512)
    frames = args.frames or (16 if args.tiny else 240)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.benchmark = True

    rows, started = [], time.monotonic()
    pipes = {}
    for arch, steps, fast, batches in CPU_SETTINGS if args.tiny else GPU_SETTINGS:
        try:
            pipe = pipes.get((arch, fast)) or _pipeline(arch, fast, device)
        except Exception as exc:  # noqa: BLE001  (a setting that cannot run is a line of the table)
            rows.append(_failed(arch, steps, fast, "-", exc))
            continue
        pipes = {(arch, fast): pipe}  # one pipeline at a time: the next architecture needs the memory
        flops = _flops_per_frame(pipe, size, steps)
        for batch in batches:
            try:
                chosen = _batch(pipe, size, batch, device)
                project = walk_project(arch, size=size, steps=steps, batch_size=chosen, fast_decoder=fast)
                result = measure(pipe, project, walk_plan(frames), warmup_frames=2 * chosen)
            except Exception as exc:  # noqa: BLE001
                rows.append(_failed(arch, steps, fast, batch, exc))
                if device == "cuda":
                    torch.cuda.empty_cache()
                continue
            row = dict(arch=arch, steps=steps, fast=fast, batch=f"auto → {chosen}" if batch == "auto" else str(batch),
                       **result, flops=flops)  # fmt: skip
            rows.append(row)
            print(_line(row), flush=True)
    table = _table(rows, size)
    print(f"\n{table}\n\n{time.monotonic() - started:.0f} s in all", flush=True)
    if not args.no_record:
        where = torch.cuda.get_device_name() if device == "cuda" else "the CPU (a check of the script)"
        record("GPU suite", script="gpu_suite", argv=argv, text=table,
               setup=f"{where}, torch {torch.__version__}, {time.monotonic() - started:.0f} s in all",
               more=(f"Random weights, real sizes; {frames} distinct frames per setting, encoding included (NVENC where it works, else libx264); "
                     f"limit: {YARDSTICK_TFLOPS:g} TFLOP/s",))  # fmt: skip
    return 0


def _pipeline(arch: str, fast: bool, device: str):
    from pipelines.diffusion.models import load_pipeline
    from pipelines.diffusion.tiny import real_size_pipeline

    if arch == "tiny":
        return load_pipeline("tiny", device=device, fast_decoder=fast)
    dtype = torch.bfloat16 if arch == "sdxl-turbo" else torch.float16
    pipe = real_size_pipeline(arch, device=device, dtype=dtype, fast_decoder=fast)
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    return pipe


def _batch(pipe, size: int, batch, device: str) -> int:
    from pipelines.diffusion.batching import auto_batch_size

    return auto_batch_size(size, size, device=device, pipe=pipe) if batch == "auto" else int(batch)


def _flops_per_frame(pipe, size: int, steps: int) -> float:
    """FLOPs of one frame: ``steps`` UNet calls and one decode, counted on the architecture."""
    from torch.utils.flop_counter import FlopCounterMode

    from pipelines.diffusion.batching import probe_inputs

    latents, conditioning = probe_inputs(pipe, size, size)
    with torch.inference_mode(), FlopCounterMode(display=False) as unet:
        pipe.unet(latents, 999, **conditioning, return_dict=False)
    with torch.inference_mode(), FlopCounterMode(display=False) as vae:
        pipe.vae.decode(latents.to(pipe.vae.dtype), return_dict=False)
    return steps * unet.get_total_flops() + vae.get_total_flops()


def _failed(arch, steps, fast, batch, exc) -> dict:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    row = dict(arch=arch, steps=steps, fast=fast, batch=str(batch), error=f"{type(exc).__name__}: {line[:160]}")
    print(f"{arch} {steps} step(s) batch {batch}: failed: {row['error']}", flush=True)
    return row


def _line(row: dict) -> str:
    peak = f", peak {row['peak_gib']:.1f} GiB" if row.get("peak_gib") is not None else ""
    return (f"{row['arch']} {row['steps']} step(s) {'fast decoder' if row['fast'] else 'full VAE'} batch {row['batch']}: "
            f"{row['fps']:.1f} fps{peak}")  # fmt: skip


def _table(rows: list[dict], size: int) -> str:
    lines = [
        f"| model, {size}² | steps | decoder | batch | fps, end to end | encoder | peak GiB | s per frame and step "
        "(the estimate's) | TFLOP per frame | share of the limit |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        head = f"| {row['arch']} | {row['steps']} | {'fast' if row['fast'] else 'full VAE'} | {row['batch']} "
        if "error" in row:
            lines.append(head + f"| failed: {row['error']} | | | | | |")
            continue
        peak = f"{row['peak_gib']:.1f}" if row.get("peak_gib") is not None else "–"
        tflops = row["fps"] * row["flops"] / 1e12
        lines.append(
            head + f"| {row['fps']:.1f} | {row['encoder']} | {peak} | {1 / row['fps'] / row['steps']:.4f} | {row['flops'] / 1e12:.2f} "
            f"| {tflops / YARDSTICK_TFLOPS:.1%} ({tflops:.0f} TFLOP/s) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
