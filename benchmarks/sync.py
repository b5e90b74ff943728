"""Does it dance? Render songs with a clear beat with the tiny model and score their sync.

For every song: one render with the motion settings under test, one with the
linear walk (reactivity 0, pulse 0), both scored by ``pipelines.score.sync``
against the song's analysed beats (and, for the synthetic drum songs, against
their true beats too).

    python -m benchmarks.sync                        # defaults vs linear walk on the held-out songs
    python -m benchmarks.sync --settings '{"pulse": 0.5}'   # ... and these settings ("tuned") too
    python -m benchmarks.sync --tune                 # the grid on the tuning songs instead
    add --record to append to benchmarks/RESULTS.md (and save benchmarks/sync*.png)

The tuning songs and the held-out songs are different tempi *and* different
drum-pattern seeds, so a setting cannot fit one song's quirks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from pipelines.diffusion.models import load_pipeline
from pipelines.music.analysis import analyze
from pipelines.music.decode import load_audio
from pipelines.plan.keyframes import propose_project
from pipelines.plots import plot_sync
from pipelines.project import MotionSettings, RenderSettings
from pipelines.render.runner import render_project
from pipelines.score.sync import SyncScore, beat_f_measure, score_video
from synth.songs import drum_song, write_song

HERE = Path(__file__).parent
DEMO_SONG = HERE.parent / "examples" / "beatwalk-demo.ogg"
PROMPTS = ["a neon city at night", "a forest in the fog", "a coral reef"]
TUNING = [(100.0, 1), (128.0, 2)]
"""(BPM, drum-pattern seed) of the songs the settings are tuned on."""
HELD_OUT = [(92.0, 11), (118.0, 12), (170.0, 14)]
"""(BPM, seed) of the songs the tuned settings are checked on."""
LINEAR = {"reactivity": 0.0, "pulse": 0.0}
GRID = [
    {},
    {"pulse": 0.6},
    {"reactivity": 1.0, "smoothing": 0.05},
    {"pulse_decay": 0.12},
]
"""Motion settings tried by ``--tune``, each a change from the defaults (one render per song each:
the tiny model renders at well under 1 frame/s on a shared 2-core machine)."""


@dataclass
class Song:
    name: str
    path: Path
    analysis: object
    beats: np.ndarray | None  # the true beats (synthetic songs), seconds
    start: float = 0.0
    end: float | None = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="frame width and height, pixels")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--steps", type=int, default=1, help="denoising steps of the tiny model")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of each song")
    parser.add_argument("--tune", action="store_true", help="run the grid on the tuning songs instead")
    parser.add_argument("--grid", type=json.loads, default=GRID, help="grid for --tune, a JSON list of settings")
    parser.add_argument("--settings", type=json.loads, default={}, help='motion settings under test, JSON')
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md and save the plot")
    args = parser.parse_args(argv)

    started = time.monotonic()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="beatwalk-sync-"))
    render = RenderSettings(width=args.size, height=args.size, fps=args.fps, steps=args.steps, batch_size=8)
    pipe = load_pipeline("tiny")

    def run(songs: list[Song], settings: dict, label: str) -> list[dict]:
        rows = []
        for song in songs:
            score = _render_and_score(song, MotionSettings(**settings), render, pipe, folder / f"{song.name}-{label}.mp4")
            rows.append(_row(song, label, settings, score))
            print(_format(rows[-1]), flush=True)
        return rows

    # 1. Tuning: every grid point on the tuning songs; the best mean F (then correlation) wins.
    if args.tune:
        songs = [_drum(bpm, seed, args.duration, folder) for bpm, seed in TUNING]
        labels = [",".join(f"{k}={v:g}" for k, v in settings.items()) or "defaults" for settings in args.grid]
        groups = [run(songs, settings, label) for settings, label in zip(args.grid, labels)]
        means = [(np.mean([r["f_measure"] for r in g]), np.mean([r["correlation"] or 0.0 for r in g])) for g in groups]
        best = max(range(len(args.grid)), key=lambda i: means[i])
        table = _table([row for group in groups for row in group])
        summary = f"best on the tuning songs: {labels[best]}, mean F {means[best][0]:.3f}"
        print(f"\n{table}\n\n{summary}")
        if args.record:
            title = f"Tuning songs ({', '.join(s.name for s in songs)}); grid: `{args.grid}`"
            _record(args, title, table, summary, started)
        return 0

    # 2. Held-out songs: defaults, the settings under test (if any), linear walk.
    songs = [_drum(bpm, seed, args.duration, folder) for bpm, seed in HELD_OUT]
    if DEMO_SONG.is_file():
        songs.append(_demo(args.duration, folder))
    groups = {"defaults": run(songs, {}, "defaults")}
    if args.settings:
        groups["tuned"] = run(songs, args.settings, "tuned")
    groups["linear"] = run(songs, LINEAR, "linear")
    table = _table([row for group in groups.values() for row in group])
    print(f"\n{table}")
    if args.record:
        title = f"Held-out songs ({', '.join(s.name for s in songs)}); tuned settings: `{args.settings or 'none'}`"
        _record(args, title, table, "", started)
        example = songs[1]
        for label, name in (("tuned" if args.settings else "defaults", "sync.png"), ("linear", "sync-linear.png")):
            score = score_video(folder / f"{example.name}-{label}.mp4", analysis=example.analysis)
            plot_sync(score).savefig(HERE / name, dpi=100)
        print(f"recorded in {HERE / 'RESULTS.md'}; plots {HERE / 'sync.png'}, {HERE / 'sync-linear.png'}")
    return 0


def _render_and_score(song: Song, motion: MotionSettings, render: RenderSettings, pipe, out: Path) -> SyncScore:
    # A keyframe on every bar: the walk always has somewhere to go, so the linear walk moves too.
    project = propose_project(
        song.path, song.analysis, PROMPTS, start=song.start, end=song.end, render=render, motion=motion, every=1
    )
    render_project(project, out, analysis=song.analysis, pipe=pipe)
    return score_video(out, analysis=song.analysis)


def _drum(bpm: float, seed: int, duration: float, folder: Path) -> Song:
    samples, beats, _ = drum_song(duration=duration, bpm=bpm, seed=seed, first_beat=0.25 + 0.05 * (seed % 5))
    path = write_song(folder / f"drums-{bpm:g}.wav", samples)
    return Song(f"drums-{bpm:g}", path, analyze(load_audio(path)), beats)


def _demo(duration: float, folder: Path) -> Song:
    audio = load_audio(DEMO_SONG, start=0.0, end=duration)
    beats = np.asarray(json.loads(DEMO_SONG.with_suffix(".beats.json").read_text())["beats"])
    return Song("demo", DEMO_SONG, analyze(audio), beats[beats < duration], start=0.0, end=duration)


def _row(song: Song, label: str, settings: dict, score: SyncScore) -> dict:
    true_f = beat_f_measure(score.peaks, song.beats, fps=score.fps)[0] if song.beats is not None else None
    return {
        "song": song.name,
        "tempo": score.tempo,
        "settings": label,
        "motion": settings,
        "f_measure": score.f_measure,
        "f_true_beats": None if true_f is None else round(true_f, 4),
        "precision": score.precision,
        "recall": score.recall,
        "correlation": score.correlation,
        "offset_ms": score.offset_ms,
        "dtw_distance": score.dtw_distance,
        "f_perceptual": score.perceptual["f_measure"],
    }


def _format(row: dict) -> str:
    def number(value, digits=2):
        return "–" if value is None else f"{value:.{digits}f}"

    return (
        f"| {row['song']} | {row['tempo']:.0f} | {row['settings']} | {number(row['f_measure'])} | "
        f"{number(row['f_true_beats'])} | {number(row['precision'])} | {number(row['recall'])} | "
        f"{number(row['correlation'])} | {row['offset_ms']:+.0f} | {number(row['dtw_distance'], 3)} | "
        f"{number(row['f_perceptual'])} |"
    )


def _table(rows: list[dict]) -> str:
    header = (
        "| song | BPM | motion | F | F (true beats) | precision | recall | correlation | offset ms | DTW | F perceptual |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [header] + [_format(row) for row in rows]
    means = {}
    for row in rows:
        means.setdefault(row["settings"], []).append(row)
    lines.append("")
    lines.append("| motion | mean F | mean correlation | mean offset ms |")
    lines.append("|---|---|---|---|")
    for label, group in means.items():
        f = np.mean([r["f_measure"] for r in group])
        c = np.mean([r["correlation"] or 0.0 for r in group])
        o = np.mean([r["offset_ms"] for r in group])
        lines.append(f"| {label} | {f:.2f} | {c:.2f} | {o:+.0f} |")
    return "\n".join(lines)


def _record(args, title: str, table: str, summary: str, started: float) -> None:
    command = "python -m benchmarks.sync " + shlex.join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} (shared)"
    lines = [
        "",
        f"## Sync score: does it dance? ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Command: `{command}` ({(time.monotonic() - started) / 60:.1f} min)",
        f"- Machine: {machine}",
        f"- Tiny model, {args.size}×{args.size}, {args.fps:g} fps, {args.steps} step(s), {args.duration:g} s per song;"
        " keyframes from `propose_project`; F-measure of visual peaks against the analysed beats (±1 frame);"
        " `F (true beats)` against the synthetic songs' true beats.",
        f"- Default motion settings: `{MotionSettings().model_dump()}`",
        f"- {title}",
        "",
        table,
    ]
    if summary:
        lines += ["", summary]
    with open(HERE / "RESULTS.md", "a", encoding="utf-8") as results:
        results.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
