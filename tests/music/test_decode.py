"""Decoding songs by content: formats, rates, channels, segments and every kind of bad file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipelines.errors import BeatwalkError
from pipelines.ffmpeg import ffmpeg_exe
from pipelines.music.decode import Audio, load_audio
from pipelines.render.video import VideoWriter

REPO = Path(__file__).resolve().parents[2]
# The mono song copied into both channels (ffmpeg's own upmix would lower the level by 3 dB).
STEREO = ["-af", "pan=stereo|c0=c0|c1=c0"]


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def variants(song_120, tmp_path_factory):
    """The 120 BPM drum song encoded in every format the issue names: name -> path."""
    source, _, _ = song_120
    folder = tmp_path_factory.mktemp("variants")
    paths = {"wav": source}
    for name, options in {
        "mp3": ["-ar", "44100", *STEREO, "-b:a", "192k"],
        "ogg": ["-c:a", "libvorbis", "-ar", "44100"],
        "flac": ["-ar", "48000"],
        "m4a": ["-c:a", "aac", "-ar", "44100", *STEREO],
        "8k-mono.wav": ["-ar", "8000", "-ac", "1"],
        "96k-stereo.wav": ["-ar", "96000", *STEREO],
    }.items():
        path = folder / f"song.{name}"
        _ffmpeg("-i", str(source), *options, str(path))
        paths[name] = path
    return paths


@pytest.mark.parametrize(
    "name, rate, channels",
    [
        ("wav", 22050, 1),
        ("mp3", 44100, 2),
        ("ogg", 44100, 1),
        ("flac", 48000, 1),
        ("m4a", 44100, 2),
        ("8k-mono.wav", 8000, 1),
        ("96k-stereo.wav", 96000, 2),
    ],
)
def test_every_format_decodes_to_mono_at_the_requested_rate(variants, song_120, name, rate, channels):
    reference, _ = soundfile.read(song_120[0], dtype="float32")
    audio = load_audio(variants[name])

    assert isinstance(audio, Audio)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == 22050
    assert (audio.source_sample_rate, audio.source_channels) == (rate, channels)
    assert audio.duration == pytest.approx(12.0, abs=0.03)
    assert len(audio.samples) == pytest.approx(len(reference), abs=0.03 * 22050)
    # Same level as the source (channels are averaged, not summed), and in time with it.
    n = min(len(reference), len(audio.samples))
    lag = np.argmax(np.correlate(audio.samples[:22050], reference[:22050], mode="full")) - 22049
    assert abs(lag) <= 0.005 * 22050
    if name != "8k-mono.wav":  # 8 kHz loses everything above 4 kHz (hats, snare)
        assert np.abs(audio.samples[:n]).max() == pytest.approx(np.abs(reference).max(), rel=0.15)


def test_extension_is_not_trusted(variants, tmp_path):
    disguised = tmp_path / "really-an-mp3.wav"
    disguised.write_bytes(variants["mp3"].read_bytes())
    assert load_audio(disguised).duration == pytest.approx(12.0, abs=0.03)


def test_segment_is_cut_from_the_song(song_120):
    whole = load_audio(song_120[0])
    part = load_audio(song_120[0], start=2.5, end=6.0)

    assert (part.start, part.end) == (2.5, pytest.approx(6.0, abs=1e-3))
    assert part.duration == pytest.approx(3.5, abs=1e-3)
    offset = int(2.5 * 22050)
    np.testing.assert_allclose(
        part.samples[1000:5000], whole.samples[offset + 1000 : offset + 5000], atol=1e-4
    )


def test_resampling_to_another_rate(song_120):
    audio = load_audio(song_120[0], sr=16000)
    assert audio.sample_rate == 16000
    assert len(audio.samples) == pytest.approx(12.0 * 16000, abs=2)


@pytest.mark.parametrize(
    "segment, message",
    [
        ({"start": 5.0, "end": 3.0}, "must be after start"),
        ({"start": -1.0}, ">= 0"),
        ({"start": 20.0}, "past the end"),
        ({"start": 4.0, "end": 30.0}, "past the end"),
        ({"start": 4.0, "end": 4.5}, "too short"),
        ({"start": 11.5}, "too short"),
    ],
)
def test_bad_segments_are_refused(song_120, segment, message):
    with pytest.raises(BeatwalkError, match=message):
        load_audio(song_120[0], **segment)


def test_longer_than_the_limit_is_refused_without_decoding_it_all(song_120):
    with pytest.raises(BeatwalkError, match="too long: 12 s"):
        load_audio(song_120[0], max_duration=5.0)
    assert load_audio(song_120[0], start=1.0, end=5.0, max_duration=5.0).duration == pytest.approx(4.0)


def _bad_inputs(folder: Path, mp3: Path, flac: Path, ogg: Path) -> dict[str, Path]:
    """Every bad file of the issue, written into ``folder``: name -> path."""
    files = {}

    def write(name: str, data: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(data)

    write("not-audio.mp3", b"This is a text file, not a song.\n" * 50)
    write("empty.wav", b"")
    files["zero-length.wav"] = folder / "zero-length.wav"
    soundfile.write(files["zero-length.wav"], np.zeros(0, dtype=np.float32), 22050)
    write("truncated.mp3", mp3.read_bytes()[: len(mp3.read_bytes()) // 3])
    write("truncated.flac", flac.read_bytes()[: len(flac.read_bytes()) // 3])
    # Cut mid-page, and cut between pages (every page whole, the stream's last one missing): an Ogg
    # file's duration comes from its last page, so neither shows in what ffmpeg reports.
    write("truncated.ogg", ogg.read_bytes()[: len(ogg.read_bytes()) // 3])
    write("truncated-on-a-page.ogg", ogg.read_bytes()[: ogg.read_bytes().rfind(b"OggS")])
    data = bytearray(flac.read_bytes())
    data[8:4000] = np.random.default_rng(0).integers(0, 256, 3992, dtype=np.uint8).tobytes()
    write("corrupt.flac", bytes(data))
    write("image.wav", _png_bytes())
    files["video-only.mp4"] = folder / "video-only.mp4"
    with VideoWriter(files["video-only.mp4"], width=16, height=16, fps=4) as video:
        for _ in range(4):
            video.write(np.zeros((16, 16, 3), np.uint8))
    files["short.wav"] = folder / "short.wav"
    soundfile.write(files["short.wav"], np.sin(np.arange(11025) / 5.0).astype(np.float32), 22050)
    files["nan.wav"] = folder / "nan.wav"
    soundfile.write(files["nan.wav"], np.full(44100, np.nan, dtype=np.float32), 22050, subtype="FLOAT")
    files["missing.wav"] = folder / "missing.wav"
    return files


def _png_bytes() -> bytes:
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (16, 16), "red").save(buffer, format="PNG")
    return buffer.getvalue()


BAD_INPUTS = {
    "not-audio.mp3": "not an audio file",
    "empty.wav": "empty",
    "zero-length.wav": "no audio",
    "truncated.mp3": "truncated",
    "truncated.flac": "truncated",
    "truncated.ogg": "truncated",
    "truncated-on-a-page.ogg": "truncated",
    "corrupt.flac": "corrupt",
    "image.wav": "not an audio file",
    "video-only.mp4": "no audio stream",
    "short.wav": "too short",
    "nan.wav": "not numbers",
    "missing.wav": "not found",
}


@pytest.fixture(scope="module")
def bad_inputs(variants, tmp_path_factory):
    return _bad_inputs(tmp_path_factory.mktemp("bad"), variants["mp3"], variants["flac"], variants["ogg"])


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_from_the_cli(bad_inputs, name):
    result = _cli("analyze", str(bad_inputs[name]))

    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert BAD_INPUTS[name] in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_beatwalk_error(bad_inputs, name):
    with pytest.raises(BeatwalkError, match=BAD_INPUTS[name]):
        load_audio(bad_inputs[name])


def test_song_longer_than_the_configured_maximum_is_refused_by_the_cli(song_120):
    result = _cli("analyze", str(song_120[0]), env={"BEATWALK_MAX_SONG_SECONDS": "10"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: song is too long") and "Traceback" not in result.stderr


def test_bad_segment_from_the_cli(song_120):
    result = _cli("analyze", str(song_120[0]), "--start", "8", "--end", "3")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: end (3 s) must be after start (8 s)"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


@pytest.fixture(scope="module")
def server_secret(tmp_path_factory, variants):
    """A file on the server that no song may reach: a real song, so that reading it would succeed."""
    folder = tmp_path_factory.mktemp("server")
    secret = folder / "secret-song.mp3"
    secret.write_bytes(variants["mp3"].read_bytes())
    return secret


def _playlists(folder: Path, secret: Path) -> dict[str, Path]:
    """Uploads that name another file: HLS (a 150-byte .m3u8 sent as the song), ffconcat, a
    reference movie is not needed: mov's external references are off in ffmpeg by default."""
    hls = folder / "hls.mp3"
    hls.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:32\n#EXTINF:32.0,\nfile://{secret}\n#EXT-X-ENDLIST\n")
    concat = folder / "concat.wav"
    concat.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    relative = folder / "relative.ogg"
    relative.write_text(f"#EXTM3U\n#EXTINF:32.0,\n{secret.name}\n#EXT-X-ENDLIST\n")
    (folder / secret.name).write_bytes(secret.read_bytes())
    return {"hls": hls, "concat": concat, "relative": relative}


@pytest.mark.parametrize("kind", ["hls", "concat", "relative"])
def test_an_upload_that_names_other_files_is_not_followed(tmp_path, server_secret, kind):
    """Only real media containers are opened, and nothing they name: the one-line refusal does not
    tell whether the file named exists."""
    upload = _playlists(tmp_path, server_secret)[kind]
    with pytest.raises(BeatwalkError) as refused:
        load_audio(upload)
    assert str(refused.value) == f"not an audio file (or corrupt): {upload.name}"
    missing = server_secret.with_name("no-such-file.mp3")
    upload.write_text(upload.read_text().replace(server_secret.name, missing.name))
    with pytest.raises(BeatwalkError) as refused_again:
        load_audio(upload)
    assert str(refused_again.value) == str(refused.value)


def test_a_name_with_a_colon_or_a_leading_dash_is_a_file(song_120, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("http:drums.wav", "-i.wav"):
        (tmp_path / name).write_bytes(Path(song_120[0]).read_bytes())
        assert load_audio(name).duration == pytest.approx(12.0, abs=0.01)
