"""Composing speed: seconds of music made per second of compute.

The tiny random-weight MusicGen on this CPU (one window, and a song long enough to be continued;
the process's torch threads and one; the melody model), and the real-size MusicGen small (and medium with
``--medium``) architecture with random weights on ``--device`` (on a CPU a few seconds of music, on a
GPU half a minute and more). The model's loading is timed apart; its generation includes the text
encoder, every step, the EnCodec decoding and the joins.

    python -m benchmarks.compose [--real] [--device cuda --dtype float16 --medium] [--record]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from benchmarks.results import RESULTS, record

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "beatwalk-demo.ogg"
PROMPT = "an upbeat synthwave track with a driving bass line and punchy drums"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="also the real-size MusicGen small architecture")
    parser.add_argument("--medium", action="store_true", help="and the medium one (on a GPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="real-size models' dtype (default float32 on CPU, float16 on CUDA)")
    parser.add_argument("--seconds", type=float, default=None, help="real-size: seconds of music (2 on CPU, 30 on GPU)")
    parser.add_argument("--record", action="store_true", help=f"append to {RESULTS.name}")
    args = parser.parse_args(argv)

    import torch

    from pipelines.music.compose import Composer, composition, read_melody, real_size_composer

    rows = []

    def timed(name: str, composer, seconds: float, *, threads: int | None = None, melody=None, load: float = 0.0):
        settings = composition(model="tiny", prompt=PROMPT, seconds=seconds, seed=0)
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            composer.generate(settings, seed=0, seconds=min(seconds, 1.0), melody=melody)  # warm-up
            if composer.device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            started = time.perf_counter()
            samples = composer.generate(settings, seed=0, seconds=seconds, melody=melody)
            if composer.device.type == "cuda":
                torch.cuda.synchronize()
            spent = time.perf_counter() - started
        finally:
            torch.set_num_threads(before)
        assert len(samples) == round(seconds * composer.sample_rate)
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f}" if composer.device.type == "cuda" else "–"
        windows = 1 + max(0, math.ceil((seconds - settings.window) / (settings.window - settings.context)))
        row = (name, f"{seconds:g}", str(windows), threads or "process default", f"{load:.1f}", f"{spent:.2f}",
               f"**{seconds / spent:.2f}**", peak)  # fmt: skip
        print(" | ".join(map(str, row)), flush=True)
        rows.append(row)

    started = time.perf_counter()
    tiny = Composer("tiny")
    load = time.perf_counter() - started
    for seconds in (30.0, 60.0):
        timed("tiny", tiny, seconds, load=load)
    timed("tiny", tiny, 30.0, threads=1)
    started = time.perf_counter()
    melody_model = Composer("tiny-melody")
    load = time.perf_counter() - started
    tune = read_melody(EXAMPLE, melody_model.sample_rate)
    timed("tiny-melody, following the example song", melody_model, 30.0, melody=tune, load=load)

    if args.real or args.medium:
        device = args.device
        dtype = args.dtype or ("float16" if device.startswith("cuda") else "float32")
        seconds = args.seconds or (30.0 if device.startswith("cuda") else 2.0)
        for architecture in ["musicgen-small"] + (["musicgen-medium"] if args.medium else []):
            started = time.perf_counter()
            composer = real_size_composer(architecture, device=device, dtype=dtype)
            load = time.perf_counter() - started
            timed(f"{architecture} architecture, random weights, {dtype} on {device}", composer, seconds, load=load)
            del composer

    table = [
        "| model | seconds of music | windows | torch threads | build/load s | compute s | music s per compute s | peak GPU GiB |",
        "|---|---|---|---|---|---|---|---|",
        *("| " + " | ".join(map(str, row)) + " |" for row in rows),
    ]
    text = "\n".join(table)
    print("\n" + text)
    if args.record:
        record("Composing (MusicGen)", script="compose", argv=argv, setup=f"torch {torch.__version__}", text=text,
               more=("guidance 3, top-k 250, 30 s window, 12 s context; one warm-up of 1 s first",))  # fmt: skip


if __name__ == "__main__":
    main()
