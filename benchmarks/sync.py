"""Does it dance? Render songs with a clear beat with the tiny model and score their sync.

For every song: one render with the motion settings under test, one with the
linear walk (reactivity 0, pulse 0), both scored by ``pipelines.sync``
against the song's analysed beats (and, for the synthetic drum songs, against
their true beats too).

    python -m benchmarks.sync                 # defaults vs linear walk on the held-out songs
    python -m benchmarks.sync --tune          # grid on the tuning songs, then before/after on held-out
    python -m benchmarks.sync --record        # also append to benchmarks/RESULTS.md, save benchmarks/sync.png

The tuning songs and the held-out songs are different tempi *and* different
drum-pattern seeds, so a setting cannot fit one song's quirks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pipelines.analysis import analyze
from pipelines.audio import load_audio
from pipelines.keyframes import propose_project
from pipelines.models import load_pipeline
from pipelines.plots import plot_sync
from pipelines.project import MotionSettings, RenderSettings
from pipelines.render import render_project
from pipelines.sync import SyncScore, beat_f_measure, score_video
from tests.songs import drum_song, write_song

HERE = Path(__file__).parent
DEMO_SONG = HERE.parent / "examples" / "beatwalk-demo.ogg"
PROMPTS = ["a neon city at night", "a forest in the fog", "a coral reef"]
TUNING = [(100.0, 1), (128.0, 2)]
"""(BPM, drum-pattern seed) of the songs the settings are tuned on."""
HELD_OUT = [(92.0, 11), (118.0, 12), (145.0, 13), (170.0, 14)]
"""(BPM, seed) of the songs the tuned settings are checked on."""
LINEAR = {"reactivity": 0.0, "pulse": 0.0}
GRID = [
    {"pulse": pulse, "pulse_decay": decay, "reactivity": reactivity}
    for pulse in (0.3, 0.6)
    for decay in (0.12, 0.25)
    for reactivity in (0.3, 0.7)
]
"""Motion settings tried by ``--tune`` (the others keep their defaults)."""


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
    parser.add_argument("--size", type=int, default=128, help="frame width and height, pixels")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--steps", type=int, default=2, help="denoising steps of the tiny model")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each song")
    parser.add_argument("--tune", action="store_true", help="grid-search the motion settings first")
    parser.add_argument("--settings", type=json.loads, default={}, help='motion settings under test, JSON')
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md and save the plot")
    args = parser.parse_args(argv)

    started = time.monotonic()
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

    # 1. Tune on the tuning songs (optional).
    tuned, tuning_rows = dict(args.settings), []
    if args.tune:
        tuning_songs = [_drum(bpm, seed, args.duration, folder) for bpm, seed in TUNING]
        candidates = [{}] + GRID
        means = []
        for i, settings in enumerate(candidates):
            rows = run(tuning_songs, settings, f"grid{i}")
            tuning_rows += rows
            means.append((np.mean([r["f_measure"] for r in rows]), np.mean([r["correlation"] or 0 for r in rows])))
        best = max(range(len(candidates)), key=lambda i: means[i])
        tuned = candidates[best]
        print(f"tuned on {len(tuning_songs)} songs: {tuned or 'the defaults'} (mean F {means[best][0]:.3f})")

    # 2. Held-out songs: defaults, tuned (if any), linear walk.
    held_out = [_drum(bpm, seed, args.duration, folder) for bpm, seed in HELD_OUT]
    if DEMO_SONG.is_file():
        held_out.append(_demo(args.duration, folder))
    rows = run(held_out, {}, "defaults")
    scores = {"defaults": rows}
    if tuned:
        scores["tuned"] = run(held_out, tuned, "tuned")
    scores["linear"] = run(held_out, LINEAR, "linear")
    elapsed = time.monotonic() - started

    print()
    table = _table([row for group in scores.values() for row in group])
    print(table)
    if args.record:
        _record(args, table, tuned, tuning_rows, scores, elapsed)
        best_label = "tuned" if tuned else "defaults"
        example = held_out[1]
        for label, path in ((best_label, "sync.png"), ("linear", "sync-linear.png")):
            score = score_video(folder / f"{example.name}-{label}.mp4", analysis=example.analysis)
            plot_sync(score).savefig(HERE / path, dpi=100)
        print(f"recorded in {HERE / 'RESULTS.md'}, plots in {HERE / 'sync.png'} and {HERE / 'sync-linear.png'}")
    return 0


def _render_and_score(song: Song, motion: MotionSettings, render: RenderSettings, pipe, out: Path) -> SyncScore:
    project = propose_project(
        song.path, song.analysis, PROMPTS, start=song.start, end=song.end, render=render, motion=motion
    )
    render_project(project, out, analysis=song.analysis, pipe=pipe)
    return score_video(out, analysis=song.analysis)


def _drum(bpm: float, seed: int, duration: float, folder: Path) -> Song:
    samples, beats, _ = drum_song(duration=duration, bpm=bpm, seed=seed, first_beat=0.25 + 0.05 * (seed % 5))
    path = write_song(folder / f"drums-{bpm:g}.wav", samples)
    return Song(f"drums-{bpm:g}", path, analyze(load_audio(path)), beats)


def _demo(duration: float, folder: Path) -> Song:
    audio = load_audio(DEMO_SONG, start=0.0, end=duration)
    return Song("demo", DEMO_SONG, analyze(audio), None, start=0.0, end=duration)


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


def _record(args, table: str, tuned: dict, tuning_rows: list[dict], scores: dict, elapsed: float) -> None:
    command = "python -m benchmarks.sync " + " ".join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
    lines = [
        "",
        f"## Sync score: does it dance? ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Command: `{command}` ({elapsed / 60:.1f} min)",
        f"- Machine: {machine}",
        f"- Tiny model, {args.size}×{args.size}, {args.fps:g} fps, {args.steps} steps, {args.duration:g} s per song;"
        " keyframes proposed by `propose_project`; F-measure of visual peaks against the analysed beats (±1 frame).",
        f"- Default motion settings: `{MotionSettings().model_dump()}`",
    ]
    if tuning_rows:
        lines += [
            f"- Tuning songs: {', '.join(f'{bpm:g} BPM' for bpm, _ in TUNING)}; grid: `{GRID}`",
            f"- Tuned settings: `{tuned or 'the defaults'}`",
            "",
            "Tuning runs:",
            "",
            _table(tuning_rows),
        ]
    lines += ["", "Held-out songs:", "", table, ""]
    with open(HERE / "RESULTS.md", "a", encoding="utf-8") as results:
        results.write("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
