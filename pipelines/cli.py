"""``python -m pipelines``: the command line over the same functions the Space uses.

Every command prints its result (JSON where it is data) on stdout. Bad input
gives one line ``error: ...`` on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.errors import BeatwalkError

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args) or 0
    except BeatwalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    analyze = commands.add_parser("analyze", help="tempo, beats, downbeats, onsets, sections (JSON)")
    analyze.add_argument("song", type=Path)
    analyze.add_argument("--start", type=float, default=None, help="segment start, seconds")
    analyze.add_argument("--end", type=float, default=None, help="segment end, seconds")
    analyze.add_argument("--curves", type=float, default=None, metavar="FPS", help="add energy curves at FPS")
    analyze.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a plot")
    analyze.set_defaults(command=_analyze)

    return parser


def _analyze(args: argparse.Namespace) -> int:
    from pipelines.analysis import analyze
    from pipelines.audio import load_audio
    from pipelines.limits import Limits

    limits = Limits.from_env(max_song_seconds=None)
    audio = load_audio(args.song, start=args.start, end=args.end, max_duration=limits.max_song_seconds)
    analysis = analyze(audio)
    if args.plot is not None:
        from pipelines.plots import plot_analysis

        plot_analysis(analysis, audio).savefig(args.plot)
    json.dump(analysis.to_dict(curves_fps=args.curves), sys.stdout)
    sys.stdout.write("\n")
    return 0
