"""Auto-accompaniment clips with exact beats and bars: MMA's style library, rendered.

MMA (Musical MIDI Accompaniment, Debian ``mma``, GPL-2) turns a chord chart and a style name into
the whole band of a home keyboard's accompaniment: bossa nova, 5/4 jazz, blues shuffles,
marches, ragtime, ska, waltzes, Latin dances, big band... written by people, not by our own
composer (``synth/beat_set.py``), so the grooves, fills, swing and accents are new to the beat
network. Each clip is a chord chart drawn from a seed (a 12-bar blues for the blues styles,
ii-V-I turns for the jazz ones, pop progressions for the rest), in a random key and at a tempo
from the style's usual range, sometimes with the style's intro, its groove changing to
a variant every eight bars; ``mma`` writes the MIDI and ``fluidsynth`` renders it as
``synth/beat_set.py`` does.

The annotation is MMA's own grid: MMA plays every beat of its ``Time`` (beats per bar) as one
MIDI quarter note, so beat ``k`` is at tick ``k * resolution`` of the MIDI's tempo map, and every
``Time``-th beat is a downbeat (a 6/8 march in 2 has 2 beats a bar, a 12/8 blues 4, 5/4 jazz 5).

Splits (each clip's style and seed are fixed by its place, so a split is the same everywhere):

- ``mma-train``: what the beat network learns from (12 clips a style, FluidR3 or TimGM6mb);
- ``mma-dev``: tune on it (2 clips a style, FluidR3 or TimGM6mb);
- ``mma-fit``: more clips (3 a style, new seeds) for fitting the bar model's weights;
- ``mma-heldout``: measure once (2 clips a style, new seeds, MuseScore General).

Usage::

    python -m synth.mma_set --splits mma-dev          # needs the Debian packages mma, fluidsynth and the soundfonts
    python -m benchmarks.beats --split mma-dev
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile

from synth.beat_set import DATA_DIR, SAMPLE_RATE, SOUNDFONTS, Clip, _render

STYLE_DIR = Path("/usr/share/mma/lib/stdlib")
SECONDS = 30.0

# MMA style file: (family of its chord charts, tempo range in its beats per minute).
STYLES = {
    "bossanova": ("jazz", (110, 150)),
    "samba": ("pop", (90, 120)),
    "jazz-54": ("jazz", (120, 180)),
    "jazzwaltz": ("jazz", (110, 170)),
    "swing": ("jazz", (110, 180)),
    "jazzcombo": ("jazz", (100, 160)),
    "blues": ("blues", (80, 120)),
    "slowblues": ("blues", (55, 75)),
    "fastblues": ("blues", (120, 160)),
    "shuffleboggie": ("blues", (100, 140)),
    "blues128": ("blues", (55, 80)),
    "march": ("pop", (100, 130)),
    "bwmarch": ("pop", (100, 130)),
    "68march": ("pop", (95, 125)),
    "ragtime": ("pop", (80, 120)),
    "ska": ("pop", (120, 170)),
    "rhumba": ("pop", (90, 130)),
    "salsa": ("pop", (150, 200)),
    "tango": ("pop", (110, 130)),
    "waltz": ("pop", (80, 110)),
    "polka": ("pop", (100, 140)),
    "foxtrot": ("jazz", (110, 140)),
    "rock-128": ("pop", (55, 80)),
    "50srock": ("blues", (140, 180)),
    "8beat": ("pop", (90, 130)),
    "countryswing": ("pop", (110, 150)),
    "bluegrass": ("pop", (110, 160)),
    "beguine": ("pop", (100, 130)),
    "merengue": ("pop", (110, 140)),
    "hymn": ("pop", (70, 100)),
    "popballad": ("pop", (60, 90)),
    "rb": ("pop", (80, 110)),
}


@dataclass(frozen=True)
class MmaSplit:
    """How a split is made: its first seed, soundfonts (one per clip, by seed), clips per style."""

    seed: int
    soundfonts: tuple[str, ...]
    clips_per_style: int


SPLITS = {
    "mma-train": MmaSplit(600_000, ("fluidr3", "timgm6mb"), 12),
    "mma-dev": MmaSplit(700_000, ("fluidr3", "timgm6mb"), 2),
    "mma-fit": MmaSplit(800_000, ("fluidr3", "timgm6mb"), 3),
    "mma-heldout": MmaSplit(900_000, ("musescore",), 2),
}

NOTES = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]
MAJOR = [0, 2, 4, 5, 7, 9, 11]
# Scale degrees (0-based) of pop progressions, one chord per bar.
POP = [[0, 4, 5, 3], [0, 3, 4, 0], [5, 3, 0, 4], [1, 4, 0, 5], [0, 5, 3, 4], [0, 0, 3, 4]]
POP_QUALITY = ["", "m", "m", "", "", "m", "m7b5"]
BLUES = [0, 0, 0, 0, 5, 5, 0, 0, 7, 5, 0, 7]  # semitones above the key, bar by bar
# ii-V-I turns as (semitones above the key, chord quality), one chord a bar.
JAZZ = [[(2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")], [(2, "m7"), (7, "7"), (0, "maj7"), (9, "7")],
        [(0, "maj7"), (9, "m7"), (2, "m7"), (7, "7")], [(4, "m7"), (9, "7"), (2, "m7"), (7, "7")]]


def style_info(style: str) -> tuple[int, list[str]]:
    """Beats per bar of an MMA style file and the names of its grooves."""
    text = (STYLE_DIR / f"{style}.mma").read_text(errors="replace")
    time = int(re.search(r"^\s*Time\s+(\d+)", text, re.M | re.I).group(1))
    grooves = re.findall(r"^\s*DefGroove\s+(\S+)", text, re.M | re.I)
    return time, grooves


def chart(style: str, seed: int) -> tuple[str, int, float, list[int]]:
    """The MMA file of one clip, with its beats per bar, its tempo and the pitch class of each
    bar's first chord root (as many as it has bars)."""
    family, (slow, fast) = STYLES[style]
    rng = np.random.default_rng(seed)
    time, grooves = style_info(style)
    bpm = float(round(rng.uniform(slow, fast)))  # MMA writes whole BPM
    bars = max(8, int(round(SECONDS / (time * 60.0 / bpm))))
    key = int(rng.integers(12))
    plain = [g for g in grooves if not re.search(r"intro|end|metronome|fill", g, re.I)]
    main = min(plain, key=len)
    variant = str(rng.choice(plain))
    intros = [g for g in grooves if re.search(r"intro", g, re.I) and "drum" not in g.lower()]

    if family == "blues":
        chords = [(s, "7") for s in BLUES]
    elif family == "jazz":
        chords = JAZZ[int(rng.integers(len(JAZZ)))]
    else:
        degrees = POP[int(rng.integers(len(POP)))]
        chords = [(MAJOR[d], POP_QUALITY[d]) for d in degrees]
    names = [NOTES[(key + s) % 12] + quality for s, quality in chords]
    # MMA humanises (random timing, velocities, skipped notes): seeded, a clip is the same every time.
    lines = [f"RndSeed {seed % 2**31}", f"Tempo {bpm:.0f}", f"Groove {main}"]
    intro_bars = 0
    if intros and rng.random() < 0.3:
        lines[-1] = f"Groove {intros[0]}"
        intro_bars = 4
    for bar in range(bars):
        if bar == intro_bars and intro_bars:
            lines.append(f"Groove {main}")
        if bar > intro_bars and (bar - intro_bars) % 8 == 0:
            lines.append(f"Groove {variant if (bar - intro_bars) // 8 % 2 else main}")
        chord = names[bar % len(names)]
        if time == 4 and family != "blues" and rng.random() < 0.25:
            lines.append(f"{bar + 1} {chord} {names[(bar + 1) % len(names)]}")
        else:
            lines.append(f"{bar + 1} {chord}")
    roots = [(key + chords[bar % len(chords)][0]) % 12 for bar in range(bars)]
    return "\n".join(lines) + "\n", time, bpm, roots


def midi(style: str, seed: int) -> tuple[pretty_midi.PrettyMIDI, int, float, list[int]]:
    """One clip's MIDI as ``mma`` writes it, with what :func:`chart` says of it."""
    text, time, bpm, roots = chart(style, seed)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "clip.mma"
        source.write_text(text)
        subprocess.run(["mma", "-f", str(Path(tmp) / "clip.mid"), str(source)], check=True, capture_output=True)
        return pretty_midi.PrettyMIDI(str(Path(tmp) / "clip.mid")), time, bpm, roots


def annotate(pm: pretty_midi.PrettyMIDI, time: int, bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Beats and downbeats (seconds) of MMA's MIDI: beat ``k`` at tick ``k * resolution``, every
    ``time``-th a downbeat, from the first note to the last bar's last beat."""
    grid = np.array([pm.tick_to_time(k * pm.resolution) for k in range(bars * time)])
    first_note = min(note.start for part in pm.instruments for note in part.notes)
    keep = grid >= first_note - 1e-3
    return grid[keep], grid[::time][keep[::time]]


def clip_audio(style: str, seed: int, soundfont: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, float]:
    """One clip rendered with ``soundfont`` (a key of ``SOUNDFONTS``), at ``SAMPLE_RATE``: its audio,
    beats and downbeats (seconds), beats per bar and tempo."""
    pm, time, bpm, roots = midi(style, seed)
    beats, downbeats = annotate(pm, time, len(roots))
    return _render(pm, SOUNDFONTS[soundfont]), beats, downbeats, time, bpm


def _make_clip(job) -> Clip:
    style, seed, out, soundfont = job
    audio, beats, downbeats, time, bpm = clip_audio(style, seed, soundfont)
    name = f"{style}-{seed}"
    soundfile.write(out / f"{name}.flac", audio, SAMPLE_RATE)
    return Clip(
        name=name, category=style, meter=f"{time}/mma", beats_per_bar=time, bpm=round(bpm, 2), tempo="steady",
        drums=True, swing=0.0, intro=0.0, beats=[round(float(t), 5) for t in beats],
        downbeats=[round(float(t), 5) for t in downbeats], soundfont=soundfont,
    )


def build(split: str, *, out_dir: Path = DATA_DIR, workers: int = 2) -> list[Clip]:
    """Write, render and annotate one split; returns the clips (also written as JSON)."""
    if shutil.which("mma") is None or shutil.which("fluidsynth") is None:
        raise SystemExit("error: needs the Debian packages mma and fluidsynth (apt-get install mma fluidsynth)")
    spec = SPLITS[split]
    out = out_dir / split
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for s, style in enumerate(STYLES):
        for k in range(spec.clips_per_style):
            seed = spec.seed + 100 * s + k
            jobs.append((style, seed, out, spec.soundfonts[seed % len(spec.soundfonts)]))
    with ProcessPoolExecutor(workers) as pool:
        clips = list(pool.map(_make_clip, jobs, chunksize=4))
    (out / "index.json").write_text(json.dumps([asdict(clip) for clip in clips], indent=1))
    return clips


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), default=["mma-dev"])
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    for split in args.splits:
        clips = build(split, out_dir=args.out)
        print(f"{split}: {len(clips)} clips in {args.out / split}")


if __name__ == "__main__":
    main()
