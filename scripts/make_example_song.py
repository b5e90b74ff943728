"""Compose, render and encode Beatwalk's example song, with its true beats.

A 30 s, 4/4, 112 BPM piece in two contrasting sections: a light verse (electric piano, bass,
kick and hats) and a full chorus (strings, lead melody, snare, crash on the section change).
Composed here with pretty_midi (our own composition, same licence as Beatwalk), rendered with
the ``fluidsynth`` binary and the FluidR3 General MIDI soundfont (MIT licence), encoded with
ffmpeg as Ogg Vorbis. The beats and downbeats come from the score, so they are exact.

Needs the Debian packages ``fluidsynth``, ``fluid-soundfont-gm`` and ``ffmpeg``::

    python scripts/make_example_song.py            # writes examples/beatwalk-demo.{ogg,beats.json}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
BPM = 112.0
BEATS_PER_BAR = 4
BARS = 14
FIRST_BEAT = 0.25
# A minor: Am F C G in the verse, F G Am Am... in the chorus (MIDI roots, chord tones).
VERSE = [(57, [57, 60, 64]), (53, [53, 57, 60]), (48, [55, 60, 64]), (55, [55, 59, 62])]
CHORUS = [(53, [57, 60, 65]), (55, [59, 62, 67]), (57, [57, 60, 64]), (52, [56, 59, 64])]
CHORUS_MELODY = [76, 74, 72, 74, 76, 76, 79, 77, 76, 74, 72, 71, 72, 74, 76, 81]


def compose() -> tuple[pretty_midi.PrettyMIDI, np.ndarray, np.ndarray]:
    """The score and its beat and downbeat times in seconds."""
    period = 60.0 / BPM
    beats = FIRST_BEAT + period * np.arange(BARS * BEATS_PER_BAR)
    pm = pretty_midi.PrettyMIDI(initial_tempo=BPM)
    keys = pretty_midi.Instrument(program=4, name="electric piano")
    strings = pretty_midi.Instrument(program=48, name="strings")
    bass = pretty_midi.Instrument(program=33, name="bass")
    lead = pretty_midi.Instrument(program=81, name="lead")
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")

    def note(part, pitch, beat, length, velocity):
        start = FIRST_BEAT + beat * period
        part.notes.append(pretty_midi.Note(int(velocity), int(pitch), start, start + length * period * 0.95))

    for bar in range(BARS):
        chorus = bar >= BARS // 2
        root, chord = (CHORUS if chorus else VERSE)[bar % 4]
        first = bar * BEATS_PER_BAR
        # Bass: root on 1 and 3, a passing fifth on the "and" of 4.
        note(bass, root - 24, first, 1.5, 100)
        note(bass, root - 24, first + 2, 1.5, 90)
        note(bass, root - 17, first + 3.5, 0.5, 80)
        if chorus:
            for pitch in chord:
                note(strings, pitch, first, 4.0, 70)
            for k in range(2):
                note(lead, CHORUS_MELODY[(2 * bar + k) % len(CHORUS_MELODY)], first + 2 * k, 1.75, 95)
        else:
            for beat in range(BEATS_PER_BAR):
                for pitch in chord:
                    note(keys, pitch, first + beat, 0.5, 80 if beat == 0 else 62)
        # Drums: kick on 1 and 3, snare on 2 and 4 in the chorus, hats on eighths.
        note(drums, 36, first, 0.25, 110)
        note(drums, 36, first + 2, 0.25, 100)
        if chorus:
            note(drums, 38, first + 1, 0.25, 100)
            note(drums, 38, first + 3, 0.25, 105)
        for eighth in range(8):
            note(drums, 42, first + eighth / 2, 0.25, 80 if eighth % 2 == 0 else 55)
        if bar == BARS // 2:
            note(drums, 49, first, 2.0, 110)
    note(bass, VERSE[0][0] - 24, BARS * BEATS_PER_BAR, 2.0, 100)
    note(drums, 49, BARS * BEATS_PER_BAR, 2.0, 100)
    pm.instruments.extend([keys, strings, bass, lead, drums])
    return pm, beats, beats[::BEATS_PER_BAR]


def render(pm: pretty_midi.PrettyMIDI, out: Path, *, duration: float, bitrate: str = "96k") -> None:
    """Render with fluidsynth at 44.1 kHz stereo, cut to ``duration`` seconds with a short fade,
    and encode Ogg Vorbis with ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        midi, wav = Path(tmp) / "song.mid", Path(tmp) / "song.wav"
        pm.write(str(midi))
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(wav), SOUNDFONT, str(midi)],
            check=True, capture_output=True,
        )
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), "-t", f"{duration:.3f}", "-af",
             f"afade=t=out:st={duration - 1.0:.3f}:d=1,loudnorm=I=-14:TP=-1",
             "-ar", "44100", "-ac", "2", "-c:a", "libvorbis", "-b:a", bitrate, "-map_metadata", "-1",
             "-metadata", "title=Beatwalk demo", "-metadata", "artist=Beatwalk", str(out)],
            check=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "examples")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pm, beats, downbeats = compose()
    audio = args.out_dir / "beatwalk-demo.ogg"
    render(pm, audio, duration=FIRST_BEAT + (BARS * BEATS_PER_BAR + 3) * 60.0 / BPM)
    truth = {
        "audio": audio.name,
        "bpm": BPM,
        "beats_per_bar": BEATS_PER_BAR,
        "beats": [round(float(t), 4) for t in beats],
        "downbeats": [round(float(t), 4) for t in downbeats],
        "sections": [
            {"start": 0.0, "end": round(float(downbeats[BARS // 2]), 4), "label": "verse"},
            {"start": round(float(downbeats[BARS // 2]), 4), "end": round(float(beats[-1] + 60 / BPM), 4),
             "label": "chorus"},
        ],
        "licence": "Beatwalk's own composition; rendered with the FluidR3 GM soundfont (MIT licence).",
    }
    (args.out_dir / "beatwalk-demo.beats.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {audio} ({audio.stat().st_size // 1024} KB) and its beats")


if __name__ == "__main__":
    main()
