"""The song described in words, checked on synthetic music whose properties are known."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.errors import BeatwalkError
from pipelines.music.analysis import analyze
from pipelines.music.decode import Audio
from pipelines.music.describe import SongDescription, describe_song
from synth.songs import chord_song

SR = 22050


def described(**song) -> SongDescription:
    samples, _ = chord_song(sample_rate=SR, **song)
    seconds = len(samples) / SR
    audio = Audio(
        samples, SR, seconds, path="", start=0.0, end=seconds, source_sample_rate=SR, source_channels=1
    )
    return describe_song(audio, analyze(audio))


@pytest.mark.parametrize(("key", "mode"), [("C", "major"), ("A", "minor"), ("Eb", "major"), ("F#", "minor")])
def test_key_and_mode_of_a_progression(key, mode):
    description = described(key=key, mode=mode)
    assert (description.key, description.mode) == (key, mode)
    assert (description.sections[0].key, description.sections[0].mode) == (key, mode)


def test_slow_and_fast():
    slow, fast = described(bpm=70, hats=False), described(bpm=160)
    assert slow.sections[0].tempo == "slow" and slow.bpm == pytest.approx(70, abs=2)
    assert fast.sections[0].tempo == "fast" and fast.bpm == pytest.approx(160, abs=2)


@pytest.mark.parametrize("bpm", [90.0, 120.0, 140.0])
def test_swing_and_straight(bpm):
    assert described(bpm=bpm, swing=0.5).sections[0].groove == "straight"
    assert described(bpm=bpm, swing=0.67).sections[0].groove == "swung"


def test_a_quiet_verse_and_a_loud_chorus():
    description = described(duration=40.0, parts=((20.0, 0.08), (20.0, 1.0)))
    verse = [w for w in description.windows if w.end <= 20.5]
    chorus = [w for w in description.windows if w.start >= 19.5]
    assert verse and chorus
    assert {w.level for w in verse} == {"quiet"} and {w.level for w in chorus} == {"loud"}
    assert chorus[0].arc == "drop"  # the energy arrives
    assert chorus[0].loudness_db - verse[-1].loudness_db > 15.0  # a gain of 0.08 is 22 dB
    back = described(duration=40.0, parts=((20.0, 1.0), (20.0, 0.08)))
    assert next(w.arc for w in back.windows if w.start >= 19.5) == "break"


def test_dark_and_bright():
    dark = described(harmonics=1, register=48, hats=False)
    bright = described(harmonics=24, register=72, rolloff=0.5)
    assert dark.sections[0].brightness == "dark" and bright.sections[0].brightness == "bright"


def test_windows_cover_the_song_on_downbeats_and_the_description_round_trips():
    description = described(duration=40.0)
    windows = description.windows
    assert windows[0].start == 0.0 and windows[-1].end == pytest.approx(40.0, abs=0.05)
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))
    assert all(5.0 <= w.end - w.start <= 15.0 for w in windows)
    assert SongDescription.from_dict(description.to_dict()) == description
    words = description.sections[0].words()
    assert "mid-tempo" in words and "C major" in words
    with pytest.raises(BeatwalkError, match="not a song description"):
        SongDescription.from_dict({"bpm": 1})


def test_silence_is_described_without_a_key():
    audio = Audio(
        np.zeros(SR * 6, np.float32),
        SR,
        6.0,
        path="",
        start=0.0,
        end=6.0,
        source_sample_rate=SR,
        source_channels=1,
    )
    description = describe_song(audio, analyze(audio))
    passage = description.sections[0]
    assert (passage.key, passage.tempo, passage.level) == ("", "no beat", "quiet")
    assert "no beat" in passage.words()


def test_tags_from_an_audio_text_model_join_the_words():
    from pipelines.music.tagging import VOCABULARY, ClapTagger

    samples, _ = chord_song(sample_rate=SR, duration=24.0)
    audio = Audio(samples, SR, 24.0, path="", start=0.0, end=24.0, source_sample_rate=SR, source_channels=1)
    tagger = ClapTagger("tiny")  # random weights: which words is arbitrary, that they come is not
    description = describe_song(audio, analyze(audio), tagger=tagger)
    assert description.tagger == "tiny"
    vocabulary = {word for words in VOCABULARY.values() for word in words}
    passages = description.sections + description.windows
    assert all(set(p.tags) <= vocabulary and len(p.tags) <= len(VOCABULARY) for p in passages)
    again = describe_song(audio, analyze(audio), tagger=tagger)
    assert [p.tags for p in again.sections + again.windows] == [p.tags for p in passages]  # no random crop
    assert all(p.words()[-len(p.tags) or len(p.words()) :] == p.tags for p in passages if p.tags)
    # Every group's best word, when none has to stand out: one each, from its own group.
    best = tagger.tag(audio.samples, SR, passages, stands_out=0.0)
    assert all(len(tags) == len(VOCABULARY) for tags in best)
    assert all(tag in words for tags in best for tag, words in zip(tags, VOCABULARY.values()))


def test_a_tagging_model_that_cannot_load_is_one_line():
    from pipelines.music.tagging import ClapTagger

    with pytest.raises(BeatwalkError, match=r"^the tagging model nobody/no-such-clap cannot be loaded here"):
        ClapTagger("nobody/no-such-clap")
