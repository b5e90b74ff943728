"""How long prompt ideas take for a 3-minute song: the description, then a suggestion round.

Usage::

    python -m benchmarks.ideas [SONG ...] [--engine composer|model] [--model ID] [--runs 5]

Without SONG it uses a 3-minute synthetic song (a quiet A-minor verse, a loud chorus, again).
For each song it times the description (plain DSP, the analysis not counted) and a suggestion
round (one prompt per section and one per keyframe every 4 bars), best of ``--runs``, prints the
figures and appends a line to benchmarks/RESULTS.md. ``--engine model`` times the language model
(``--model tiny`` offline; a real one on a GPU).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time
from pathlib import Path

from benchmarks.analysis_speed import machine
from pipelines.ideas.suggest import suggest_prompts
from pipelines.music.describe import describe_song
from pipelines.music.song import read_song
from synth.songs import chord_song, write_song

REPO = Path(__file__).resolve().parents[1]


def synthetic_song(folder: Path) -> Path:
    samples, _ = chord_song(
        key="A", mode="minor", bpm=112.0, duration=180.0, parts=((45.0, 0.15), (45.0, 1.0), (45.0, 0.15), (45.0, 1.0))
    )
    return write_song(folder / "verse-chorus-180s.wav", samples)


def best(call, runs: int):
    times, result = [], None
    for _ in range(runs):
        clock = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - clock)
    return min(times), result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("songs", nargs="*", type=Path)
    parser.add_argument("--engine", choices=("composer", "model"), default="composer")
    parser.add_argument("--model", default=None, help="the model engine's language model")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="beatwalk-ideas-"))
    songs = args.songs or [synthetic_song(folder)]
    lines = []
    for song in songs:
        audio, analysis = read_song(song)
        described, description = best(lambda: describe_song(audio, analysis), args.runs)
        times = sorted({0.0, *(round(t, 3) for t in analysis.downbeats[4::4])})  # every 4 bars
        runs = 1 if args.engine == "model" else args.runs

        def round_trip():
            per_section = suggest_prompts(description, theme="a journey through space", engine=args.engine, model=args.model)
            per_keyframe = suggest_prompts(
                description, theme="a journey through space", engine=args.engine, model=args.model, times=times
            )
            return per_section, per_keyframe

        suggested, (sections, keyframes) = best(round_trip, runs)
        modes = sorted({f"{p.key} {p.mode}" for p in description.sections if p.key})
        line = (
            f"{song.name} ({analysis.duration:.0f} s, {len(description.sections)} sections, {len(times)} keyframes, "
            f"{description.key} {description.mode}; sections in {', '.join(modes)}): description {described:.2f} s, "
            f"a suggestion round ({args.engine}: per section and per keyframe) {suggested * 1000:.1f} ms"
        )
        if sections.notes or keyframes.notes:
            line += f" · notes: {' / '.join(dict.fromkeys(sections.notes + keyframes.notes))}"
        print(line)
        lines.append(line)

    command = "python -m benchmarks.ideas" + "".join(f" {s}" for s in args.songs) + f" --engine {args.engine}"
    command += f" --model {args.model}" if args.model else ""
    load = os.getloadavg()[0]
    stamp = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · {machine()} · load {load:.1f}"
    with (REPO / "benchmarks" / "RESULTS.md").open("a") as handle:
        handle.write(f"- {stamp} · `{command}`\n" + "".join(f"  - {line}\n" for line in lines))


if __name__ == "__main__":
    main()
