"""How long ``python -m pipelines analyze`` takes on a 3-minute song, cold, decode included.

Usage::

    python -m benchmarks.analysis_speed [SONG] [--runs 3]

Without SONG it writes a 3-minute, 44.1 kHz stereo mp3 with known beats and a
verse/chorus structure (A B A B C A, 30 s each) and also reports beat,
downbeat and section accuracy. It prints the figures and appends one line to
benchmarks/RESULTS.md (machine, command, date). Wall time on a shared machine
depends on what else runs: the CPU time (user + system, ffmpeg included) and
the load average are printed beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from pipelines.ffmpeg import ffmpeg_exe
from synth.songs import drum_song, write_song

SECTION_SECONDS = 30.0
STRUCTURE = "ABABCA"
BPM = 124.0
CHORDS = {"A": [], "B": [220.0, 261.6, 329.6], "C": [196.0, 246.9, 293.7, 370.0]}


def structured_song(folder: Path) -> tuple[Path, np.ndarray, np.ndarray, list[float]]:
    """A 3-minute mp3: (path, beats s, downbeats s, section starts s)."""
    sr = 22050
    parts = []
    beats, downbeats = [], []
    for index, letter in enumerate(STRUCTURE):
        start = index * SECTION_SECONDS
        drums, part_beats, part_downbeats = drum_song(
            duration=SECTION_SECONDS, bpm=BPM, first_beat=0.0, seed=index
        )
        if CHORDS[letter]:
            t = np.arange(len(drums)) / sr
            pad = sum(np.sin(2 * np.pi * f * h * t) / h for f in CHORDS[letter] for h in (1, 2, 3))
            drums = 0.55 * drums + 0.45 * (pad / np.abs(pad).max()).astype(np.float32)
        if letter == "C":
            drums = drums * 0.8
        parts.append(drums)
        beats.append(part_beats + start)
        downbeats.append(part_downbeats + start)
    wav = write_song(folder / "structured.wav", np.concatenate(parts).astype(np.float32), sr)
    mp3 = folder / "structured.mp3"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(wav),
            "-af",
            "pan=stereo|c0=c0|c1=c0",
            "-ar",
            "44100",
            "-b:a",
            "192k",
            str(mp3),
        ],
        check=True,
    )
    starts = [i * SECTION_SECONDS for i in range(1, len(STRUCTURE))]
    return mp3, np.concatenate(beats), np.concatenate(downbeats), starts


def time_cli(song: Path) -> tuple[float, float, dict]:
    """One cold ``python -m pipelines analyze``: (wall s, CPU s of it and its children, JSON)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "analyze", str(song)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"analyze failed: {result.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(result.stdout)


def stage_times(song: Path) -> dict[str, float]:
    """Warm, in-process wall time of each stage, seconds (second of two runs)."""
    from pipelines.music.beats import track_beats
    from pipelines.music.decode import load_audio
    from pipelines.music.envelopes import energy_envelopes, onset_strength, spectrogram
    from pipelines.music.sections import find_sections

    times: dict[str, float] = {}
    for _ in range(2):
        clock = time.perf_counter()
        audio = load_audio(song)
        times["decode"] = time.perf_counter() - clock
        clock = time.perf_counter()
        spec = spectrogram(audio.samples, audio.sample_rate)
        energy_envelopes(spec, onset_strength(spec))
        times["spectrogram+envelopes"] = time.perf_counter() - clock
        clock = time.perf_counter()
        track = track_beats(audio.samples, audio.sample_rate)
        times["beats+downbeats"] = time.perf_counter() - clock
        clock = time.perf_counter()
        find_sections(spec, duration=audio.duration, beats=track.beats, downbeats=track.downbeats)
        times["sections"] = time.perf_counter() - clock
    return times


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("song", nargs="?", type=Path, help="default: a generated 3-minute structured mp3")
    parser.add_argument("--runs", type=int, default=3, help="cold CLI runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        truth = None
        song = args.song
        if song is None:
            song, beats, downbeats, starts = structured_song(Path(folder))
            truth = (beats, downbeats, starts)
        load = os.getloadavg()[0]
        runs = [time_cli(song) for _ in range(args.runs)]
        walls = [wall for wall, _, _ in runs]
        cpus = [cpu for _, cpu, _ in runs]
        data = runs[-1][2]
        stages = stage_times(song)

    print(f"song: {song.name if args.song else 'generated 3-min structured mp3'} ({data['duration']:.1f} s)")
    print(f"cold CLI wall: best {min(walls):.2f} s, median {np.median(walls):.2f} s over {len(walls)} runs")
    print(
        f"cold CLI CPU (user+sys, ffmpeg included): median {np.median(cpus):.2f} s; load average {load:.1f}"
    )
    print("warm stages: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()))
    summary = (
        f"cold wall best {min(walls):.2f} s / median {np.median(walls):.2f} s, CPU {np.median(cpus):.2f} s"
    )
    if truth is not None:
        import mir_eval

        beats, downbeats, starts = truth
        beat_f = mir_eval.beat.f_measure(beats, np.asarray(data["beats"]), f_measure_threshold=0.07)
        down_f = mir_eval.beat.f_measure(downbeats, np.asarray(data["downbeats"]), f_measure_threshold=0.07)
        found = [s["start"] for s in data["sections"][1:]]
        hits = sum(any(abs(f - s) <= 2.0 for f in found) for s in starts)
        labels = "".join(s["label"] for s in data["sections"])
        print(f"beat F {beat_f:.3f}, downbeat F {down_f:.3f}, tempo {data['tempo']:.1f} (true {BPM:g})")
        print(f"sections {labels} (true {STRUCTURE}); boundaries within 2 s: {hits}/{len(starts)}")
        summary += f"; beat F {beat_f:.3f}, downbeat F {down_f:.3f}, sections {labels} ({hits}/{len(starts)})"

    command = (
        "python -m benchmarks.analysis_speed"
        + (f" {args.song}" if args.song else "")
        + f" --runs {args.runs}"
    )
    line = (
        f"- {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · {machine()} · load {load:.1f} · "
        f"`{command}` · {summary}\n"
    )
    results = REPO / "benchmarks" / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmark results\n\n")
    with results.open("a") as handle:
        handle.write(line)


if __name__ == "__main__":
    main()
