"""Analysis of synthetic songs whose beats, bars and sections are known exactly."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest
from matplotlib.figure import Figure

from pipelines.errors import BeatwalkError
from pipelines.music.analysis import Analysis, analyze
from pipelines.music.decode import Audio, load_audio
from pipelines.music.envelopes import ENVELOPE_NAMES
from pipelines.music.tempo_range import octave_around
from pipelines.plots import plot_analysis
from synth.songs import drum_song

REPO = Path(__file__).resolve().parents[2]
SR = 22050
TOLERANCE = 0.07  # seconds: the beat F-measure window


def _audio(samples: np.ndarray) -> Audio:
    duration = len(samples) / SR
    return Audio(samples.astype(np.float32), SR, duration, "synthetic", 0.0, duration, SR, 1)


def _chord_pad(freqs: list[float], duration: float) -> np.ndarray:
    t = np.arange(int(duration * SR)) / SR
    pad = sum(np.sin(2 * np.pi * f * h * t) / h for f in freqs for h in (1, 2, 3))
    return pad / np.abs(pad).max()


@pytest.fixture(scope="module")
def drums(song_120):
    path, beats, downbeats = song_120
    audio = load_audio(path)
    return audio, analyze(audio), beats, downbeats


@pytest.fixture(scope="module")
def verse_chorus_verse():
    """48 s at 120 BPM: drums (A), drums under a chord pad (B), drums again (A)."""
    verse, _, _ = drum_song(duration=16.0, bpm=120.0, first_beat=0.0)
    chorus = 0.5 * verse + 0.5 * _chord_pad([220.0, 261.6, 329.6], 16.0)
    return analyze(_audio(np.concatenate([verse, chorus, verse])))


def test_beats_and_tempo_of_the_drum_song(drums):
    _, analysis, beats, _ = drums
    f_measure = mir_eval.beat.f_measure(beats, np.asarray(analysis.beats), f_measure_threshold=TOLERANCE)
    assert f_measure >= 0.95
    assert analysis.tempo == pytest.approx(120.0, abs=2.0)
    assert np.all(np.asarray(analysis.tempo_curve["bpm"]) == pytest.approx(120.0, abs=3.0))
    assert len(analysis.tempo_curve["times"]) == len(analysis.tempo_curve["bpm"])


def test_downbeats_are_bar_starts_among_the_beats(drums):
    _, analysis, _, _ = drums
    assert analysis.beats_per_bar == 4
    assert set(analysis.downbeats) <= set(analysis.beats)
    assert np.diff(analysis.downbeats) == pytest.approx(2.0, abs=0.05)


def test_downbeats_fall_on_the_kick_and_bass_note(drums):
    _, analysis, _, downbeats = drums
    f_measure = mir_eval.beat.f_measure(
        downbeats, np.asarray(analysis.downbeats), f_measure_threshold=TOLERANCE
    )
    assert f_measure >= 0.8


def test_onsets_are_the_drum_hits(drums):
    _, analysis, beats, _ = drums
    eighths = np.sort(np.concatenate([beats, beats + 0.25]))
    f_measure = mir_eval.onset.f_measure(eighths, np.asarray(analysis.onsets), window=0.05)[0]
    assert f_measure >= 0.9


def test_envelopes_are_unit_range_at_the_envelope_rate(drums):
    audio, analysis, beats, _ = drums
    assert set(analysis.envelopes) == set(ENVELOPE_NAMES)
    for name, values in analysis.envelopes.items():
        assert len(values) == pytest.approx(audio.duration * analysis.envelope_rate, abs=2), name
        assert values.min() >= 0.0 and values.max() == 1.0, name
    # Every hit is a percussive peak: energy right after a beat beats energy just before it.
    frames = np.round(beats * analysis.envelope_rate).astype(int)
    percussive = analysis.envelopes["percussive"]
    assert np.all(percussive[frames + 2] > percussive[frames - 3])


@pytest.mark.parametrize("fps", [24.0, 25.0, 30000 / 1001, 60.0, 7.5])
def test_curves_have_one_value_per_video_frame(drums, fps):
    _, analysis, _, _ = drums
    curves = analysis.curves(fps)
    assert set(curves) == set(ENVELOPE_NAMES)
    for values in curves.values():
        assert values.shape == (round(analysis.duration * fps),)
        assert values.min() >= 0.0 and values.max() <= 1.0


def test_curve_value_is_the_mean_energy_over_the_frame_window():
    # Energy 1 during [1.0, 1.5) s, 0 elsewhere, at 1000 Hz.
    rate = 1000.0
    step = ((np.arange(3000) >= 1000) & (np.arange(3000) < 1500)).astype(float)
    analysis = Analysis(
        duration=3.0,
        sample_rate=SR,
        tempo=0.0,
        tempo_curve={"times": [], "bpm": []},
        beats=[],
        downbeats=[],
        beats_per_bar=0,
        onsets=[],
        sections=[{"start": 0.0, "end": 3.0, "label": "A"}],
        envelope_rate=rate,
        envelopes={name: step for name in ENVELOPE_NAMES},
    )
    curve = analysis.curves(4.0)["onset"]  # windows of 0.25 s
    np.testing.assert_allclose(curve, [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], atol=0.005)
    with pytest.raises(BeatwalkError, match="fps"):
        analysis.curves(0.0)


def test_to_dict_is_json_and_round_trips(drums):
    _, analysis, _, _ = drums
    data = analysis.to_dict(curves_fps=24.0)
    text = json.dumps(data)
    assert list(data)[:9] == [
        "duration",
        "sample_rate",
        "tempo",
        "tempo_curve",
        "beats",
        "downbeats",
        "beats_per_bar",
        "onsets",
        "sections",
    ]
    assert data["curves"]["fps"] == 24.0 and len(data["curves"]["onset"]) == round(analysis.duration * 24)
    again = Analysis.from_dict(json.loads(text))
    assert again.to_dict() == analysis.to_dict()
    for name in ENVELOPE_NAMES:
        np.testing.assert_array_equal(again.envelopes[name], analysis.envelopes[name])
    with pytest.raises(BeatwalkError, match="not an analysis"):
        Analysis.from_dict({"duration": 3.0})


def test_segment_times_start_at_the_segment(song_120, drums):
    _, whole, _, _ = drums
    part = analyze(load_audio(song_120[0], start=2.0, end=10.0))
    assert part.duration == 8.0
    expected = (
        np.asarray(whole.beats)[(np.asarray(whole.beats) > 2.2) & (np.asarray(whole.beats) < 9.8)] - 2.0
    )
    assert mir_eval.beat.f_measure(expected, np.asarray(part.beats), f_measure_threshold=TOLERANCE) >= 0.9


def test_silence_has_no_beats_and_no_energy():
    analysis = analyze(_audio(np.zeros(5 * SR)))
    assert analysis.beats == analysis.downbeats == analysis.onsets == []
    assert analysis.tempo == 0.0
    assert analysis.sections == [{"start": 0.0, "end": 5.0, "label": "A"}]
    assert all(values.max() == 0.0 for values in analysis.envelopes.values())


def test_silent_intro_gets_no_beats(song_120):
    samples, _, _ = drum_song(duration=8.0, bpm=120.0)
    analysis = analyze(_audio(np.concatenate([np.zeros(4 * SR, dtype=np.float32), samples])))
    assert analysis.beats and min(analysis.beats) > 4.0 - TOLERANCE
    assert analysis.onsets and min(analysis.onsets) > 4.0 - TOLERANCE


def test_clipping_noise_is_analysed_without_inventing_structure():
    noise = np.clip(np.random.default_rng(0).standard_normal(10 * SR) * 3.0, -1.0, 1.0)
    analysis = analyze(_audio(noise))
    assert analysis.sections == [{"start": 0.0, "end": 10.0, "label": "A"}]
    for values in analysis.envelopes.values():
        assert 0.0 <= values.min() and values.max() <= 1.0
    json.dumps(analysis.to_dict())


def test_sections_find_verse_chorus_verse(verse_chorus_verse):
    sections = verse_chorus_verse.sections
    assert [s["label"] for s in sections] == ["A", "B", "A"]
    assert sections[0]["start"] == 0.0 and sections[-1]["end"] == 48.0
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(sections))
    # Boundaries within a bar (2 s) of the truth.
    assert [s["start"] for s in sections[1:]] == pytest.approx([16.0, 32.0], abs=2.0)


def test_plot_analysis_draws_waveform_and_energy(drums, tmp_path):
    audio, analysis, _, _ = drums
    for figure in (plot_analysis(analysis, audio), plot_analysis(analysis)):
        assert isinstance(figure, Figure)
        assert len(figure.axes) == 3
    figure.savefig(tmp_path / "analysis.png")
    assert (tmp_path / "analysis.png").stat().st_size > 10_000


def test_cli_prints_one_json_object_with_curves_and_plot(song_120, tmp_path):
    plot = tmp_path / "plot.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "analyze",
            str(song_120[0]),
            "--start",
            "1",
            "--end",
            "9",
            "--curves",
            "30",
            "--plot",
            str(plot),
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["duration"] == 8.0 and data["sample_rate"] == SR
    assert len(data["curves"]["percussive"]) == 240
    assert all(0.0 <= t <= 8.0 for t in data["beats"])
    assert plot.stat().st_size > 10_000


def test_tempo_range_sets_the_metrical_level(drums):
    """The remedy for a beat found at twice or half the tempo: narrow the range around it."""
    audio, whole, _, _ = drums
    assert whole.tempo_range == (45.0, 230.0)
    slow = analyze(audio, tempo_range=(40.0, 80.0))
    assert slow.tempo == pytest.approx(60.0, abs=1.5)
    # Every other beat of the 120 BPM song, the kick's.
    assert mir_eval.beat.f_measure(np.asarray(whole.beats)[::2], np.asarray(slow.beats)) > 0.9 or (
        mir_eval.beat.f_measure(np.asarray(whole.beats)[1::2], np.asarray(slow.beats)) > 0.9
    )
    data = json.loads(json.dumps(slow.to_dict()))
    assert data["tempo_range"] == [40.0, 80.0]
    assert Analysis.from_dict(data).tempo_range == (40.0, 80.0)
    # An analysis from before tempo ranges had the default one.
    del data["tempo_range"]
    assert Analysis.from_dict(data).tempo_range == (45.0, 230.0)


def test_an_octave_around_half_or_double_the_tempo_reads_the_song_there(drums):
    """What the Space's ½× and 2× buttons do: one octave around half or double the tempo found."""
    audio, whole, _, _ = drums
    assert octave_around(60.0) == (42.4, 84.9)
    half = analyze(audio, tempo_range=octave_around(whole.tempo / 2))
    assert half.tempo == pytest.approx(60.0, abs=1.5)
    again = analyze(audio, tempo_range=octave_around(half.tempo * 2))
    assert again.tempo == pytest.approx(120.0, abs=2.0)
    assert mir_eval.beat.f_measure(np.asarray(whole.beats), np.asarray(again.beats)) > 0.95
    # Near the bounds the octave is cut short, never empty.
    assert octave_around(20.0) == (20.0, 28.3) and octave_around(400.0) == (282.8, 400.0)


@pytest.mark.parametrize("bpm", [0.0, 19.9, 400.5, float("nan"), None, "fast"])
def test_no_octave_around_a_tempo_out_of_bounds(bpm):
    with pytest.raises(BeatwalkError, match="within 20-400 BPM") as error:
        octave_around(bpm)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "tempo_range", [(80.0, 40.0), (60.0, 60.0), (10.0, 80.0), (60.0, 900.0), (float("nan"), 90.0), ("x", 90)]
)
def test_bad_tempo_range_is_one_line(drums, tempo_range):
    audio, _, _, _ = drums
    with pytest.raises(BeatwalkError, match="tempo range") as error:
        analyze(audio, tempo_range=tempo_range)
    assert "\n" not in str(error.value)


def test_cli_tempo_range(song_120):
    def run(*flags):
        return subprocess.run(
            [sys.executable, "-m", "pipelines", "analyze", str(song_120[0]), *flags],
            check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    result = run("--max-bpm", "80")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["tempo"] == pytest.approx(60.0, abs=1.5) and data["tempo_range"] == [45.0, 80.0]
    result = run("--min-bpm", "150", "--max-bpm", "100")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: the tempo range") and result.stderr.count("\n") == 1


def test_section_novelty_needs_no_whole_similarity_matrix():
    """The checkerboard novelty from windows of the similarity matrix equals it from the whole one
    (which a 3-hour song's half-second cells would make 3.7 GB)."""
    from pipelines.music.sections import _checkerboard_novelty

    rng = np.random.default_rng(0)
    cells = rng.standard_normal((25, 300))
    cells /= np.linalg.norm(cells, axis=0)
    half = 16
    similarity = cells.T @ cells
    offsets = np.arange(-half, half) + 0.5
    taper = np.exp(-0.5 * (offsets / (0.5 * half)) ** 2)
    kernel = np.outer(taper, taper) * np.sign(offsets)[:, None] * np.sign(offsets)[None, :]
    whole = np.zeros(300)
    for i in range(1, 300):
        lo, hi = max(0, i - half), min(300, i + half)
        window = kernel[lo - i + half : hi - i + half, lo - i + half : hi - i + half]
        whole[i] = (similarity[lo:hi, lo:hi] * window).sum() / np.abs(window).sum()
    np.testing.assert_allclose(_checkerboard_novelty(cells, half_width=half), whole, atol=1e-12)


def test_the_beat_features_read_block_by_block_are_those_of_the_whole_magnitude():
    """SpectrumReduction fed uneven blocks (the tonal median filter's 9 frames straddling their
    edges) gives the features of the whole magnitude at once."""
    import librosa
    import scipy.ndimage

    from pipelines.music import beats

    rng = np.random.default_rng(1)
    spectrum = rng.random((beats.N_FFT // 2 + 1, 1000)).astype(np.float32) ** 4
    reduction = beats.SpectrumReduction(1000)
    for start, stop in itertools.pairwise([0, 5, 9, 300, 301, 777, 1000]):
        reduction.add(start, spectrum[:, start:stop])
    freqs = librosa.fft_frequencies(sr=beats.SAMPLE_RATE, n_fft=beats.N_FFT)
    chroma_basis = librosa.filters.chroma(sr=beats.SAMPLE_RATE, n_fft=beats.N_FFT)
    tonal = scipy.ndimage.median_filter(spectrum[freqs < 2000.0], size=(1, 9))
    bass = freqs[freqs < 2000.0] < 250.0
    np.testing.assert_allclose(reduction.chroma, chroma_basis[:, freqs < 2000.0] @ tonal, rtol=1e-5)
    np.testing.assert_allclose(reduction.bass, chroma_basis[:, freqs < 2000.0][:, bass] @ tonal[bass], rtol=1e-5)
    np.testing.assert_allclose(reduction.normalised_mel(), beats.normalised_mel(spectrum), rtol=1e-5)
    np.testing.assert_allclose(reduction.chord_chroma, chroma_basis @ spectrum[: chroma_basis.shape[1]], rtol=1e-5)
    with pytest.raises(ValueError, match="in order"):
        beats.SpectrumReduction(1000).add(5, spectrum[:, 5:10])


def test_stft_blocks_are_the_stft_of_the_centred_song():
    import librosa

    from pipelines.music.envelopes import stft_blocks

    samples = np.random.default_rng(2).standard_normal(50_000).astype(np.float32) + 0.3
    whole = np.abs(librosa.stft(samples - np.float32(0.3), n_fft=1024, hop_length=256))
    blocks = list(stft_blocks(samples, n_fft=1024, hop_length=256, block_frames=37, offset=0.3))
    assert [start for start, _ in blocks] == list(range(0, whole.shape[1], 37))
    blocked = np.concatenate([block for _, block in blocks], axis=1)
    np.testing.assert_allclose(blocked, whole, rtol=1e-5, atol=1e-5)


def test_a_long_song_is_analysed_without_copies_of_it_or_its_spectrum():
    """A 6-minute song: the analysis's peak of traced memory stays within five times the decoded
    samples (its mel-rate features; a centred, a padded and a float64 copy of the samples and the
    whole STFT magnitude made it over eight)."""
    import tracemalloc

    samples, _, _ = drum_song(duration=360.0, bpm=120.0)
    audio = _audio(samples)
    tracemalloc.start()
    try:
        analyze(audio)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * audio.samples.nbytes
