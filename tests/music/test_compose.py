"""Composing a song from words, on the tiny random-weight MusicGen (real architecture, real
generation, continuation, files; its audio is noise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipelines.errors import BeatwalkError
from pipelines.limits import Limits
from pipelines.music.compose import (
    Composer,
    composition,
    compose_song,
    iter_compose,
    join_continuation,
    melody_chroma,
    output_paths,
    read_composition,
    recorded_composition,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "beatwalk-demo.ogg"
SR = 32000


def short(**settings):
    """A composition whose 3 s window makes continuations after 3 s (MusicGen's is 30 s)."""
    return composition(**{"prompt": "a funky disco groove", "seconds": 4.0, "window": 3.0, "context": 1.0} | settings)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- Lengths, seeds, files --


@pytest.mark.parametrize("seconds", [1.0, 2.71, 7.77])  # one window; two; four (continued three times)
def test_a_song_is_exactly_as_long_as_asked(tmp_path, seconds):
    last = compose_song(short(seconds=seconds), tmp_path / "song.wav")
    samples, rate = soundfile.read(last.paths[0])
    assert rate == SR
    assert len(samples) == round(seconds * SR)
    assert last.finished and not last.stopped
    assert 0 < np.abs(samples).max() <= 1.0


def test_the_same_seed_makes_the_same_song_and_variations_are_seeds_in_a_row(tmp_path):
    settings = short(seed=7)
    last = compose_song(settings, tmp_path / "song.wav", variations=2)
    assert [Path(p).name for p in last.paths] == ["song-1.wav", "song-2.wav"]
    first, second = (soundfile.read(p)[0] for p in last.paths)
    assert not np.array_equal(first, second)
    # Each variation is made again alone from what its file records.
    again = compose_song(read_composition(last.paths[1]), tmp_path / "again.wav")
    assert np.array_equal(soundfile.read(again.paths[0])[0], second)
    assert read_composition(last.paths[1]).seed == 8
    assert np.array_equal(soundfile.read(compose_song(settings, tmp_path / "once.wav").paths[0])[0], first)


def test_the_prompt_is_heard(tmp_path):
    a = compose_song(short(prompt="an ambient pad with soft bells"), tmp_path / "a.wav").paths[0]
    b = compose_song(short(prompt="a heavy metal riff"), tmp_path / "b.wav").paths[0]
    assert not np.array_equal(soundfile.read(a)[0], soundfile.read(b)[0])


def test_the_file_records_its_composition_and_a_project_of_it_keeps_it(tmp_path):
    from pipelines.music.song import read_song
    from pipelines.plan.keyframes import propose_project
    from pipelines.render.jobs import project_hash

    settings = short(prompt="a reggae one drop with organ skank", seconds=3.0, seed=3, top_k=50, temperature=0.9)
    path = compose_song(settings, tmp_path / "song.flac").paths[0]
    assert read_composition(path) == settings
    _, analysis = read_song(path)
    project = propose_project(path, analysis, ["a forest"])
    assert project.audio.composition == settings
    # The record survives the project file, and does not change what the frames are.
    loaded = type(project).from_json(project.to_json())
    assert loaded.audio.composition == settings
    plain = project.replace(audio=project.audio.model_copy(update={"composition": None}))
    assert project_hash(plain) == project_hash(project)
    project.save(tmp_path / "project.json")
    assert recorded_composition(tmp_path / "project.json") == settings
    assert read_composition(EXAMPLE) is None  # a song Beatwalk did not compose records nothing


def test_output_paths():
    assert output_paths("out/song.wav", 1) == [Path("out/song.wav")]
    assert output_paths("out/song.wav", 3)[2] == Path("out/song-3.wav")


# -- Continuation joins --


def test_a_continuation_is_joined_without_a_click():
    """Two renderings of a tone that disagree in phase and level: cut hard, they click (a jump far
    steeper than the tone's own); crossfaded, the joined signal is never steeper than the tone."""
    t = np.arange(3 * SR) / SR
    frequency = 220.0
    song = np.sin(2 * np.pi * frequency * t[: 2 * SR]).astype(np.float32)
    continuation = 0.7 * np.sin(2 * np.pi * frequency * (t + 2 * SR / SR - 0.5) + 2.0).astype(np.float32)
    overlap = SR // 2
    steepest = (2 * np.pi * frequency / SR) ** 2  # |second difference| of a unit sine at most
    hard = np.concatenate([song, continuation[overlap:]])
    joined = join_continuation(song, continuation, overlap=overlap, sample_rate=SR)
    assert len(joined) == len(song) + len(continuation) - overlap
    assert np.abs(np.diff(hard, 2)).max() > 20 * steepest  # the test can fail: a hard cut clicks
    assert np.abs(np.diff(joined, 2)).max() < 1.05 * steepest
    # Before the crossfade the song plays alone, after it the continuation.
    assert np.array_equal(joined[: SR], song[: SR])
    assert np.array_equal(joined[-SR:], continuation[-SR:])


def test_a_composed_song_has_no_jump_at_its_joins(tmp_path, monkeypatch):
    """On the model's own audio: each continuation starts with the model's rendering of the song's
    last second (close to it), and the joined signal is no steeper at a join than anywhere else."""
    import pipelines.music.compose as compose

    joins = []
    real_join = compose.join_continuation

    def watched(song, continuation, *, overlap, sample_rate):
        joins.append((len(song), np.corrcoef(song[-overlap:], continuation[:overlap])[0, 1]))
        return real_join(song, continuation, overlap=overlap, sample_rate=sample_rate)

    monkeypatch.setattr(compose, "join_continuation", watched)
    samples = soundfile.read(compose_song(short(seconds=9.0), tmp_path / "song.wav").paths[0], dtype="float32")[0]
    assert len(joins) == 3  # 3 s, then 2 s more at a time
    steps = np.abs(np.diff(samples))
    for end, agreement in joins:
        assert agreement > 0.9
        around = steps[end - SR // 2 : end]
        assert around.max() <= 1.5 * np.percentile(steps, 99.9)


# -- Melody --


def test_melody_chroma_is_the_strongest_pitch_class_per_frame():
    import librosa

    t = np.arange(4 * SR) / SR
    a4 = np.sin(2 * np.pi * 440.0 * t).astype(np.float32)
    chroma = melody_chroma(a4, sample_rate=SR)[0].numpy()
    assert chroma.shape[1] == 12
    assert np.all(chroma.sum(1) == 1)
    assert np.all(chroma.argmax(1) == 9)  # A, counting from C
    # On a real song, the same pitch classes as librosa's chroma with the extractor's settings.
    song = librosa.load(EXAMPLE, sr=SR, duration=12)[0]
    ours = melody_chroma(song, sample_rate=SR)[0].numpy().argmax(1)
    theirs = librosa.feature.chroma_stft(y=song, sr=SR, n_fft=16384, hop_length=4096, tuning=0, pad_mode="reflect")
    assert np.mean(ours == theirs.argmax(0)) > 0.95


def test_a_melody_is_followed_and_recorded(tmp_path):
    settings = short(seconds=5.0)
    tune = tmp_path / "tune.wav"
    t = np.arange(8 * SR) / SR
    soundfile.write(tune, 0.5 * np.sin(2 * np.pi * 261.6 * t * (1 + (t > 4))), SR)
    followed = compose_song(settings, tmp_path / "a.wav", melody=tune)
    other = compose_song(settings, tmp_path / "b.wav", melody=EXAMPLE)
    a, b = (soundfile.read(p)[0] for p in followed.paths + other.paths)
    assert len(a) == len(b) == 5 * SR
    assert not np.array_equal(a, b)  # another tune, another song
    recorded = read_composition(followed.paths[0])
    assert recorded.model == "tiny-melody" and recorded.melody == "tune.wav"
    with pytest.raises(BeatwalkError, match="cannot follow a melody"):
        compose_song(short(model="facebook/musicgen-small"), tmp_path / "c.wav", melody=tune)
    # Made again from the file: only with the tune again, and then the same song.
    from pipelines.cli import main

    assert main(["compose", "--again", followed.paths[0], "--out", str(tmp_path / "d.wav")]) == 2
    assert main(["compose", "--again", followed.paths[0], "--melody", str(tune), "--out", str(tmp_path / "d.wav")]) == 0
    assert np.array_equal(soundfile.read(tmp_path / "d.wav")[0], a)


# -- Stop, progress, bad input --


def test_stop_keeps_finished_variations_and_leaves_no_half_written_file(tmp_path):
    seen = []

    def stop_in_the_second():
        return bool(seen) and seen[-1].variation == 1 and seen[-1].seconds_done > 4.5

    last = compose_song(
        short(seconds=4.0), tmp_path / "song.wav", variations=2, on_progress=lambda p: seen.append(
            type(p)(**{**p.__dict__, "paths": list(p.paths)})
        ), should_stop=stop_in_the_second,
    )  # fmt: skip
    assert last.stopped and not last.finished
    assert leftovers(tmp_path) == ["song-1.wav"]
    assert last.paths == [str(tmp_path / "song-1.wav")]
    done = [p.seconds_done for p in seen]
    assert done[:-1] == sorted(done[:-1]) and done[0] == 0 and seen[0].seconds_total == 8.0
    assert done[-1] == 4.0  # at the end, what is kept: the dropped variation's seconds are not done


def test_iter_compose_reports_progress_and_closing_it_stops(tmp_path):
    steps = list(iter_compose(short(seconds=3.0), tmp_path / "song.wav"))
    assert steps[-1].finished and steps[-1].paths == [str(tmp_path / "song.wav")]
    assert len(steps) >= 3 and steps[-1].fraction == 1.0
    running = iter_compose(short(seconds=8.0), tmp_path / "stopped.wav")
    next(running)
    running.close()  # a closed stream (a page left, a client gone) stops the composition
    assert not (tmp_path / "stopped.wav").exists()
    assert leftovers(tmp_path) == ["song.wav"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prompt": "   "}, "say what the music should be"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": 7200}, "seconds"),
        ({"guidance": 0.5}, "guidance"),
        ({"top_k": 0}, "top_k"),
        ({"window": 3.0, "context": 3.0}, "shorter than the window"),
        ({"window": 2.0, "context": 1.99}, "0.5 s shorter than the window"),  # no frame left to make
        ({"window": 45.0}, "window"),
    ],
)
def test_bad_settings_are_one_line(settings, message):
    with pytest.raises(BeatwalkError, match=message) as caught:
        short(**settings)
    assert "\n" not in str(caught.value)


def test_bad_inputs_are_refused_and_write_nothing(tmp_path):
    (tmp_path / "text.mp3").write_text("not a tune")
    with pytest.raises(BeatwalkError, match="not an audio file"):
        compose_song(short(), tmp_path / "song.wav", melody=tmp_path / "text.mp3")
    with pytest.raises(BeatwalkError, match="cannot be loaded"):
        compose_song(short(model=str(tmp_path / "no-such-model")), tmp_path / "song.wav")
    with pytest.raises(BeatwalkError, match=".wav or .flac"):
        compose_song(short(), tmp_path / "song.mp3")
    with pytest.raises(BeatwalkError, match="no folder"):
        compose_song(short(), tmp_path / "missing" / "song.wav")
    with pytest.raises(BeatwalkError, match="variations"):
        compose_song(short(), tmp_path / "song.wav", variations=0)
    with pytest.raises(BeatwalkError, match="no room for 2 variations"):
        compose_song(short(seed=2**32 - 1), tmp_path / "song.wav", variations=2)
    assert leftovers(tmp_path) == ["text.mp3"]


def test_limits_on_composing(monkeypatch):
    limits = Limits.from_env({"BEATWALK_MAX_COMPOSE_SECONDS": "20", "BEATWALK_MAX_VARIATIONS": "2"})
    limits.check_compose(seconds=20, variations=2)
    with pytest.raises(BeatwalkError, match="BEATWALK_MAX_COMPOSE_SECONDS"):
        limits.check_compose(seconds=21)
    with pytest.raises(BeatwalkError, match="BEATWALK_MAX_VARIATIONS"):
        limits.check_compose(seconds=5, variations=3)
    Limits.from_env({"BEATWALK_MAX_COMPOSE_SECONDS": "0"}).check_compose(seconds=3000)


def test_the_tiny_models_are_musicgen_shaped():
    for name in ("tiny", "tiny-melody"):
        composer = Composer(name)
        assert (composer.sample_rate, composer.frame_rate, composer.codebooks) == (32000, 50.0, 4)
        assert composer.melody == (name == "tiny-melody")


# -- CLI --


def test_cli_compose_then_new_then_again(tmp_path, capsys):
    from pipelines.cli import main

    song = tmp_path / "song.wav"
    assert main(["compose", "--prompt", "a slow lo-fi beat", "--seconds", "3", "--out", str(song), "--seed", "5",
                 "--window", "3", "--context", "1"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert out.strip() == str(song)
    assert "random weights" in err  # the licence line
    assert main(["new", str(song), "--prompt", "a forest", "--out", str(tmp_path / "project.json")]) == 0
    capsys.readouterr()
    project = json.loads((tmp_path / "project.json").read_text())
    assert project["audio"]["composition"]["prompt"] == "a slow lo-fi beat"
    again = tmp_path / "again.wav"
    assert main(["compose", "--again", str(tmp_path / "project.json"), "--out", str(again)]) == 0
    assert np.array_equal(soundfile.read(again)[0], soundfile.read(song)[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--prompt", "", "--seconds", "3"], "say what the music should be"),
        (["--prompt", "x", "--seconds", "0"], "seconds"),
        (["--prompt", "x"], "give --prompt and --seconds"),
        (["--prompt", "x", "--seconds", "3", "--melody", "nowhere.wav"], "melody not found"),
        (["--again", "README.md"], "records no composition"),
    ],
)
def test_cli_compose_bad_input_is_one_line(tmp_path, capsys, arguments, message):
    from pipelines.cli import main

    assert main(["compose", "--out", str(tmp_path / "song.wav"), *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_cli_applies_the_composing_limit_only_when_set(tmp_path, capsys, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setenv("BEATWALK_MAX_COMPOSE_SECONDS", "2")
    assert main(["compose", "--prompt", "x", "--seconds", "3", "--out", str(tmp_path / "song.wav")]) == 2
    assert "BEATWALK_MAX_COMPOSE_SECONDS" in capsys.readouterr().err
