"""Camera moves and the feedback renderer: sync, drift and cost, with stable-diffusion-videos beside.

Three parts, all on the tiny random-weight model (this machine has no GPU and no real weights):

1. **Sync** on songs with a clear beat: the walk (defaults, still camera), the walk with the "zoom
   pulse" camera, and the feedback renderer with "zoom pulse" (defaults otherwise), each scored by
   the built-in sync score (beat F of visual peaks within ±1 frame, against the song's analysed
   beats) and by AV-Align (optical-flow peaks on onsets). With ``--sdv`` (the venv of
   ``benchmarks.sdv_compare --setup``) stable-diffusion-videos' audio walk renders the same songs
   with the same model, size, fps, steps, prompts and seeds, and is scored the same way.
   Songs: synthetic drum songs (tempi and drum seeds not used in tuning) and, where installed, the
   backing tracks of ``fretsonfire-songs-sectoid`` (real recordings).
2. **Drift**: 60 s of feedback rendering with the "drift" camera, one keyframe; how far the mean
   colour (CIEDE2000) of the frames moves from the first frame's, with colour coherence (LAB) on
   and off.
3. **Cost**: seconds per diffused frame of the feedback renderer against the walk's at the same
   size and steps, and the diffusion calls for cadence 1, 2 and 4.

The random model's VAE does not give a picture back (encoding then decoding loses it), so on it the
feedback chain's picture barely follows the warp: the camera's share of the sync shows in the walk
with the camera, and on real weights (pending a GPU run) in the feedback renderer too.

    python -m benchmarks.camera [--sdv] [--record]
    python -m benchmarks.camera --parts cost --real --device cuda --record     # on a GPU
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.results import RESULTS, record
from benchmarks.sdv_compare import DEFAULT_VENV, PROMPTS, SEEDS, _run_sdv
from pipelines.music.analysis import analyze
from pipelines.music.decode import load_audio
from pipelines.project import Keyframe, Project
from pipelines.render.runner import render_project
from pipelines.score.sync import score_video
from synth.songs import drum_song, write_song

REPO = Path(__file__).resolve().parents[1]
SECTOID = Path("/usr/share/games/fretsonfire/data/songs/sectoid")
DRUM_SONGS = [(96.0, 31), (132.0, 47), (150.0, 59)]
"""(BPM, drum seed) of the synthetic songs: none of them the 120 BPM seed-0 song used in tuning."""
SIZE, FPS, STEPS, SECONDS = 128, 12, 4, 20.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdv", action="store_true", help="also render with stable-diffusion-videos")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--record", action="store_true", help=f"append to {RESULTS.name}")
    parser.add_argument("--parts", default="sync,drift,cost")
    parser.add_argument(
        "--tune", action="store_true", help="sync: the tuning songs instead of the judged ones"
    )
    parser.add_argument("--variants", default="{}", help='sync: more variants, {"name": {project fields}}')
    parser.add_argument(
        "--real", action="store_true", help="cost: also the sd-turbo architecture (random weights)"
    )
    parser.add_argument("--device", default="cpu", help="cost: where the real-size architecture runs")
    args = parser.parse_args(argv)
    args.threads = 1  # both tools on one torch thread (what benchmarks.sdv_compare's runner reads)
    import torch

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="beatwalk-camera-"))
    parts = args.parts.split(",")
    sections = []
    if "sync" in parts:
        sections.append(sync_part(args, work))
    if "drift" in parts:
        sections.append(drift_part(work))
    if "cost" in parts:
        sections.append(cost_part(real=args.real, device=args.device))
    text = "\n\n".join(sections)
    print(text)
    if args.record:
        record("Camera moves and the feedback renderer", script="camera", argv=argv,
               setup="tiny random-weight model, 1 torch thread", text=text)  # fmt: skip


# -- 1. sync ------------------------------------------------------------------------------------


TUNING_DRUMS = [(120.0, 0), (108.0, 3)]
HYPERROGUE = Path("/usr/share/hyperrogue/music")


def songs(work: Path, *, tune: bool = False) -> list[tuple[str, Path, float, float]]:
    """(name, file, start, end) of every song scored; ``tune``: the tuning songs instead."""
    found = []
    if tune:
        for bpm, seed in TUNING_DRUMS:
            samples, _, _ = drum_song(duration=SECONDS + 1.0, bpm=bpm, seed=seed)
            found.append(
                (f"drums {bpm:g} BPM", write_song(work / f"tune-{bpm:g}.wav", samples), 0.0, SECONDS)
            )
        for name in ("hr3-caves.ogg", "hr-savino-ocean.ogg"):
            if (HYPERROGUE / name).is_file():
                found.append((f"hyperrogue: {name}", HYPERROGUE / name, 30.0, 30.0 + SECONDS))
        return found
    for bpm, seed in DRUM_SONGS:
        samples, _, _ = drum_song(duration=SECONDS + 1.0, bpm=bpm, seed=seed)
        found.append((f"drums {bpm:g} BPM", write_song(work / f"drums-{bpm:g}.wav", samples), 0.0, SECONDS))
    for folder in sorted(SECTOID.glob("*"))[:3]:
        if (folder / "song.ogg").is_file():
            found.append((f"sectoid: {folder.name}", folder / "song.ogg", 30.0, 30.0 + SECONDS))
    return found


def project_for(song: Path, start: float, end: float, **fields) -> Project:
    duration = end - start
    n = len(PROMPTS)
    keyframes = [
        Keyframe(time=round(i * duration / n, 2), prompt=p, seed=s)
        for i, (p, s) in enumerate(zip(PROMPTS, SEEDS))
    ]
    render = {
        "model": "tiny",
        "width": SIZE,
        "height": SIZE,
        "fps": FPS,
        "steps": STEPS,
        "batch_size": 4,
    } | fields.pop("render", {})
    return Project(
        audio={"path": str(song), "start": start, "end": end}, keyframes=keyframes, render=render, **fields
    )


def sync_part(args, work: Path) -> str:
    from pipelines.diffusion.models import load_pipeline
    from pipelines.plan.camera import camera_preset

    pipe = load_pipeline("tiny")
    variants = {
        "walk": {},
        "walk + zoom pulse": {"camera": camera_preset("zoom pulse")},
        "feedback + zoom pulse": {"camera": camera_preset("zoom pulse"), "render": {"renderer": "feedback"}},
    }
    variants |= json.loads(args.variants)
    sdv = args.sdv and (args.venv / "bin" / "python").is_file()
    model_dir = None
    if sdv:
        model_dir = work / "tiny-sd"
        pipe.save_pretrained(model_dir)
    rows = []
    for name, song, start, end in songs(work, tune=args.tune):
        analysis = analyze(load_audio(str(song), start=start, end=end))
        row = {"song": name, "bpm": round(analysis.tempo, 1)}
        for variant, fields in variants.items():
            project = project_for(
                song, start, end, **json.loads(json.dumps(fields, default=lambda m: m.model_dump()))
            )
            out = work / f"{name.replace(' ', '-').replace(':', '')}-{variant.replace(' ', '')}.mp4"
            started = time.perf_counter()
            render_project(project, out, analysis=analysis, pipe=pipe)
            score = score_video(out, analysis=analysis)
            row[variant] = (score.f_measure, score.av_align, time.perf_counter() - started)
            print(f"{name}: {variant}: F {score.f_measure:.2f}, AV-Align {score.av_align:.3f}", flush=True)
        if sdv:
            row["sdv"] = _sdv_scores(args, model_dir, song, start, end, analysis, work / f"sdv-{len(rows)}")
            print(f"{name}: sdv: F {row['sdv'][0]:.2f}, AV-Align {row['sdv'][1]:.3f}", flush=True)
        rows.append(row)
    columns = [*variants, *(["sdv"] if sdv else [])]
    lines = [
        f"### Sync ({SIZE}×{SIZE}, {FPS} fps, {STEPS} steps, {SECONDS:g} s per song; beat F of visual peaks ±1 frame"
        " against the analysed beats · AV-Align)",
        "",
        "| song | BPM | " + " | ".join(f"{c} F | {c} AV-Align" for c in columns) + " |",
        "|---|---|" + "---|---|" * len(columns),
    ]
    for row in rows:
        cells = " | ".join(f"{row[c][0]:.2f} | {row[c][1]:.3f}" for c in columns)
        lines.append(f"| {row['song']} | {row['bpm']:g} | {cells} |")
    means = " | ".join(
        f"**{np.mean([r[c][0] for r in rows]):.2f}** | **{np.mean([r[c][1] for r in rows]):.3f}**"
        for c in columns
    )
    lines.append(f"| mean | | {means} |")
    if not sdv:
        lines.append(
            "\nstable-diffusion-videos not run (no venv: `python -m benchmarks.sdv_compare --setup`, then `--sdv`)."
        )
    return "\n".join(lines)


def _sdv_scores(args, model_dir: Path, song: Path, start: float, end: float, analysis, out: Path):
    """sdv's audio walk of the segment, cut out first (sdv reads from the file's start), scored."""
    audio = load_audio(str(song), start=start, end=end)
    segment = write_song(out.with_suffix(".wav"), audio.samples, audio.sample_rate)
    setting = dict(
        size=SIZE, batch_size=4, fps=FPS, steps=STEPS, guidance=7.5, duration=end - start,
        prompts=PROMPTS, seeds=SEEDS, song=str(segment), threads=1,
    )  # fmt: skip
    started = time.perf_counter()
    result = _run_sdv(args, model_dir, setting, out)
    score = score_video(result["video"], analysis=analysis)
    return score.f_measure, score.av_align, time.perf_counter() - started


# -- 2. drift -----------------------------------------------------------------------------------


def drift_part(work: Path) -> str:
    from pipelines.diffusion.models import load_pipeline
    from pipelines.diffusion.warp import mean_delta_e
    from pipelines.plan.camera import camera_preset
    from pipelines.render.video import read_frames

    pipe = load_pipeline("tiny")
    samples, _, _ = drum_song(duration=61.0, bpm=124.0, seed=5)
    song = write_song(work / "drift.wav", samples)
    analysis = analyze(load_audio(str(song), start=0.0, end=60.0))
    lines = ["### Drift (60 s of feedback, 96×96 at 12 fps, 4 steps, 'drift' camera, one keyframe)", "",
             "| colour coherence | mean ΔE00 from frame 0 | at 30 s | at 60 s | largest |", "|---|---|---|---|---|"]  # fmt: skip
    for mode in ("lab", "none"):
        project = Project(
            audio={"path": str(song), "start": 0.0, "end": 60.0},
            keyframes=[Keyframe(time=0.0, prompt="a red sunset over the sea", seed=11)],
            camera=camera_preset("drift"),
            feedback={"color_coherence": mode},
            render={
                "model": "tiny",
                "width": 96,
                "height": 96,
                "fps": 12,
                "steps": 4,
                "renderer": "feedback",
            },
        )
        out = render_project(project, work / f"drift-{mode}.mp4", analysis=analysis, pipe=pipe)
        frames = list(read_frames(out))
        drift = np.array([mean_delta_e(frame, frames[0]) for frame in frames])
        lines.append(
            f"| {mode} | {drift.mean():.2f} | {drift[len(drift) // 2]:.2f} | {drift[-1]:.2f} | {drift.max():.2f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


# -- 3. cost ------------------------------------------------------------------------------------


def cost_part(*, real: bool = False, device: str = "cpu") -> str:
    """Seconds per diffused frame: the tiny model at 128 and 256 px; with ``real``, the sd-turbo
    architecture (SD 2.1 UNet, random weights) at 128 px, 12 frames (CPU) or 512 px, 48 frames (GPU).
    A song is analysed for at least 1 s (12 frames at 12 fps)."""
    from pipelines.diffusion.models import load_pipeline
    from pipelines.diffusion.tiny import real_size_pipeline

    lines = ["### Cost per diffused frame (4 steps, 'zoom pulse', walk in batches of 4, 12 fps)", "",
             "| model | size | frames | walk s/frame | feedback s/diffused frame | ratio | cadence 2: diffusions, s | cadence 4: diffusions, s | once per keyframe (its still), s |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    settings = [("tiny", load_pipeline("tiny"), 128, 96), ("tiny", None, 256, 96)]
    if real:
        import torch

        dtype = torch.float16 if device == "cuda" else torch.float32
        settings.append(("sd-turbo architecture, random weights", real_size_pipeline("sd-turbo", device=device, dtype=dtype),
                         512 if device == "cuda" else 128, 48 if device == "cuda" else 12))  # fmt: skip
    for model, pipe, size, n_frames in settings:
        pipe = pipe if pipe is not None else settings[0][1]
        lines.append(_cost_row(model, pipe, size, n_frames))
        print(lines[-1], flush=True)
    return "\n".join(lines)


def _cost_row(model: str, pipe, size: int, n_frames: int) -> str:
    from types import SimpleNamespace

    from pipelines.diffusion.conditioning import KeyframeConditioning
    from pipelines.diffusion.feedback import FeedbackRenderer
    from pipelines.diffusion.walk import walk_frames
    from pipelines.plan.camera import camera_preset, plan_camera
    from pipelines.plan.timeline import plan_frames
    samples, _, _ = drum_song(duration=n_frames / FPS + 1.0, bpm=120.0, seed=7)
    with tempfile.TemporaryDirectory() as folder:
        analysis = analyze(load_audio(str(write_song(Path(folder) / "drums.wav", samples)), end=n_frames / FPS))
    project = project_for(Path("song.wav"), 0.0, n_frames / FPS, camera=camera_preset("zoom pulse"),
                          render={"width": size, "height": size, "renderer": "feedback"})  # fmt: skip
    plan = plan_frames(project, analysis)
    camera = plan_camera(project, analysis)
    conditioning = KeyframeConditioning(pipe, project.keyframes, project.render)
    list(
        walk_frames(conditioning, SimpleNamespace(key_a=[0], key_b=[0], t=[0.0], pulse=[0.0]), batch_size=1)
    )  # warm-up
    started = time.perf_counter()
    list(walk_frames(conditioning, plan, batch_size=4))
    walk = (time.perf_counter() - started) / plan.n_frames
    # The keyframes' stills (the colour references) are drawn once per render, not per frame: timed apart.
    stills = FeedbackRenderer(conditioning, plan, camera, project.feedback, pulse_size=project.motion.pulse)
    started = time.perf_counter()
    for key in range(len(project.keyframes)):
        stills._still(key)
    per_still = (time.perf_counter() - started) / len(project.keyframes)
    list(stills.frames(range(3), previous=None))  # warm-up: the warp, colour and encoder paths once, untimed
    runs = {}
    for cadence in (1, 2, 4):
        settings = project.feedback.model_copy(update={"cadence": cadence})
        renderer = FeedbackRenderer(conditioning, plan, camera, settings, pulse_size=project.motion.pulse)
        renderer._stills = dict(stills._stills)
        started = time.perf_counter()
        list(renderer.frames(range(plan.n_frames), previous=None))
        runs[cadence] = (renderer.diffusions, time.perf_counter() - started)
    per_diffused = runs[1][1] / runs[1][0]
    return (
        f"| {model} | {size} | {plan.n_frames} | {walk:.4f} | {per_diffused:.4f} | {per_diffused / walk:.2f} | "
        f"{runs[2][0]}/{plan.n_frames}, {runs[2][1]:.1f} | {runs[4][0]}/{plan.n_frames}, {runs[4][1]:.1f} | {per_still:.3f} |"
    )


if __name__ == "__main__":
    main()
