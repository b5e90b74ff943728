"""Beatwalk vs stable-diffusion-videos 0.9.2: end-to-end frames per second, side by side.

Both tools render the same music video: the same tiny random-weight model
(Beatwalk's ``tiny``, saved with ``save_pretrained`` and loaded by sdv from that
folder; the weights' fingerprints and one keyframe image are checked to match),
the same prompts, seeds, steps, guidance, size, fps, batch size and song, the
same number of frames, and the same ffmpeg binary for encoding.

What is timed, on both sides, is the whole render after the model is loaded:
reading the song and turning its energy into walk speed (Beatwalk analyses the song in every
timed run: no analysis is kept from an earlier one), encoding prompts,
denoising, decoding, and writing the mp4 with the song. Model loading is
excluded from both. Every timed run is a fresh process that first loads the
model and renders a 1 s warm-up (untimed); runs of the two tools alternate,
and each setting is repeated, to limit the noise of a shared 2-core machine.
Frames are counted in the finished videos.

Besides wall-clock frames per second, each tool's CPU time is measured (its
process and its ffmpeg children: steadier than wall time on a shared machine),
and the CPU time spent inside the model calls (text encoder, UNet, VAE decoder),
which both tools share; the rest is where their designs differ.

Usage::

    python -m benchmarks.sdv_compare --setup     # once: the sdv venv (see SDV_REQUIREMENTS)
    python -m benchmarks.sdv_compare             # the comparison; appends to benchmarks/RESULTS.md
    python -m benchmarks.sdv_compare --beatwalk-defaults --sizes 64 --steps 4 --guidance 0 --prompts 3 \
        --duration 30 --batch-sizes 8,16,32 --sdv-threads 1,2   # Beatwalk as it ships against sdv at its fastest

``--beatwalk-defaults`` renders Beatwalk with its own defaults (``batch_size="auto"``, its threads and
render processes) and sdv at every batch size and thread count given, and compares Beatwalk with
sdv's fastest setting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.model_timing import cpu_seconds, time_model_calls, weights_fingerprint

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path(os.environ.get("BEATWALK_SDV_VENV", REPO.parent / "sdv-venv"))
RUNNER = REPO / "benchmarks" / "sdv_runner.py"
RESULTS = REPO / "benchmarks" / "RESULTS.md"

TORCH = "torch==2.13.0"
SDV_REQUIREMENTS = [
    "stable-diffusion-videos==0.9.2",
    "diffusers==0.39.0",
    "transformers==4.57.6",
    "tokenizers==0.22.2",
    "huggingface_hub==0.36.2",
    "librosa==0.11.0",
    "soundfile>=0.12",
    "numpy>=1.26,<2.5",
    "pillow>=10",
    "opencv-python-headless>=4.8",
    "imageio-ffmpeg>=0.5",
]
"""What sdv's ``StableDiffusionWalkPipeline.walk`` imports. sdv itself is installed
without its declared dependencies: realesrgan (→ basicsr → torchvision, no CPU build
here), gradio, av, fire and protobuf 3.20 are not used by ``walk``."""

PROMPTS = [
    "a red sunset over the sea",
    "a blue forest at night",
    "a golden desert city",
    "a green neon jungle",
]
SEEDS = [11, 22, 33, 44]
WARMUP_SECONDS = 1.0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.beatwalk_job:
        _beatwalk_worker(json.loads(Path(args.beatwalk_job).read_text()))
        return
    if args.setup:
        setup(args.venv)
        return
    if not (args.venv / "bin" / "python").exists():
        sys.exit(f"error: no sdv venv at {args.venv}: run `python -m benchmarks.sdv_compare --setup` first")
    compare_defaults(args) if args.beatwalk_defaults else compare(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setup", action="store_true", help="create the sdv venv and exit")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the sdv venv (default: %(default)s)")
    parser.add_argument("--song", help="song file (default: a synthetic 120 BPM drum song, --duration long)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of song to render (default 20)")
    parser.add_argument("--sizes", default="128,256", help="square frame sizes, px (default 128,256)")
    parser.add_argument("--batch-sizes", default="4", help="batch sizes, used by both tools (default 4)")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument(
        "--guidance", type=float, default=7.5, help="classifier-free guidance (> 1: on in both)"
    )
    parser.add_argument(
        "--prompts", type=int, default=4, choices=range(2, len(PROMPTS) + 1), help="keyframes"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch (OpenMP) threads in both tools (default 1: on a busy shared machine more "
        "threads wait on each other; use the core count on an idle one)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per tool and setting (default 3)")
    parser.add_argument(
        "--beatwalk-defaults",
        action="store_true",
        help="Beatwalk with its defaults (auto batch, its threads and processes) against sdv at its fastest "
        "of --batch-sizes x --sdv-threads",
    )
    parser.add_argument("--sdv-threads", default="1,2", help="with --beatwalk-defaults: sdv's thread counts (1,2)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--beatwalk-job", help=argparse.SUPPRESS)  # internal: one timed Beatwalk run
    return parser


# -- The sdv venv --------------------------------------------------------------------------------


def setup(venv: Path) -> None:
    """Create the sdv venv: torch first (the local CPU build), then sdv and what ``walk`` needs."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # torch first: any other torch build pulls gigabytes of CUDA wheels.
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, TORCH, *SDV_REQUIREMENTS[1:]], check=True)
    subprocess.run([*pip, "--no-deps", SDV_REQUIREMENTS[0]], check=True)
    subprocess.run(
        [
            str(python),
            "-c",
            "import diffusers, transformers, torch, librosa, cv2; "
            "print('sdv venv ready: diffusers', diffusers.__version__, 'transformers', "
            "transformers.__version__, 'torch', torch.__version__)",
        ],
        check=True,
    )


# -- The comparison ------------------------------------------------------------------------------


def compare(args) -> None:
    work, song, duration, model_dir, prompts, seeds = _prepare(args)

    versions = {
        "beatwalk": _beatwalk_versions(),
        "sdv": _check_same_model(args, model_dir, prompts[0], seeds[0], work),
    }
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            setting = dict(
                size=size,
                batch_size=batch_size,
                fps=args.fps,
                steps=args.steps,
                guidance=args.guidance,
                duration=duration,
                prompts=prompts,
                seeds=seeds,
                song=str(song),
                threads=args.threads,
            )
            runs = {"sdv": [], "beatwalk": []}
            for repeat in range(args.repeats):
                # Alternate which tool goes first, so slow spells of the machine hit both.
                for tool in ("sdv", "beatwalk") if repeat % 2 == 0 else ("beatwalk", "sdv"):
                    out = work / f"{tool}-{size}-b{batch_size}-r{repeat}"
                    run = (
                        _run_sdv(args, model_dir, setting, out)
                        if tool == "sdv"
                        else _run_beatwalk(setting, out)
                    )
                    runs[tool].append(run)
                    print(
                        f"  {size}px batch {batch_size} run {repeat + 1}: {tool:8s} {run['frames']} frames "
                        f"in {run['seconds']:.1f} s = {run['fps']:.2f} fps ({run['cpu_seconds']:.1f} CPU s)",
                        flush=True,
                    )
            rows.append(_summarize(setting, runs))
    table = _table(rows)
    print("\n" + table)
    if not args.no_record:
        _record(table, rows, versions, args)
        print(f"\nappended to {RESULTS}")


def compare_defaults(args) -> None:
    """Beatwalk as it ships (auto batch, its own threads and processes) against sdv's fastest setting."""
    work, song, duration, model_dir, prompts, seeds = _prepare(args)
    versions = {"beatwalk": _beatwalk_versions(), "sdv": _check_same_model(args, model_dir, prompts[0], seeds[0], work)}
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        base = dict(size=size, fps=args.fps, steps=args.steps, guidance=args.guidance, duration=duration,
                    prompts=prompts, seeds=seeds, song=str(song))  # fmt: skip
        sdv_settings = [dict(base, batch_size=int(b), threads=int(t))
                        for b in args.batch_sizes.split(",") for t in args.sdv_threads.split(",")]  # fmt: skip
        ours = dict(base, batch_size="auto", threads=None, floor=True)
        runs = {"beatwalk": []} | {_label(setting): [] for setting in sdv_settings}
        for repeat in range(args.repeats):
            order = [*sdv_settings, ours] if repeat % 2 == 0 else [ours, *sdv_settings]
            for setting in order:
                tool = "beatwalk" if setting is ours else "sdv"
                out = work / f"{tool}-{size}-{_label(setting)}-r{repeat}".replace(" ", "")
                run = _run_beatwalk(setting, out) if tool == "beatwalk" else _run_sdv(args, model_dir, setting, out)
                runs["beatwalk" if tool == "beatwalk" else _label(setting)].append(run)
                print(f"  {size}px run {repeat + 1}: {tool:8s} {_label(setting)}: {run['frames']} frames in "
                      f"{run['seconds']:.1f} s = {run['fps']:.2f} fps ({run['cpu_seconds']:.1f} CPU s)", flush=True)  # fmt: skip
        medians = {label: statistics.median(r["seconds"] for r in rs) for label, rs in runs.items()}
        fastest = min((label for label in medians if label != "beatwalk"), key=medians.get)
        rows.append(dict(base, runs=runs, medians=medians, fastest=fastest))
    lines = [
        "| size | steps | frames | sdv, each setting: median s | sdv fastest | Beatwalk defaults s "
        "| **Beatwalk / sdv fastest, wall** (range over runs) | CPU time ratio "
        "| Beatwalk's model calls alone s | sdv fastest / model calls alone |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours_runs, theirs = row["runs"]["beatwalk"], row["runs"][row["fastest"]]
        pairs = [t["seconds"] / o["seconds"] for t, o in zip(theirs, ours_runs)]
        cpu = statistics.median(r["cpu_seconds"] for r in theirs) / statistics.median(r["cpu_seconds"] for r in ours_runs)
        each = ", ".join(f"{label} {seconds:.1f}" for label, seconds in row["medians"].items() if label != "beatwalk")
        floor = statistics.median(r["model_floor_seconds"] for r in ours_runs)
        lines.append(
            f"| {row['size']}² | {row['steps']} | {ours_runs[0]['frames']} | {each} | {row['fastest']} "
            f"| {row['medians']['beatwalk']:.1f} | **{row['medians'][row['fastest']] / row['medians']['beatwalk']:.2f}×** "
            f"({min(pairs):.2f}–{max(pairs):.2f}) | {cpu:.2f}× | {floor:.1f} "
            f"| {row['medians'][row['fastest']] / floor:.2f}× |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    if not args.no_record:
        args.threads = f"Beatwalk its own; sdv {args.sdv_threads}"
        _record(table, rows, versions, args)
        print(f"\nappended to {RESULTS}")


def _label(setting: dict) -> str:
    if setting["batch_size"] == "auto":
        return "defaults"
    return f"batch {setting['batch_size']} x{setting['threads']}"


def _prepare(args):
    """The work folder, the song, its duration, the shared model folder, the prompts and seeds."""
    from pipelines.diffusion.models import load_pipeline
    from pipelines.music.decode import load_audio

    work = Path(tempfile.mkdtemp(prefix="beatwalk-vs-sdv-"))
    song = Path(args.song) if args.song else _drum_song(work / "song.wav", args.duration)
    duration = min(args.duration, load_audio(str(song)).duration)
    model_dir = work / "tiny-sd"
    load_pipeline("tiny").save_pretrained(model_dir)
    print(f"song {song} ({duration:.1f} s), model {model_dir}, work folder {work}", flush=True)
    return work, song, duration, model_dir, PROMPTS[: args.prompts], SEEDS[: args.prompts]


def _check_same_model(args, model_dir: Path, prompt: str, seed: int, work: Path) -> dict:
    """Both tools run the same weights: equal fingerprints and the same keyframe image."""
    import numpy as np

    from pipelines.diffusion.models import load_pipeline
    from pipelines.diffusion.walk import preview_keyframe
    from pipelines.project import Project

    pipe = load_pipeline("tiny")
    size, steps = 128, args.steps
    job = dict(
        action="check",
        model=str(model_dir),
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=args.guidance,
        height=size,
        width=size,
        out=str(work / "sdv-keyframe.npy"),
    )
    sdv = _sdv(args, job, work / "check.json")
    ours = {name: weights_fingerprint(getattr(pipe, name)) for name in ("unet", "vae", "text_encoder")}
    if ours != sdv["fingerprints"]:
        sys.exit(f"error: sdv loaded different weights: {sdv['fingerprints']} != {ours}")
    project = Project.from_dict(
        dict(
            audio={"path": "unused.wav"},
            keyframes=[dict(time=0, prompt=prompt, seed=seed, guidance=args.guidance)],
            render=dict(model="tiny", width=size, height=size, steps=steps),
        )
    )
    ours_image = np.asarray(preview_keyframe(pipe, project.keyframes, project.render, 0)).astype(np.float32)
    sdv_image = np.round(np.load(work / "sdv-keyframe.npy") * 255)
    difference = float(np.abs(ours_image - sdv_image).max())
    if difference > 2:
        sys.exit(
            f"error: the two tools' keyframe images differ by up to {difference:g} levels: not the same model"
        )
    print(
        f"same model: weights {ours}, keyframe images within {difference:g}/255, "
        f"scheduler {sdv['scheduler']}",
        flush=True,
    )
    return sdv["versions"]


def _run_sdv(args, model_dir: Path, setting: dict, out: Path) -> dict:
    n_frames = round(setting["duration"] * setting["fps"])
    segments = len(setting["prompts"]) - 1
    bounds = [round(i * n_frames / segments) for i in range(segments + 1)]
    common = dict(
        fps=setting["fps"],
        num_inference_steps=setting["steps"],
        guidance_scale=setting["guidance"],
        height=setting["size"],
        width=setting["size"],
        batch_size=setting["batch_size"],
        audio_filepath=setting["song"],
        audio_start_sec=0,
        output_dir=str(out),
    )
    walk = dict(
        common,
        name="walk",
        prompts=setting["prompts"],
        seeds=setting["seeds"],
        num_interpolation_steps=[b - a for a, b in zip(bounds, bounds[1:])],
    )
    warmup = dict(
        common,
        name="warmup",
        prompts=setting["prompts"][:2],
        seeds=setting["seeds"][:2],
        num_interpolation_steps=[round(WARMUP_SECONDS * setting["fps"])],
    )
    result = _sdv(
        args, dict(action="walk", model=str(model_dir), walk=walk, warmup=warmup, threads=setting["threads"]),
        out.with_suffix(".json"),
    )
    return _with_frames(result, Path(result["video"]))


def _run_beatwalk(setting: dict, out: Path) -> dict:
    out.mkdir(parents=True)
    job = dict(
        project=_project(setting, setting["duration"]),
        warmup=_project(setting, WARMUP_SECONDS),
        out=str(out / "walk.mp4"),
        warmup_out=str(out / "warmup.mp4"),
        floor=setting.get("floor", False),
    )
    job_file = out.with_suffix(".json")
    job_file.write_text(json.dumps(job))
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.sdv_compare", "--beatwalk-job", str(job_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        # A cache of its own: every run analyses the song, as sdv does (no analysis kept from before).
        env=dict(_env(setting["threads"]), BEATWALK_CACHE_DIR=str(out / "analyses")),
    )
    result = _last_json(completed, "Beatwalk")
    return _with_frames(result, Path(result["video"]))


def _project(setting: dict, duration: float) -> dict:
    """Keyframes where sdv's segments start; the last one on the last frame, where sdv arrives."""
    prompts, fps = setting["prompts"], setting["fps"]
    n_frames = round(duration * fps)
    times = [round(i * n_frames / (len(prompts) - 1)) / fps for i in range(len(prompts) - 1)] + [
        (n_frames - 1) / fps
    ]
    return dict(
        audio=dict(path=setting["song"], start=0.0, end=duration),
        keyframes=[
            dict(time=t, prompt=p, seed=s, guidance=setting["guidance"])
            for t, p, s in zip(times, prompts, setting["seeds"])
        ],
        render=dict(
            model="tiny",
            width=setting["size"],
            height=setting["size"],
            fps=fps,
            steps=setting["steps"],
            batch_size=setting["batch_size"],
            dtype="float32",
        ),
    )


def _beatwalk_worker(job: dict) -> None:
    """One timed Beatwalk render in this process: load, warm up, then ``render_project`` end to end."""
    import diffusers
    import torch
    import transformers

    from pipelines.diffusion.models import load_pipeline
    from pipelines.project import Project
    from pipelines.render.runner import render_project

    pipe = load_pipeline("tiny")
    render_project(Project.from_dict(job["warmup"]), job["warmup_out"], pipe=pipe)
    project = Project.from_dict(job["project"])
    model = time_model_calls(pipe)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    video = render_project(project, job["out"], pipe=pipe)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    floor = _model_floor(pipe, project) if job.get("floor") else None
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "model_cpu_seconds": model["seconds"],
                "model_floor_seconds": floor,
                "video": str(video),
                "versions": {
                    "torch": torch.__version__,
                    "diffusers": diffusers.__version__,
                    "transformers": transformers.__version__,
                },
            }
        )
    )


def _model_floor(pipe, project) -> float:
    """Wall seconds of the model calls alone that the render makes: for every frame, its steps of
    the UNet and one VAE decode, in the render's own batches, processes and threads, on random
    inputs and with nothing else running (no audio, planning, images, files or encoding). No render
    that makes these calls in this way, on this machine, can be faster: sdv's seconds over these
    are the most it could lead sdv by (batch 64 and one process of two threads measured no faster)."""
    import multiprocessing

    import torch

    from pipelines.diffusion.batching import probe_inputs

    render = project.render
    shares = _floor_shares(project, pipe)
    processes = len(shares)
    threads = max(1, torch.get_num_threads() // processes)

    def inputs(share: list[int]) -> list:
        latents, conditioning = probe_inputs(pipe, render.width, render.height)
        generator = torch.Generator().manual_seed(len(share))
        return [(torch.randn((n, *latents.shape[1:]), generator=generator), _random_rows(conditioning, n, generator))
                for n in share]  # fmt: skip

    def run(batches: list) -> None:
        with torch.inference_mode():
            for x, kwargs in batches:
                for step in range(render.steps):
                    pipe.unet(x, 999 - step, **kwargs, return_dict=False)
                pipe.vae.decode(x, return_dict=False)

    if processes == 1:  # as the render: one process forks nothing (and keeps its threads)
        batches = inputs(shares[0])
        start = time.perf_counter()
        run(batches)
        return time.perf_counter() - start

    context = multiprocessing.get_context("fork")
    ready, go = context.Barrier(processes + 1), context.Event()

    def work(share: list[int]) -> None:
        torch.set_num_threads(threads)
        batches = inputs(share)
        ready.wait()
        go.wait()
        run(batches)

    workers = [context.Process(target=work, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def _floor_shares(project, pipe) -> list[list[int]]:
    """The batch sizes each render process denoises in :func:`_model_floor`: the render's distinct
    frames (a held frame is rendered once) in its own batch size, dealt out among its processes."""
    from pipelines.diffusion.batching import render_batch_size
    from pipelines.plan.timeline import plan_frames
    from pipelines.render.processes import render_processes

    batch = render_batch_size(project, device="cpu", pipe=pipe)
    plan = plan_frames(project, project.audio.analysis())
    frames = len(set(zip(plan.key_a, plan.key_b, plan.t, plan.pulse)))
    sizes = [batch] * (frames // batch) + ([frames % batch] if frames % batch else [])
    processes = min(render_processes(), len(sizes))
    return [sizes[k::processes] for k in range(processes)]


def _random_rows(value, n: int, generator):
    """``value`` (a tensor, or a dict of them, nested) with ``n`` rows of random numbers."""
    import torch

    if isinstance(value, dict):
        return {key: _random_rows(item, n, generator) for key, item in value.items()}
    return torch.randn((n, *value.shape[1:]), generator=generator, dtype=value.dtype)


def _sdv(args, job: dict, job_file: Path) -> dict:
    job_file.parent.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps(dict(job, ffmpeg=_ffmpeg())))
    completed = subprocess.run(
        [str(args.venv / "bin" / "python"), str(RUNNER), str(job_file)],
        capture_output=True,
        text=True,
        env=_env(job.get("threads", args.threads)),
    )
    return _last_json(completed, "stable-diffusion-videos")


def _env(threads: int | None) -> dict:
    """The environment of a run: ``threads`` OpenMP threads, or (None) the tool's own choice."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return env if threads is None else dict(env, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def _last_json(completed: subprocess.CompletedProcess, tool: str) -> dict:
    if completed.returncode != 0:
        sys.exit(f"error: the {tool} run failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _with_frames(result: dict, video: Path) -> dict:
    from pipelines.render.video import probe_video

    info = probe_video(video)
    if not info.has_audio:
        sys.exit(f"error: {video} has no soundtrack")
    other = result["cpu_seconds"] - result["model_cpu_seconds"]
    return dict(
        result,
        frames=info.frames,
        fps=info.frames / result["seconds"],
        cpu_fps=info.frames / result["cpu_seconds"],
        other_fps=info.frames / other,
    )


def _ffmpeg() -> str:
    from pipelines.ffmpeg import ffmpeg_exe

    return ffmpeg_exe()


def _drum_song(path: Path, duration: float) -> Path:
    from synth.songs import drum_song, write_song

    samples, _, _ = drum_song(duration=duration, bpm=120.0)
    return write_song(path, samples)


# -- Results -------------------------------------------------------------------------------------


def _summarize(setting: dict, runs: dict) -> dict:
    """Medians per tool; the ratio of medians, and the range of the per-pair ratios."""
    row = dict(setting, runs=runs)
    for name, measure in (("wall", "fps"), ("cpu", "cpu_fps"), ("other", "other_fps")):
        medians = {tool: statistics.median(r[measure] for r in rs) for tool, rs in runs.items()}
        pairs = [b[measure] / s[measure] for s, b in zip(runs["sdv"], runs["beatwalk"])]
        row[name] = dict(medians, ratio=medians["beatwalk"] / medians["sdv"], low=min(pairs), high=max(pairs))
    return row


def _table(rows: list[dict]) -> str:
    lines = [
        "| size | steps | guidance | batch | frames (sdv / Beatwalk) | sdv s | Beatwalk s | sdv fps "
        "| Beatwalk fps | **Beatwalk / sdv, wall** (range) | Beatwalk / sdv, CPU time (range) "
        "| non-model CPU ms/frame, sdv / Beatwalk (ratio) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        runs, wall, cpu, other = row["runs"], row["wall"], row["cpu"], row["other"]
        seconds = {tool: statistics.median(r["seconds"] for r in rs) for tool, rs in runs.items()}
        lines.append(
            f"| {row['size']}² | {row['steps']} | {row['guidance']:g} | {row['batch_size']} "
            f"| {runs['sdv'][0]['frames']} / {runs['beatwalk'][0]['frames']} "
            f"| {seconds['sdv']:.1f} | {seconds['beatwalk']:.1f} "
            f"| {wall['sdv']:.2f} | {wall['beatwalk']:.2f} "
            f"| **{wall['ratio']:.2f}×** ({wall['low']:.2f}–{wall['high']:.2f}) "
            f"| {cpu['ratio']:.2f}× ({cpu['low']:.2f}–{cpu['high']:.2f}) "
            f"| {1000 / other['sdv']:.1f} / {1000 / other['beatwalk']:.1f} ({other['ratio']:.1f}×) |"
        )
    return "\n".join(lines)


def _beatwalk_versions() -> dict:
    import diffusers
    import torch
    import transformers

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "pipelines"], cwd=REPO, capture_output=True, text=True
    )
    return {
        "commit": commit.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else ""),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
    }


def _record(table: str, rows: list[dict], versions: dict, args) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    sdv, ours, first = versions["sdv"], versions["beatwalk"], rows[0]
    command = "python -m benchmarks.sdv_compare " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            f"\n## Beatwalk vs stable-diffusion-videos — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n",
            f"- Command: `{command.strip()}`",
            f"- Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"load average {os.getloadavg()[0]:.1f} at the end (a shared machine)",
            f"- Beatwalk {ours['commit']}: torch {ours['torch']}, diffusers {ours['diffusers']}, "
            f"transformers {ours['transformers']}",
            f"- stable-diffusion-videos {sdv['stable_diffusion_videos']}: torch {sdv['torch']}, diffusers "
            f"{sdv['diffusers']}, transformers {sdv['transformers']}; its `torchvision.io.write_video` "
            f"replaced by the ffmpeg stand-in in sdv_runner.py",
            f"- Model: Beatwalk's `tiny` (random weights), the same weights in both; "
            f"{len(first['prompts'])} keyframes, {first['duration']:.1f} s of song at {first['fps']} fps",
            f"- Model load excluded; medians of {args.repeats} alternating runs, {args.threads} torch "
            f"thread(s) each. fps = frames in the video / wall seconds. CPU time = the tool's process and "
            f"its ffmpeg children (less disturbed by other load). Non-model = CPU time outside the text "
            f"encoder, UNet and VAE decoder calls (audio, planning, images, files, encoding: where the "
            f"tools' designs differ)",
            "",
            table,
            "",
        ]
    )
    with RESULTS.open("a", encoding="utf-8") as results:
        if results.tell() == 0:
            results.write("# Benchmark results\n\nAppended by the scripts in `benchmarks/`; newest last.\n")
        results.write(text)


if __name__ == "__main__":
    main()
