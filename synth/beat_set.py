"""Build the annotated beat-tracking evaluation set: rendered music with exact beats and bars.

Each clip is composed from a seed with pretty_midi (bass, harmony, melody, drums optional),
placed on a beat grid that follows a tempo curve (steady, ramp, jump, rubato), and rendered
through the ``fluidsynth`` binary with a General MIDI soundfont (FluidR3, MIT licence, unless a
split says otherwise). Because every note is placed on the grid, the grid *is* the annotation:
beats and downbeats are exact.

Beats follow pretty_midi's ``get_beats`` convention: one beat per denominator note in simple
meters (3/4, 4/4, 5/4), one per dotted quarter in compound meters (6/8 → 2 beats per bar,
12/8 → 4). Beats are annotated from the first note to the end of the last bar, never in a
silent intro.

Splits, deterministic from seeds:

- ``train``: what the beat network (``scripts/train_beat_net.py``) learns from; rendered with
  FluidR3 or TimGM6mb (GPL-2, Debian ``timgm6mb-soundfont``) at random, each part's level varied;
- ``train-varied``: more training music of a wider kind (``Split.varied``): a drum groove and
  GM drum kit per clip (backbeat, half-time, four-on-the-floor, off-beat hats, sixteenths,
  syncopated kicks, tom fills...), any GM instrument for the pitched parts, human timing (each
  part early or late by up to 15 ms, each note scattered by up to about 12 ms) and, for half
  the clips, room reverb;
- ``dev`` and ``dev-large`` (10 clips a style, new seeds): tune constants on them; ``dev-varied``
  is tuning music of the varied kind;
- ``heldout``: only measure on it;
- ``heldout-musescore``: the held-out compositions rendered with the MuseScore General soundfont
  (MIT licence, Debian ``musescore-general-soundfont-small``), a timbre nothing was trained or
  tuned on.

Usage::

    python -m synth.beat_set                 # 84 dev + 42 + 42 held-out clips in benchmarks/data/beats/
    python -m synth.beat_set --splits dev-large     # 140 more tuning clips
    python -m synth.beat_set --splits train train-varied  # 3500 training clips (about 15 minutes on 2 cores)
    python -m synth.beat_set --splits dev-varied
    python -m synth.beat_set --splits dev --clips-per-category 2   # a smaller set
    python -m synth.beat_set --categories pop44   # (re)build one category only
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile

SOUNDFONTS = {
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "musescore": "/usr/share/sounds/sf3/MuseScore_General.sf3",
}
SAMPLE_RATE = 22050
DATA_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "beats"


@dataclass(frozen=True)
class Split:
    """How a split is made: its first seed, its soundfonts (one per clip, drawn by seed), clips
    per category by default, whether the parts' levels are varied, and whether the music is
    varied further (``varied``: drum grooves and kits, any GM instrument, human timing, room
    reverb; see ``_vary``)."""

    seed: int
    soundfonts: tuple[str, ...] = ("fluidr3",)
    clips_per_category: int = 3
    vary_levels: bool = False
    varied: bool = False


SPLITS = {
    "dev": Split(0, clips_per_category=6),
    "heldout": Split(100_000),
    # More of the dev split's kind (new seeds), for tuning with less noise than 6 clips a style.
    "dev-large": Split(300_000, clips_per_category=10),
    "heldout-musescore": Split(100_000, soundfonts=("musescore",)),
    "train": Split(200_000, soundfonts=("fluidr3", "timgm6mb"), clips_per_category=150, vary_levels=True),
    # More training music, further from the evaluation splits' kind: see Split.varied.
    "train-varied": Split(
        400_000, soundfonts=("fluidr3", "timgm6mb"), clips_per_category=100, vary_levels=True, varied=True
    ),
    # Tuning clips of the varied kind, so that constants are not chosen for one composer only.
    "dev-varied": Split(500_000, clips_per_category=6, varied=True),
}

# (name, meter numerator, denominator, bpm range, tempo shape, drums, swing, intro seconds)
CATEGORIES = [
    ("steady44", 4, 4, (80, 150), "steady", True, False, 0.0),
    ("nodrums44", 4, 4, (60, 160), "steady", False, False, 0.0),
    ("waltz34", 3, 4, (80, 180), "steady", None, False, 0.0),
    ("compound68", 6, 8, (50, 110), "steady", None, False, 0.0),
    ("compound128", 12, 8, (50, 100), "steady", None, False, 0.0),
    ("odd54", 5, 4, (80, 160), "steady", None, False, 0.0),
    ("swing", 4, 4, (90, 190), "steady", None, True, 0.0),
    ("ramp", 4, 4, (70, 130), "ramp", None, False, 0.0),
    ("jump", None, 4, (70, 140), "jump", None, False, 0.0),
    ("rubato", None, 4, (60, 120), "rubato", False, False, 0.0),
    ("extreme", 4, 4, (50, 200), "steady", None, None, 0.0),
    ("drums_only", None, 4, (60, 200), "steady", True, None, 0.0),
    ("silent_intro", None, 4, (60, 180), "steady", None, None, (2.0, 8.0)),
    # Pop backbeat: kick and bass equally on 1 and 3, snare on 2 and 4, no accent on the bar
    # start; only the chord change and the crash show beat 1 (like examples/beatwalk-demo.ogg).
    ("pop44", 4, 4, (80, 140), "steady", True, False, 0.0),
]

MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
# Chord progressions as scale degrees (0-based), one chord per bar.
PROGRESSIONS = [[0, 4, 5, 3], [0, 3, 4, 0], [5, 3, 0, 4], [1, 4, 0, 5], [0, 5, 3, 4], [0, 0, 3, 4]]
HARMONY = {"piano": 0, "epiano": 4, "vibes": 11, "nylon": 24, "steel": 25, "strings": 48, "harp": 46}
MELODY = {"flute": 73, "violin": 40, "trumpet": 56, "sax": 65, "clarinet": 71, "piano": 0, "oboe": 68}
BASS = {"acoustic": 32, "finger": 33, "cello": 42, "piano": 0}
KICK, SNARE, HAT, RIDE, CRASH = 36, 38, 42, 51, 49


@dataclass
class Clip:
    """One annotated clip: where its audio is and what its truth is."""

    name: str
    category: str
    meter: str
    beats_per_bar: int
    bpm: float
    tempo: str
    drums: bool
    swing: float
    intro: float
    beats: list = field(default_factory=list)
    downbeats: list = field(default_factory=list)
    soundfont: str = "fluidr3"


def build(
    split: str, *, clips_per_category: int | None = None, out_dir: Path = DATA_DIR, workers: int = 2,
    categories: list[str] | None = None,
) -> list[Clip]:
    """Compose, render and annotate one split; returns the clips (also written as JSON).

    With ``categories``, only those are (re)built and merged into the split's existing index;
    a clip's seed depends only on its category's place in ``CATEGORIES``, so the others stay.
    """
    if shutil.which("fluidsynth") is None:
        raise SystemExit("error: rendering needs the Debian package fluidsynth (and its soundfonts: see the docstring)")
    spec = SPLITS[split]
    out = out_dir / split
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for c, category in enumerate(CATEGORIES):
        if categories is None or category[0] in categories:
            for k in range(clips_per_category or spec.clips_per_category):
                seed = spec.seed + 1000 * c + k
                soundfont = spec.soundfonts[seed % len(spec.soundfonts)]
                jobs.append((category, seed, out, soundfont, spec.vary_levels, spec.varied))
    with ProcessPoolExecutor(workers) as pool:
        clips = list(pool.map(_make_clip, jobs, chunksize=8))
    if categories is not None and (out / "index.json").exists():
        kept = [Clip(**item) for item in json.loads((out / "index.json").read_text())]
        order = [name for name, *_ in CATEGORIES]
        clips = sorted([c for c in kept if c.category not in categories] + clips, key=lambda c: order.index(c.category))
    (out / "index.json").write_text(json.dumps([asdict(clip) for clip in clips], indent=1))
    return clips


def load(split: str, *, data_dir: Path = DATA_DIR) -> list[tuple[Clip, Path]]:
    """The clips of a built split with their audio paths."""
    index = json.loads((data_dir / split / "index.json").read_text())
    return [(Clip(**item), data_dir / split / f"{item['name']}.flac") for item in index]


def _make_clip(job) -> Clip:
    (category, numerator, denominator, bpm_range, tempo, drums, swing, intro), seed, out, soundfont, vary, varied = job
    rng = np.random.default_rng(seed)
    # The varied kind draws from its own generator too: `rng` makes the same piece either way.
    vary_rng = np.random.default_rng(seed + 13) if varied else None
    # Levels from their own generator, so that the other splits' clips stay as they were.
    levels = np.exp(np.random.default_rng(seed + 7).uniform(-0.5, 0.5, 4)) if vary else np.ones(4)
    if numerator is None:
        numerator = int(rng.choice([3, 4, 4, 6, 12, 5]))
        denominator = 8 if numerator in (6, 12) else 4
    compound = numerator in (6, 12)
    beats_per_bar = numerator // 3 if compound else numerator
    subdivisions = 3 if compound else 2
    drums = bool(rng.random() < 0.5) if drums is None else drums
    swing = (rng.random() < 0.3) if swing is None else swing
    swing_ratio = float(rng.uniform(0.6, 0.68)) if swing and not compound else 0.5
    intro = float(rng.uniform(*intro)) if isinstance(intro, tuple) else intro
    bpm = float(np.exp(rng.uniform(*np.log(bpm_range))))

    # 1. The beat grid: tempo curve → beat times, from a pickup to the end of the last bar.
    pickup = int(rng.integers(0, beats_per_bar)) if rng.random() < 0.3 else 0
    n_beats = pickup + beats_per_bar * int(np.ceil(30.0 * bpm / 60.0 / beats_per_bar))
    beat_bpm = _tempo_curve(tempo, bpm, n_beats, beats_per_bar, rng)
    beat_times = intro + np.concatenate([[0.0], np.cumsum(60.0 / beat_bpm[:-1])])
    end_time = beat_times[-1] + 60.0 / beat_bpm[-1]
    grid = np.append(beat_times, end_time)

    def when(position: float) -> float:
        """Seconds of a position counted in beats (swing warps the second eighth)."""
        k = int(np.floor(position))
        frac = position - k
        if swing_ratio != 0.5:
            frac = frac / 0.5 * swing_ratio if frac < 0.5 else swing_ratio + (frac - 0.5) / 0.5 * (1 - swing_ratio)
        k = min(k, len(grid) - 2)
        return float(grid[k] + frac * (grid[k + 1] - grid[k]))

    # 2. The parts, bar by bar (bar 0 is the pickup bar when there is one).
    pm = pretty_midi.PrettyMIDI()
    key = int(rng.integers(0, 12))
    scale = MINOR if rng.random() < 0.4 else MAJOR
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    names = {
        "harmony": str(rng.choice(list(HARMONY))),
        "melody": str(rng.choice(list(MELODY))),
        "bass": str(rng.choice(list(BASS))),
    }
    parts = {
        "harmony": pretty_midi.Instrument(HARMONY[names["harmony"]]),
        "melody": pretty_midi.Instrument(MELODY[names["melody"]]),
        "bass": pretty_midi.Instrument(BASS[names["bass"]]),
        "drums": pretty_midi.Instrument(0, is_drum=True),
    }
    harmony_style = str(rng.choice(["block", "arpeggio", "pad", "offbeat"]))
    bass_style = str(rng.choice(["root", "beats", "root_fifth", "halves"]))
    drum_style = int(rng.integers(3))
    use_melody = rng.random() < 0.85
    pop = category == "pop44"
    if pop:
        bass_style, drum_style, harmony_style = "pop", 1, str(rng.choice(["block", "arpeggio", "pad"]))
    melody_note = 7
    n_bars = (n_beats - pickup) // beats_per_bar
    # The varied kind: a drum groove, and for half the clips another one from the middle on
    # (verse and chorus).
    grooves = [_groove(beats_per_bar, subdivisions, vary_rng) for _ in range(2)] if varied else [None, None]
    if varied and vary_rng.random() < 0.5:
        grooves[1] = grooves[0]
    for bar in range(0 if pickup else 1, n_bars + 1):
        start_beat = pickup + (bar - 1) * beats_per_bar if bar else 0
        degree = progression[(bar - 1) % len(progression)] if bar else 4
        chord = [key + 48 + scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        gain = 1.0 + 0.25 * np.sin(2 * np.pi * bar / max(n_bars, 1))
        for j in range(beats_per_bar if bar else pickup):
            b = start_beat + j
            on_down = bar > 0 and j == 0
            accent = 0.8 if pop else 1.0 if on_down else 0.8 if j % 2 == 0 else 0.7
            if bar > 0:
                _harmony(parts["harmony"], harmony_style, chord, b, j, beats_per_bar, subdivisions, when, accent * gain)
                _bass(parts["bass"], bass_style, chord, b, j, beats_per_bar, when, accent * gain)
                groove = grooves[2 * bar > n_bars]
                if drums and groove is not None:
                    if j == 0:
                        fill = bar % 4 == 0 and vary_rng.random() < 0.4
                        _play_groove(parts["drums"], groove, b, beats_per_bar, when, gain, fill, vary_rng)
                elif drums:
                    _drums(parts["drums"], drum_style, b, j, beats_per_bar, subdivisions, when, gain)
                if pop and on_down and bar % 4 == 1:
                    _note(parts["drums"], CRASH, when(b), when(b + 2), 100 * gain)
            if use_melody:
                melody_note = _melody(parts["melody"], melody_note, key, scale, b, on_down, subdivisions, when, gain, rng)
    for part in parts.values():
        if part.notes:
            pm.instruments.append(part)

    # 3. Render, mix to mono, annotate from the first note (the grid, whatever the timing).
    for level, part in zip(levels, parts.values()):
        for note in part.notes:
            note.velocity = int(np.clip(round(note.velocity * level), 1, 127))
    if varied:
        _vary(parts, vary_rng)
    audio = _render(pm, SOUNDFONTS[soundfont])
    if varied:
        audio = _room(audio, vary_rng)
    first_note = min(note.start for part in pm.instruments for note in part.notes)
    beats = beat_times[beat_times >= first_note - 1e-3]
    downbeat_index = np.arange(pickup, n_beats, beats_per_bar)
    downbeats = beat_times[downbeat_index]
    name = f"{category}-{seed}"
    soundfile.write(out / f"{name}.flac", audio, SAMPLE_RATE)
    return Clip(
        name=name, category=category, meter=f"{numerator}/{denominator}", beats_per_bar=beats_per_bar,
        bpm=round(bpm, 2), tempo=tempo, drums=drums, swing=round(swing_ratio, 3), intro=round(intro, 3),
        beats=[round(float(t), 5) for t in beats], downbeats=[round(float(t), 5) for t in downbeats],
        soundfont=soundfont,
    )


def _tempo_curve(tempo, bpm, n_beats, beats_per_bar, rng) -> np.ndarray:
    """Tempo (BPM) of each beat interval."""
    k = np.arange(n_beats, dtype=float)
    if tempo == "ramp":
        ratio = rng.choice([-1, 1]) * rng.uniform(0.25, 0.45)
        return bpm * np.exp(ratio * k / n_beats)
    if tempo == "jump":
        at = beats_per_bar * int(n_beats / beats_per_bar / 2)
        factor = rng.choice([0.7, 0.8, 1.25, 1.4])
        return np.where(k < at, bpm, bpm * factor)
    if tempo == "rubato":
        # Smooth random tempo, ±10–18 %, with phrase-end ritardandi.
        noise = rng.standard_normal(n_beats // 4 + 3)
        smooth = np.interp(k / 4, np.arange(len(noise)), noise)
        smooth = np.convolve(smooth, np.hanning(9) / np.hanning(9).sum(), mode="same")
        depth = rng.uniform(0.1, 0.18)
        phrase = 4 * beats_per_bar
        ritard = 1 - 0.15 * np.clip((k % phrase) - (phrase - 3), 0, None) / 2
        return bpm * np.exp(depth * smooth / max(np.abs(smooth).max(), 1e-9)) * ritard
    return np.full(n_beats, bpm)


def _note(part, pitch, start, end, velocity):
    velocity = int(np.clip(velocity, 1, 127))
    part.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(pitch), start=start, end=max(end, start + 0.05)))


def _harmony(part, style, chord, b, j, beats_per_bar, subdivisions, when, accent):
    if style == "pad":
        if j == 0:
            for pitch in chord:
                _note(part, pitch + 12, when(b), when(b + beats_per_bar) - 0.02, 70 * accent)
    elif style == "block":
        for pitch in chord:
            _note(part, pitch + 12, when(b), when(b + 0.9), 80 * accent)
    elif style == "offbeat":
        for pitch in chord:
            _note(part, pitch + 12, when(b + 1 - 1 / subdivisions), when(b + 1), 60 * accent)
    else:
        tones = chord + [chord[0] + 12, chord[1] + 12]
        for s in range(subdivisions):
            pitch = tones[(j * subdivisions + s) % len(tones)] + 12
            _note(part, pitch, when(b + s / subdivisions), when(b + (s + 1) / subdivisions), (75 if s == 0 else 60) * accent)


def _bass(part, style, chord, b, j, beats_per_bar, when, accent):
    root = chord[0] - 12
    if style == "root":
        if j == 0:
            _note(part, root, when(b), when(b + beats_per_bar) - 0.02, 95 * accent)
        return
    if style == "pop":
        # Root on 1 and 3, a passing fifth on the "and" of 4 leading into the next bar.
        if j in (0, 2):
            _note(part, root, when(b), when(b + 1.5) - 0.02, 95)
        elif j == 3:
            _note(part, root + 7, when(b + 0.5), when(b + 1) - 0.02, 80)
        return
    if style == "halves":
        # The same root, equally loud, on every half bar: the bass alone does not show the bar.
        half = max(beats_per_bar // 2, 1)
        if j % half == 0:
            _note(part, root, when(b), when(b + half) - 0.02, 95)
        return
    pitch = root + (7 if style == "root_fifth" and j % 2 == 1 else 0)
    _note(part, pitch, when(b), when(b + 0.9), 90 * accent)


def _drums(part, style, b, j, beats_per_bar, subdivisions, when, gain):
    compound = subdivisions == 3
    if j == 0 or (style == 1 and not compound and beats_per_bar == 4 and j == 2):
        _note(part, KICK, when(b), when(b + 0.2), 110 * gain)
    elif (beats_per_bar == 4 and j in (1, 3)) or (beats_per_bar == 3 and j > 0) or (beats_per_bar == 2 and j == 1):
        _note(part, SNARE, when(b), when(b + 0.2), 95 * gain)
    elif beats_per_bar == 5 and j in (2, 4):
        _note(part, SNARE if j == 2 else KICK, when(b), when(b + 0.2), 95 * gain)
    if style == 2 and not compound and j == beats_per_bar - 1:
        _note(part, KICK, when(b + 0.5), when(b + 0.7), 90 * gain)
    cymbal = RIDE if style == 0 else HAT
    for s in range(subdivisions):
        _note(part, cymbal, when(b + s / subdivisions), when(b + (s + 0.5) / subdivisions), (80 if s == 0 else 60) * gain)


# Varied music (Split.varied). Instruments by GM family: any piano, chromatic percussion,
# organ, guitar, strings, ensemble, brass, reed, pipe, synth lead or pad.
VARIED_HARMONY = list(range(32)) + list(range(40, 56)) + list(range(88, 96))
VARIED_MELODY = list(range(32)) + list(range(40, 88))
VARIED_BASS = list(range(32, 40)) + [42, 43, 58, 0]
DRUM_KITS = [0, 8, 16, 24, 25, 32, 40, 48]  # GM2 kits both training soundfonts have
HATS = [42, 42, 44, 46, 51, 54, 69, 70]  # closed, pedal, open hat, ride, tambourine, cabasa, maracas
SNARES = [38, 38, 40, 37, 39]  # acoustic, electric, side stick, clap
TOMS = [41, 43, 45, 47, 48, 50]
# 4/4 grooves: (kick positions, snare positions, cymbal step in beats, cymbal offset), one bar.
GROOVES_44 = {
    "rock": ([0, 2], [1, 3], 0.5, 0.0),
    "halftime": ([0], [2], 0.5, 0.0),
    "four_floor": ([0, 1, 2, 3], [1, 3], 0.5, 0.0),
    "disco": ([0, 1, 2, 3], [], 1.0, 0.5),
    "kick13_hats": ([0, 2], [], 0.5, 0.0),
    "sixteenths": ([0, 1.5, 2], [1, 3], 0.25, 0.0),
    "syncopated": ([0, 0.75, 2.5], [1, 3], 0.5, 0.0),
    "offbeat_hats": ([0, 2], [1, 3], 1.0, 0.5),
    "sparse": ([0], [], 1.0, 0.0),
    "shuffle_kick": ([0, 1.5, 2.5], [1, 3], 0.5, 0.0),
}


def groove_pattern(beats_per_bar, subdivisions, rng, *, named: float) -> tuple[list, list, float, float]:
    """One bar's drum pattern: kick and snare positions (in beats), and the cymbal's step and
    offset. In 4/4 with straight eighths, one of ``GROOVES_44`` with probability ``named``;
    otherwise (and in other meters) the kick on 1, then a random choice of beats for kick and
    snare, the cymbal on beats, subdivisions or half-subdivisions."""
    if beats_per_bar == 4 and subdivisions == 2 and rng.random() < named:
        return GROOVES_44[str(rng.choice(list(GROOVES_44)))]
    others = np.arange(1, beats_per_bar)
    kicks = [0] + [int(k) for k in others if rng.random() < 0.3]
    snares = [int(k) for k in others if k not in kicks and rng.random() < 0.6]
    return kicks, snares, float(rng.choice([1.0, 1.0 / subdivisions, 0.5 / subdivisions])), 0.0


def reverb_tail(audio: np.ndarray, rt60: float, rng, *, sample_rate: float = SAMPLE_RATE) -> np.ndarray:
    """``audio`` (at ``sample_rate``) through a room's response (exponentially decaying noise,
    ``rt60`` seconds), cut to its length: the wet signal alone."""
    import scipy.signal

    t = np.arange(int(rt60 * sample_rate)) / sample_rate
    response = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    return scipy.signal.fftconvolve(audio, response)[: len(audio)]


def _groove(beats_per_bar, subdivisions, rng) -> dict:
    """One clip's drum groove: a kit and one bar's hits as (pitch, position in beats, velocity)."""
    kick, snare, cymbal = int(rng.choice([35, 36])), int(rng.choice(SNARES)), int(rng.choice(HATS))
    kicks, snares, step, offset = groove_pattern(beats_per_bar, subdivisions, rng, named=0.8)
    hits = [(kick, float(k), 110) for k in kicks] + [(snare, float(k), 95) for k in snares]
    if rng.random() < 0.9:
        hits += [(cymbal, float(t), 80 if t % 1 == 0 else 60) for t in np.arange(offset, beats_per_bar, step)]
    return {"kit": int(rng.choice(DRUM_KITS)), "hits": hits, "crash": rng.random() < 0.5}


def _play_groove(part, groove, b, beats_per_bar, when, gain, fill, rng):
    """One bar of a groove from beat ``b``, with a tom or snare fill over its last beat."""
    part.program = groove["kit"]
    for pitch, position, velocity in groove["hits"]:
        if fill and position >= beats_per_bar - 1:
            continue
        _note(part, pitch, when(b + position), when(b + position + 0.2), (velocity + rng.normal(0, 8)) * gain)
    if fill:
        for k in range(4):
            pitch = int(rng.choice(TOMS + [38]))
            _note(part, pitch, when(b + beats_per_bar - 1 + k / 4), when(b + beats_per_bar - 0.8 + k / 4), 90 * gain)
    if groove["crash"] and fill:
        _note(part, CRASH, when(b + beats_per_bar), when(b + beats_per_bar + 1), 100 * gain)


def _vary(parts, rng):
    """Any GM instruments for the pitched parts; articulation: half the pitched parts play
    detached, their notes cut to 20–100 % of their length (a note's end is heard too, and must
    not pass for a beat); and human timing: each part a little early or late as a whole (up to
    about 15 ms), each note scattered by up to about 12 ms."""
    parts["harmony"].program = int(rng.choice(VARIED_HARMONY))
    parts["melody"].program = int(rng.choice(VARIED_MELODY))
    parts["bass"].program = int(rng.choice(VARIED_BASS))
    spread = rng.uniform(0.0, 0.012)
    for name, part in parts.items():
        lag = rng.uniform(-0.01, 0.015)
        legato = rng.uniform(0.2, 1.0) if name != "drums" and rng.random() < 0.5 else 1.0
        for note in part.notes:
            length = max((note.end - note.start) * legato, 0.05)
            start = max(note.start + lag + rng.normal(0.0, spread), 0.0)
            note.start, note.end = start, start + length


def _room(audio, rng):
    """Room reverb (an exponentially decaying noise response, RT60 0.2–2 s) at a random mix, for
    half the clips."""
    if rng.random() < 0.5:
        return audio
    wet = reverb_tail(audio, rng.uniform(0.2, 2.0), rng)
    mix = rng.uniform(0.1, 0.5)
    out = (1 - mix) * audio / max(float(np.abs(audio).max()), 1e-9) + mix * wet / max(float(np.abs(wet).max()), 1e-9)
    return (0.9 * out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)


def _melody(part, current, key, scale, b, on_down, subdivisions, when, gain, rng) -> int:
    """One beat of a random-walk melody; returns the scale step it ends on."""
    rhythm = [[1.0], [0.5, 0.5], [1.0], [1 / 3] * 3 if subdivisions == 3 else [0.75, 0.25]][int(rng.integers(4))]
    if subdivisions == 3 and rhythm == [0.5, 0.5]:
        rhythm = [2 / 3, 1 / 3]
    position = float(b)
    for duration in rhythm:
        if rng.random() > 0.15 or on_down:
            current = int(np.clip(current + rng.integers(-2, 3), 0, 14))
            pitch = key + 60 + scale[current % 7] + 12 * (current // 7)
            _note(part, pitch, when(position), when(position + duration) - 0.01, (85 if on_down else 72) * gain)
        position += duration
    return current


def _render(pm: pretty_midi.PrettyMIDI, soundfont: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "clip.mid", Path(tmp) / "clip.wav"
        pm.write(str(midi))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-F", str(wav), soundfont, str(midi)],
            check=True, capture_output=True,
        )
        audio, _ = soundfile.read(wav, dtype="float32")
    audio = audio.mean(axis=1) if audio.ndim == 2 else audio
    return (0.9 * audio / max(float(np.abs(audio).max()), 1e-9)).astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), default=["dev", "heldout", "heldout-musescore"])
    parser.add_argument("--clips-per-category", type=int, help="instead of each split's own number")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--categories", nargs="+", choices=[c[0] for c in CATEGORIES], help="only these")
    args = parser.parse_args(argv)
    for split in args.splits:
        clips = build(split, clips_per_category=args.clips_per_category, out_dir=args.out, categories=args.categories)
        print(f"{split}: {len(clips)} clips in {args.out / split}")


if __name__ == "__main__":
    main()
