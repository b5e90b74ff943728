"""Analyses kept on disk (pipelines.music.cache): the same analysis back, without decoding, for the
same bytes, segment, tempo range and code; anything else is analysed anew."""

from __future__ import annotations

import json

import pytest

from pipelines.errors import BeatwalkError
from pipelines.music import cache, song
from pipelines.music.cache import cached_analysis, read_song_kept
from pipelines.plan.timeline import plan_frames
from pipelines.project import AudioRef, Keyframe, Project
from pipelines.render.jobs import plan_hash
from synth.songs import drum_song, write_song


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("BEATWALK_CACHE_DIR", str(tmp_path / "analyses"))
    return tmp_path


@pytest.fixture
def fresh_song(folder):
    return write_song(folder / "song.wav", drum_song(duration=6.0, bpm=120.0)[0])


def analyses_made(monkeypatch) -> list:
    """Count the songs analysed (decoded and analysed: ``read_song``) from here on."""
    made, real = [], song.read_song

    def counted(*args, **kwargs):
        made.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(song, "read_song", counted)
    return made


def test_the_same_segment_is_analysed_once_and_plans_the_same_frames(fresh_song, monkeypatch):
    made = analyses_made(monkeypatch)
    first = cached_analysis(fresh_song, start=1.0, end=5.0)
    again = cached_analysis(fresh_song, start=1.0, end=5.0)
    assert len(made) == 1 and again.to_dict() == first.to_dict()
    project = Project(audio=AudioRef(path=str(fresh_song), start=1.0, end=5.0), keyframes=[Keyframe(time=0, prompt="a")])
    assert plan_hash(plan_frames(project, again)) == plan_hash(plan_frames(project, first))
    # The project's own reading of it is the cached one too.
    assert project.audio.analysis().to_dict() == first.to_dict() and len(made) == 1


def test_new_warms_the_cache_for_render(fresh_song, monkeypatch):
    """``new`` reads start None and the default tempo range; the project says 0.0 and None: one key."""
    read_song_kept(fresh_song, start=None, end=None, tempo_range=(45.0, 230.0))
    made = analyses_made(monkeypatch)
    AudioRef(path=str(fresh_song)).analysis()
    assert made == []


@pytest.mark.parametrize(
    "change", [{"start": 0.5}, {"end": 4.0}, {"tempo_range": (60.0, 200.0)}, "bytes", "code"]
)
def test_anything_else_is_analysed_anew(fresh_song, monkeypatch, change):
    cached_analysis(fresh_song)
    made = analyses_made(monkeypatch)
    options = {}
    if change == "bytes":
        write_song(fresh_song, drum_song(duration=6.0, bpm=100.0)[0])
    elif change == "code":
        monkeypatch.setattr(cache, "_code", lambda: "another version of the analysis")
    else:
        options = change
    cached_analysis(fresh_song, **options)
    assert len(made) == 1


def test_a_damaged_or_unwritable_cache_is_no_cache(fresh_song, folder, monkeypatch):
    first = cached_analysis(fresh_song)
    (entry,) = (folder / "analyses").iterdir()
    entry.write_text("{not json")
    made = analyses_made(monkeypatch)
    assert cached_analysis(fresh_song).to_dict() == first.to_dict() and len(made) == 1
    assert json.loads(entry.read_text()) == first.to_dict()  # written again, whole
    monkeypatch.setenv("BEATWALK_CACHE_DIR", str(fresh_song))  # a file, not a folder: nothing can be kept
    assert cached_analysis(fresh_song).to_dict() == first.to_dict()


def test_limits_and_bad_songs_are_the_songs_own_lines(fresh_song, folder):
    cached_analysis(fresh_song)
    with pytest.raises(BeatwalkError, match="song is too long: 6 s"):  # a kept analysis is no way round the limit
        cached_analysis(fresh_song, max_seconds=3.0)
    with pytest.raises(BeatwalkError, match="not found"):
        cached_analysis(folder / "gone.wav")


def test_a_pipe_is_refused_by_the_decoder_not_waited_on(folder):
    """Hashing a named pipe would wait for a writer forever: it is never hashed, and the decoder
    refuses it in one line."""
    import os

    fifo = folder / "song.fifo"
    os.mkfifo(fifo)
    for read in (cached_analysis, read_song_kept):
        with pytest.raises(BeatwalkError, match="song path is not a file"):
            read(fifo)
    assert not (folder / "analyses").exists()
