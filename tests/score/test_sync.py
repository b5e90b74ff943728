"""The sync score on synthetic videos whose frames change exactly when we say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from pipelines.cli import main
from pipelines.errors import BeatwalkError
from pipelines.music.analysis import analyze
from pipelines.music.decode import load_audio
from pipelines.project import AudioRef, Keyframe, Project
from pipelines.render.video import VideoWriter
from pipelines.score.sync import beat_f_measure, best_offset, dtw_distance, score_video
from pipelines.score.visual_change import visual_change, visual_peaks
from synth.songs import drum_song, write_song

FPS = 20  # 100 ms is exactly two frames
DURATION = 6.0
SIZE = 64


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 6 s drum song at 120 BPM: (path, true beats in seconds)."""
    samples, beats, _ = drum_song(duration=DURATION, bpm=120.0)
    return write_song(tmp_path_factory.mktemp("sync") / "drums.wav", samples), beats


def _write(path: Path, frames, song_path: Path | None) -> Path:
    audio = AudioRef(path=str(song_path)) if song_path is not None else None
    with VideoWriter(path, width=SIZE, height=SIZE, fps=FPS, audio=audio, preset="ultrafast") as video:
        for frame in frames:
            video.write(frame)
    return path


def _flashes(beats: np.ndarray, *, shift: float = 0.0, seed: int = 0):
    """A new random picture from each (shifted) beat on: the picture changes exactly on the beats."""
    n_frames = round(DURATION * FPS)
    pictures = np.random.default_rng(seed).integers(0, 256, (len(beats) + 1, SIZE, SIZE, 3), dtype=np.uint8)
    changes = np.floor((beats + shift) * FPS).astype(int)
    return [pictures[i] for i in np.searchsorted(changes, np.arange(n_frames), side="right")]


def _ramp(seed: int = 0):
    """A cross-fade at constant speed between two pictures: change, but no beat."""
    n_frames = round(DURATION * FPS)
    a, b = np.random.default_rng(seed).integers(0, 256, (2, SIZE, SIZE, 3)).astype(np.float64)
    return [((1 - i / n_frames) * a + i / n_frames * b).astype(np.uint8) for i in range(n_frames)]


@pytest.fixture(scope="module")
def videos(song, tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    path, beats = song
    return {
        "flash": _write(folder / "flash.mp4", _flashes(beats), path),
        "late": _write(folder / "late.mp4", _flashes(beats, shift=0.1), path),
        "early": _write(folder / "early.mp4", _flashes(beats, shift=-0.1), path),
        "ramp": _write(folder / "ramp.mp4", _ramp(), path),
        "silent": _write(folder / "silent.mp4", _flashes(beats), None),
    }


@pytest.fixture(scope="module")
def flash_score(videos):
    return score_video(videos["flash"])


@pytest.fixture(scope="module")
def analysis(song):
    """The song's analysis, given to ``score_video`` so most tests skip analysing it again."""
    return analyze(load_audio(song[0]))


# -- the figures -------------------------------------------------------------


def test_flashes_on_the_beats_score_high(flash_score, song):
    _, beats = song
    assert flash_score.f_measure >= 0.9
    assert flash_score.perceptual["f_measure"] >= 0.9
    assert flash_score.correlation > 0.5
    assert abs(flash_score.offset_ms) < 1000 / FPS
    assert flash_score.n_frames == DURATION * FPS and flash_score.fps == FPS
    assert flash_score.audio_source == "video"
    # Most visual peaks sit on the true beats' frames.
    true_frames = np.floor(beats * FPS)
    assert np.mean(np.isin(flash_score.peaks, true_frames)) >= 0.9


def test_smooth_ramp_scores_low(videos, flash_score, analysis):
    ramp = score_video(videos["ramp"], analysis=analysis)
    assert ramp.audio_source == "analysis"
    assert ramp.f_measure <= 0.3
    assert ramp.correlation < 0.3
    assert ramp.dtw_distance > flash_score.dtw_distance


@pytest.mark.parametrize("name, expected_ms", [("late", 100.0), ("early", -100.0)])
def test_shifted_flashes_give_the_offset(videos, analysis, name, expected_ms):
    score = score_video(videos[name], analysis=analysis)
    assert abs(score.offset_ms - expected_ms) <= 1000 / FPS / 2
    if name == "late":
        # Two frames after the beat's frame (three after the tracker's, which
        # hears the beats ~10 ms early) is outside the ±1 frame tolerance.
        assert score.f_measure <= 0.3


def test_song_given_and_sidecar_song(videos, song, tmp_path):
    path, _ = song
    given = score_video(videos["silent"], song=path)
    assert given.audio_source == "song" and given.f_measure >= 0.9

    video = tmp_path / "render.mp4"
    video.write_bytes(videos["flash"].read_bytes())
    Project(audio=AudioRef(path=str(path)), keyframes=[Keyframe(time=0.0, prompt="a dancing fox")]).save(
        tmp_path / "render.json"
    )
    sidecar = score_video(video)
    assert sidecar.audio_source == "sidecar"
    assert sidecar.f_measure == pytest.approx(given.f_measure, abs=0.1)


def test_sidecar_tempo_range_is_the_beat_the_video_was_made_on(videos, song, tmp_path):
    """A video made with the beat read at half tempo is scored against those beats, with the
    song given or taken from the sidecar."""
    path, _ = song
    video = tmp_path / "half.mp4"
    video.write_bytes(videos["flash"].read_bytes())
    keyframes = [Keyframe(time=0.0, prompt="a dancing fox")]
    project = Project(audio=AudioRef(path=str(path), tempo_range=(40, 80)), keyframes=keyframes)
    project.save(tmp_path / "half.json")
    for given in (None, path):
        score = score_video(video, song=given)
        assert score.tempo == pytest.approx(60.0, abs=2.0)
        # Every beat at 60 BPM is a flash; half the flashes are now off the beat.
        assert score.precision < 0.7 and score.recall >= 0.9
    # A sidecar that is no project is an error when it was to name the song, not with --song.
    (tmp_path / "half.json").write_text("not a project")
    assert score_video(video, song=path).tempo == pytest.approx(120.0, abs=2.0)
    with pytest.raises(BeatwalkError, match="project"):
        score_video(video)


def test_to_dict_is_json_and_plot_draws(flash_score, tmp_path):
    data = json.loads(json.dumps(flash_score.to_dict()))
    figures = ("f_measure", "precision", "recall", "correlation", "offset_ms", "correlation_at_offset")
    figures += ("dtw_distance",)
    assert all(key in data and key in data["perceptual"] for key in figures)
    assert data["fps"] == FPS and data["n_frames"] == flash_score.n_frames
    curves = flash_score.to_dict(curves=True)["curves"]
    assert len(curves["visual_change"]) == len(curves["onset_strength"]) == flash_score.n_frames

    from pipelines.plots import plot_sync

    figure = plot_sync(flash_score)
    assert isinstance(figure, Figure)
    figure.savefig(tmp_path / "sync.png")
    assert (tmp_path / "sync.png").stat().st_size > 10_000


# -- the measures on arrays ----------------------------------------------------


def test_visual_change_is_zero_for_still_frames_and_counts_blocks_alike():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    frames[3] = frames[2]
    pixel, perceptual = visual_change(frames)
    assert pixel[0] == 0 and pixel[3] == 0 and perceptual[3] == 0
    assert (pixel[[1, 2, 4, 5]] > 0.1).all() and (perceptual[[1, 2, 4, 5]] > 0).all()
    tail_pixel, tail_perceptual = visual_change(frames[3:], previous=frames[2])
    np.testing.assert_allclose(tail_pixel, pixel[3:], rtol=1e-6)
    np.testing.assert_allclose(tail_perceptual, perceptual[3:], rtol=1e-6)


def test_peaks_f_measure_offset_and_dtw_on_known_curves():
    fps, beats = 24.0, np.arange(0.5, 10.0, 0.5)
    change = np.full(240, 0.01) + np.random.default_rng(2).uniform(0, 0.002, 240)
    change[np.floor(beats * fps).astype(int) + 1] = 0.2  # one frame late: still a hit
    peaks = visual_peaks(change, fps=fps)
    assert beat_f_measure(peaks, beats, fps=fps) == (1.0, 1.0, 1.0)
    assert beat_f_measure(peaks + 1, beats, fps=fps)[0] == 0.0
    # Every extra peak halves precision once there are as many as beats.
    doubled = np.sort(np.concatenate([peaks, peaks + 6]))
    assert beat_f_measure(doubled, beats, fps=fps)[1] == pytest.approx(0.5)

    onset = np.zeros(240)
    onset[np.floor(beats * fps).astype(int)] = 1.0
    offset, correlation = best_offset(change, onset, fps=fps)
    assert offset == pytest.approx(1 / fps, abs=0.01) and correlation > 0.9
    assert best_offset(onset, change, fps=fps)[0] == pytest.approx(-1 / fps, abs=0.01)
    assert dtw_distance(onset, onset, band=12) == 0.0
    assert dtw_distance(np.roll(onset, 2), onset, band=12) == 0.0
    assert dtw_distance(np.roll(onset, 2), onset, band=1) > 0.0


# -- bad input through the CLI -------------------------------------------------


def _cli_error(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_cli_prints_one_json_object(videos, capsys, tmp_path):
    assert main(["score", str(videos["flash"]), "--plot", str(tmp_path / "sync.png")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["f_measure"] >= 0.9
    assert (tmp_path / "sync.png").is_file()


def test_cli_bad_inputs(videos, song, capsys, tmp_path):
    assert "no soundtrack" in _cli_error(capsys, ["score", str(videos["silent"])])
    longer, _, _ = drum_song(duration=DURATION + 2.0)
    longer_path = write_song(tmp_path / "longer.wav", longer)
    flash = str(videos["flash"])
    assert "different lengths" in _cli_error(capsys, ["score", flash, "--song", str(longer_path)])
    assert "not found" in _cli_error(capsys, ["score", str(tmp_path / "missing.mp4")])
    assert "not found" in _cli_error(capsys, ["score", flash, "--song", str(tmp_path / "none.wav")])
    song_path, _ = song
    assert "video" in _cli_error(capsys, ["score", str(song_path)])


def test_corrupt_video_is_one_line_without_traceback(videos, capsys, tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(videos["flash"].read_bytes()[:20_000])
    assert "cut.mp4" in _cli_error(capsys, ["score", str(cut)])

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "score", str(corrupt)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_song_and_analysis_together_is_refused(videos, song):
    with pytest.raises(BeatwalkError, match="not both"):
        score_video(videos["flash"], song=song[0], analysis=object())
