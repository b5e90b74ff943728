"""Real recordings with beat annotations: Frets on Fire song folders (Debian's
``fretsonfire-songs-sectoid``, four multitrack rock songs).

Each folder holds the song's stems (``song.ogg``: drums, bass, rhythm guitar, vocals;
``guitar.ogg``: the lead guitar) and a chart, ``notes.mid``, whose tempo map gives every beat.
The charts' grids run 10–30 ms ahead of the sound (the game's latency allowance):
:func:`chart_offset` measures that lead from the audio's onsets against the chart's own grid,
never from a beat tracker, and the beats are moved by it, so the truth is where the music is.
The beats are the chart's from the music's first onset to its last (a final chord's ring-out
has none).

Get the songs with::

    apt-get download fretsonfire-songs-sectoid && dpkg -x fretsonfire-songs-sectoid_*.deb /tmp/fof
    python -m benchmarks.beats --split sectoid --songs /tmp/fof/usr/share/games/fretsonfire/data/songs/sectoid

``fretsonfire-songs-muldjord`` is held out for judging Beatwalk: it is never to be read here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 22050
SECTOID = Path("/usr/share/games/fretsonfire/data/songs/sectoid")
STEMS = ("song", "guitar", "rhythm", "drums")
END_MARGIN = 0.1  # s: beats this close before the first onset or after the last still count


@dataclass
class RealSong:
    """One annotated recording: mono samples at ``SR`` and its beats and downbeats in seconds."""

    name: str
    samples: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    offset: float
    """How far the chart's grid was moved to meet the audio, seconds."""


def _chart(folder: Path):
    """(tick → seconds, ticks per beat, beats per bar) of a chart."""
    import mido

    midi = mido.MidiFile(folder / "notes.mid")
    tempos, meter, tick = [(0, 500000)], 4, 0  # tempos: (tick, microseconds per beat)
    for message in mido.merge_tracks(midi.tracks):
        tick += message.time
        if message.type == "set_tempo":
            tempos.append((tick, message.tempo))
        elif message.type == "time_signature" and tick == 0:
            meter = message.numerator
    tempos = sorted(dict(tempos).items())

    def seconds_of(at_tick: int) -> float:
        total = 0.0
        for (start, tempo), (end, _) in zip(tempos, tempos[1:] + [(at_tick, 0)]):
            if start >= at_tick:
                break
            total += (min(end, at_tick) - start) * tempo / 1e6 / midi.ticks_per_beat
        return total

    return seconds_of, midi.ticks_per_beat, meter


def onsets(samples: np.ndarray, *, hop: int = 64) -> np.ndarray:
    """Times (s) of clear onsets: peaks of the spectral flux, ``hop`` samples a frame.

    A short window (23 ms) of linear magnitudes: a longer one, or a log, feels an onset as soon
    as the window's edge reaches it and puts it up to 19 ms early (2 ms on clicks at known times).
    """
    import librosa

    magnitude = np.abs(librosa.stft(samples, n_fft=512, hop_length=hop))
    flux = np.maximum(np.diff(magnitude, axis=1), 0.0).sum(axis=0)
    wait = int(0.04 * SR / hop)
    peaks = librosa.util.peak_pick(
        flux, pre_max=wait, post_max=wait, pre_avg=4 * wait, post_avg=4 * wait, delta=0.5 * flux.std(), wait=wait
    )
    return (peaks + 1) * hop / SR  # flux frame i compares frames i and i + 1


def chart_offset(beats: np.ndarray, onset_times: np.ndarray, *, window: float = 0.08) -> float:
    """Seconds by which the music's onsets follow the chart's grid.

    The median distance from each clear onset to the nearest eighth note of the chart's
    ``beats``, over the onsets within ``window`` of one: drums, bass and guitars all play on that
    grid, whichever of its notes carry the beat.
    """
    grid = np.sort(np.concatenate([beats, (beats[1:] + beats[:-1]) / 2]))
    nearest = np.abs(np.subtract.outer(onset_times, grid)).argmin(axis=1)
    distance = onset_times - grid[nearest]
    return float(np.median(distance[np.abs(distance) < window]))


def _between(times: np.ndarray, onset_times: np.ndarray) -> np.ndarray:
    return times[(times > onset_times[0] - END_MARGIN) & (times < onset_times[-1] + END_MARGIN)]


def fretsonfire_songs(
    root: Path = SECTOID, seconds: float | None = None, *, mixes: Sequence[dict[str, float]] = ({},),
    names: list[str] | None = None,
) -> Iterator[RealSong]:
    """Each song folder under ``root``: its stems mixed, its chart's beats moved onto the audio.

    ``seconds``: only the first so many seconds of each (all of it by default). ``mixes``: one song
    for each, at these levels for some stems (``{"guitar": 0.5}``; 1 for the others), as a player's
    mixer would set them; the stems are read once. ``names``: only these song folders.
    """
    from pipelines.music.decode import load_audio

    root = Path(root)
    if "muldjord" in str(root):
        raise SystemExit("fretsonfire-songs-muldjord is held out for judging; do not tune or test on it")
    if not root.is_dir():
        raise SystemExit(
            f"error: no songs at {root}: apt-get download fretsonfire-songs-sectoid && dpkg -x "
            "fretsonfire-songs-sectoid_*.deb /tmp/fof, then --songs /tmp/fof/usr/share/games/fretsonfire/data/songs/sectoid"
        )
    for folder in sorted(p for p in root.iterdir() if (p / "notes.mid").is_file()):
        if names is not None and folder.name not in names:
            continue
        stems = {p.stem: p for p in sorted(folder.glob("*.ogg")) if p.stem in STEMS}
        if not stems:
            continue
        tracks = {name: load_audio(path, sr=SR).samples for name, path in stems.items()}
        length = max(len(t) for t in tracks.values())
        if seconds:
            length = min(length, int(seconds * SR))
        tracks = {name: np.pad(t, (0, max(0, length - len(t))))[:length] for name, t in tracks.items()}
        seconds_of, ticks_per_beat, meter = _chart(folder)
        grid, k = [], 0
        while (at := seconds_of(k * ticks_per_beat)) < length / SR:
            grid.append(at)
            k += 1
        for gains in mixes:
            yield _song(folder.name, tracks, gains, np.array(grid), meter)


def _song(name: str, tracks: dict[str, np.ndarray], gains: dict[str, float], grid: np.ndarray, meter: int) -> RealSong:
    """Song ``name``, its stems (``tracks``) mixed at ``gains``, its chart's beats (``grid``, bars of
    ``meter``) moved onto the mix."""
    mix = sum(gains.get(stem, 1.0) * t for stem, t in tracks.items())
    mix = (mix / (np.abs(mix).max() + 1e-9) * 0.9).astype(np.float32)
    found = onsets(mix)
    offset = chart_offset(grid, found)
    # The chart's grid runs on through a final chord's ring-out: beats count while there are
    # onsets, from the first one to the last.
    beats = grid + offset
    downbeats = beats[::meter]
    return RealSong(name, mix, _between(beats, found), _between(downbeats, found), offset)
