"""The real-recording benchmark's reader (benchmarks/real_songs.py): a Frets on Fire song folder
(stems and a chart) becomes samples and beats where the music is."""

from __future__ import annotations

import mido
import numpy as np
import pytest
import soundfile

from benchmarks.real_songs import SR, chart_offset, fretsonfire_songs, onsets
from synth.songs import drum_song


def _song_folder(folder, *, bpm: float, lead: float, seconds: float = 16.0):
    """A song folder whose chart (``notes.mid``, a tempo map at ``bpm`` from 0 s) runs ``lead``
    seconds ahead of its audio: a drum song whose first beat is at ``lead``, split into two stems."""
    samples, beats, _ = drum_song(duration=seconds, bpm=bpm, first_beat=lead)
    folder.mkdir()
    half = len(samples) // 2
    soundfile.write(folder / "song.ogg", np.concatenate([samples[:half], np.zeros(len(samples) - half)]), SR)
    soundfile.write(folder / "guitar.ogg", np.concatenate([np.zeros(half), samples[half:]]), SR)
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=round(60e6 / bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    for _ in range(int(seconds * bpm / 60)):
        track.append(mido.Message("note_on", note=60, velocity=100, time=0))
        track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    midi.save(folder / "notes.mid")
    (folder / "song.ini").write_text("[song]\nname = test\n")
    return beats


@pytest.mark.parametrize("lead", [0.0, 0.02, 0.045])
def test_the_charts_lead_is_measured_from_the_onsets(lead):
    samples, beats, _ = drum_song(duration=12.0, bpm=120.0, first_beat=0.5 + lead)
    chart = beats - lead  # the chart runs ahead of the audio
    assert chart_offset(chart, onsets(samples)) == pytest.approx(lead, abs=0.006)


def test_a_song_folder_gives_its_mixed_stems_and_the_charts_beats_on_the_audio(tmp_path):
    truth = _song_folder(tmp_path / "A song", bpm=120.0, lead=0.03)
    (tmp_path / "no chart").mkdir()  # a folder without notes.mid is not a song
    [song] = list(fretsonfire_songs(tmp_path))
    assert song.name == "A song" and song.offset == pytest.approx(0.03, abs=0.006)
    assert len(song.samples) == 16 * SR and np.abs(song.samples).max() == pytest.approx(0.9, abs=1e-3)
    # Both stems are heard: the mix sounds in both halves.
    assert np.abs(song.samples[: 4 * SR]).max() > 0.1 and np.abs(song.samples[-4 * SR :]).max() > 0.1
    # The beats are the chart's, moved onto the audio, while the music sounds.
    assert len(song.beats) == len(truth) and np.max(np.abs(song.beats - truth)) < 0.006
    assert np.allclose(song.downbeats, song.beats[::4])


def test_the_held_out_songs_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="held out"):
        list(fretsonfire_songs(tmp_path / "fretsonfire-songs-muldjord"))


def test_a_stem_can_be_mixed_at_another_level_and_songs_picked_by_name(tmp_path):
    _song_folder(tmp_path / "A song", bpm=120.0, lead=0.0)
    _song_folder(tmp_path / "B song", bpm=100.0, lead=0.0)
    [song] = list(fretsonfire_songs(tmp_path, mixes=[{"guitar": 0.0}], names=["A song"]))
    assert song.name == "A song"
    # The guitar stem (the second half) is silent; the mix is scaled to the song stem alone.
    assert np.abs(song.samples[-4 * SR :]).max() < 1e-6 and np.abs(song.samples[: 4 * SR]).max() > 0.5
    # The beats stop where the music does.
    assert song.beats[-1] < 8.5


def test_the_beat_network_trains_on_real_songs_cut_to_their_beats(tmp_path):
    from pipelines.music import beats as tracker
    from scripts.train_beat_net import REAL_GUITAR_GAINS, real_features

    truth = _song_folder(tmp_path / "A song", bpm=120.0, lead=0.0)
    _song_folder(tmp_path / "B song", bpm=100.0, lead=0.0)
    mixes = real_features(tmp_path, ["A song"])
    assert len(mixes) == len(REAL_GUITAR_GAINS)
    mel, beat_frames, down_frames = mixes[REAL_GUITAR_GAINS.index(1.0)]
    assert mel.shape[1] == tracker.N_MELS and len(beat_frames) == len(truth)
    assert np.allclose(beat_frames, truth * tracker.FPS, atol=1)
    assert np.allclose(down_frames, beat_frames[::4])
    # Without the guitar stem the music (so the counted beats) stops halfway: the cut ends a
    # second after the last beat, not with the file.
    mel, beat_frames, _ = mixes[REAL_GUITAR_GAINS.index(0.0)]
    assert beat_frames[-1] < 8.5 * tracker.FPS
    assert len(mel) == pytest.approx(beat_frames[-1] + tracker.FPS, abs=2)


def test_real_songs_asked_for_and_not_there_are_one_error_line(tmp_path):
    from scripts.train_beat_net import real_features

    _song_folder(tmp_path / "A song", bpm=120.0, lead=0.0)
    with pytest.raises(SystemExit, match="no song folder B song in"):
        real_features(tmp_path, ["A song", "B song"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no song folder at all in"):
        real_features(tmp_path / "empty", None)
