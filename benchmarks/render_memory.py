"""Peak memory of a render against song length: a 1-minute and a 10-minute render, side by side.

Each render runs in a fresh process (``python -m pipelines render``, the tiny model, Beatwalk's
defaults: batch ``auto``, one render process per core) on a synthetic drum song; the peak resident
memory of the render's process or of its largest child (a render worker or ffmpeg), whichever is
larger, is read from ``getrusage`` when it ends: once with the song analysed in the render, once
with its analysis kept on disk (as after ``new``). Memory flat in song length means the
10-minute peaks are within 10 % of the 1-minute ones. Appends to ``benchmarks/RESULTS.md``::

    python -m benchmarks.render_memory --minutes 1 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results import record

REPO = Path(__file__).resolve().parents[1]
MEASURE = """
import resource, runpy, sys
sys.argv = ["pipelines", *sys.argv[1:]]
try:
    runpy.run_module("pipelines", run_name="__main__")
except SystemExit as end:
    code = end.code
else:
    code = 0
own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("PEAK", own.ru_maxrss, children.ru_maxrss, code, file=sys.stderr)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)

    from synth.songs import drum_song, write_song

    rows = []
    with tempfile.TemporaryDirectory(prefix="beatwalk-memory-") as folder:
        for minutes in args.minutes:
            song = write_song(Path(folder) / f"song-{minutes:g}.wav", drum_song(duration=60 * minutes, bpm=120.0)[0])
            project = Path(folder) / f"project-{minutes:g}.json"
            project.write_text(json.dumps({
                "audio": {"path": str(song)},
                "keyframes": [{"time": 60 * minutes * i / 3, "prompt": p, "seed": i}
                              for i, p in enumerate(["a red sea", "a blue forest", "a golden city"])],
                "render": {"model": "tiny", "width": args.size, "height": args.size, "fps": args.fps, "steps": args.steps},
            }))  # fmt: skip
            env = dict(os.environ, BEATWALK_CACHE_DIR=str(Path(folder) / f"analyses-{minutes:g}"))
            peaks = []
            for run in ("cold", "warm"):  # the song analysed in the render, then read from the cache
                out = Path(folder) / f"video-{minutes:g}-{run}.mp4"
                command = [sys.executable, "-c", MEASURE, "render", str(project), "--out", str(out)]
                done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
                peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK")]
                if done.returncode != 0 or not peak or not out.is_file():
                    print(f"error: the {minutes:g}-minute render failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                    return 1
                peaks.append(max(int(value) for value in peak[-1].split()[1:3]) / 1024)
            rows.append((minutes, *peaks))
            print(f"{minutes:g} min: peak RSS {peaks[0]:.0f} MB analysing the song, {peaks[1]:.0f} MB with its analysis kept", flush=True)
    first = rows[0]
    lines = ["| song | peak MB, the song analysed in the render | peak MB, its analysis kept (after `new`) "
             "| against the first |", "|---|---|---|---|"]  # fmt: skip
    for minutes, cold, warm in rows:
        lines.append(f"| {minutes:g} min | {cold:.0f} | {warm:.0f} | {cold / first[1]:.2f}× / {warm / first[2]:.2f}× |")
    table = "\n".join(lines)
    print("\n" + table)
    if not args.no_record:
        record("Render memory against song length", script="render_memory", argv=argv, text=table,
               setup=f"tiny, {args.size}², {args.fps:g} fps, {args.steps} step(s), Beatwalk's defaults")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
