"""The render farm's scaling: one video on 1 and 2 Ray workers beside a single-process render.

A 2-minute song (the synthetic 120 BPM drum song) at 64×64, 12 fps, 4 steps, batches of 4, on the
tiny random-weight model; every render at one torch thread per process (the workers' setting, so the
videos are the same bytes, which is checked). Ray's start and the model's loading on the workers are
timed apart from the render; the driver's time per chunk (fetching its bytes, writing it, the
manifest) is measured, and with the farm's overhead per chunk (1 worker against the single process)
it projects the speed-up on 8, 64 and 512 GPUs for a 4-minute song at 1024² (SDXL, 4 steps).

    python -m benchmarks.farm [--seconds 120] [--record]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from benchmarks.results import RESULTS, record

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="song length")
    parser.add_argument("--workers", type=int, default=2, help="the most workers to try")
    parser.add_argument("--record", action="store_true", help=f"append to {RESULTS.name}")
    args = parser.parse_args(argv)

    import torch

    from pipelines.diffusion.families import estimate_seconds
    from pipelines.diffusion.models import load_pipeline
    from pipelines.music.analysis import analyze
    from pipelines.music.decode import load_audio
    from pipelines.project import AudioRef, Keyframe, Project, RenderSettings
    from pipelines.render.farm import Farm
    from pipelines.render.jobs import default_chunk_frames
    from pipelines.render.runner import iter_render
    from synth.songs import drum_song, write_song

    folder = Path(tempfile.mkdtemp(prefix="beatwalk-farm-bench-"))
    song = write_song(folder / "drums.wav", drum_song(duration=args.seconds, bpm=120.0)[0])
    render = RenderSettings(model="tiny", width=64, height=64, fps=12.0, steps=4, batch_size=4)
    keyframes = [Keyframe(time=t, prompt=p, seed=n) for n, (t, p) in
                 enumerate(zip(range(0, int(args.seconds), 20), ["a red circle", "a blue square", "green waves"] * 10))]  # fmt: skip
    project = Project(audio=AudioRef(path=str(song)), keyframes=keyframes, render=render)
    analysis = analyze(load_audio(song))
    chunk = default_chunk_frames(render.fps, render.batch_size)
    torch.set_num_threads(1)

    def timed(name: str, **options):
        out = folder / f"{name.replace(' ', '-')}.mp4"
        started = time.perf_counter()
        progress = list(iter_render(project, out, analysis=analysis, chunk_frames=chunk, **options))
        spent = time.perf_counter() - started
        print(f"{name}: {spent:.1f} s for {progress[-1].frames_total} frames", flush=True)
        return spent, out.read_bytes(), progress[-1].frames_total

    rows = []
    pipe = load_pipeline("tiny", device="cpu")
    single, reference, frames = timed("single process", pipe=pipe)
    chunks = math.ceil(frames / chunk)
    rows.append(("single process, 1 thread", "–", "–", f"{single:.1f}", "1.00", "–"))
    farm_times, driver = {}, []
    for workers in range(1, args.workers + 1):
        started = time.perf_counter()
        with Farm(workers=workers, threads=1) as farm:
            farm.describe()
            up = time.perf_counter() - started
            started = time.perf_counter()
            farm.load("tiny")
            load = time.perf_counter() - started
            spent, video, _ = timed(f"farm of {workers}", farm=farm)
            driver += farm.driver_seconds
        assert video == reference, "the farm's video differs from the single process's"
        farm_times[workers] = spent
        ratio = farm_times[1] / spent
        rows.append((f"Ray farm, {workers} worker{'s' * (workers > 1)} × 1 thread", f"{up:.1f}", f"{load:.1f}",
                     f"{spent:.1f}", f"{single / spent:.2f}", f"**{ratio:.2f}**"))  # fmt: skip

    per_chunk_driver = sum(driver) / len(driver)
    # Scheduling, transfer, writing, beside the single process; below zero when 1 worker is the faster.
    overhead = (farm_times[1] - single) / chunks
    table = [
        f"| render ({frames} frames, {chunks} chunks of {chunk}) | Ray start s | model load s | render s | vs single process | vs 1 worker |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    # Projection: a 4-minute song at 1024², SDXL, 4 steps, 12 fps; chunks of 4 s (48 frames) or of one batch.
    big = RenderSettings(model="stabilityai/sdxl-turbo", width=1024, height=1024, fps=12.0, steps=4, batch_size=4)
    big_frames = 240 * 12
    per_frame = (estimate_seconds(big, 1000) - estimate_seconds(big, 0)) / 1000
    projection = ["", "| GPUs | chunk frames | chunks | busiest GPU s | driver s | speed-up | limited by |", "|---|---|---|---|---|---|---|"]
    for gpus in (8, 64, 512):
        for size in (48, 4):
            n = math.ceil(big_frames / size)
            busiest = math.ceil(n / gpus) * size * per_frame
            serial = n * max(per_chunk_driver, overhead, 0.0)
            wall = max(busiest, serial)  # the driver works while the GPUs render
            speedup = big_frames * per_frame / wall
            limit = "chunk count" if n < gpus else ("driver" if serial > busiest else "GPUs")
            projection.append(f"| {gpus} | {size} | {n} | {busiest:.0f} | {serial:.1f} | {speedup:.0f}× | {limit} |")
    text = "\n".join(table + projection)
    notes = (
        f"\n\n- Same bytes: every farm video equals the single-process render's (checked).\n"
        f"- The driver's time per chunk received (its bytes fetched, written, the manifest): {per_chunk_driver * 1000:.1f} ms;"
        f" the farm's overhead per chunk beside the single process (1 worker): {overhead * 1000:.0f} ms.\n"
        f"- Projection: one frame of SDXL at 1024², 4 steps, taken as {per_frame:.2f} GPU s (Beatwalk's own estimate,"
        " pending a GPU measurement); the busiest GPU renders ⌈chunks / GPUs⌉ chunks, the driver handles every chunk"
        " in turn while they render; the join (stream copy and the song's AAC) is left out."
    )
    print("\n" + text + notes)
    if args.record:
        import ray

        record("Render farm on Ray", script="farm", argv=argv, setup=f"torch {torch.__version__}, Ray {ray.__version__}",
               text=text + notes,
               more=(f"{args.seconds:g} s song, tiny model, 64×64, 12 fps, 4 steps, batches of 4, one torch thread per process",))  # fmt: skip


if __name__ == "__main__":
    main()
