"""pipelines.render.video: frames streamed into ffmpeg, exact frame counts, the song's segment as soundtrack."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
import scipy.signal

from pipelines.errors import BeatwalkError
from pipelines.music.decode import load_audio
from pipelines.project import AudioRef
from pipelines.render.video import SOUNDTRACK_NICENESS, Soundtrack, VideoWriter, join_chunks, probe_video, read_frames
from synth.songs import write_song


def frames(n, *, width=64, height=48, offset=0):
    """Frames that tell each other apart: a gradient whose brightness steps with the index."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 96 // width + y * 64 // height).astype(np.int64)
    for i in range(offset, offset + n):
        yield np.clip(base + (i * 37) % 96, 0, 255).astype(np.uint8).repeat(3).reshape(height, width, 3)


def write(path, n, *, width=64, height=48, fps=8.0, audio=None, offset=0):
    with VideoWriter(path, width=width, height=height, fps=fps, audio=audio) as video:
        for frame in frames(n, width=width, height=height, offset=offset):
            video.write(frame)
    return path


def test_video_only_has_exactly_the_frames_written(tmp_path):
    path = write(tmp_path / "walk.mp4", 21, fps=8.0)
    info = probe_video(path)
    assert (info.frames, info.fps, info.width, info.height) == (21, 8.0, 64, 48)
    assert (info.video_codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", False)
    assert info.duration == pytest.approx(21 / 8, abs=0.01)


def test_decoded_frames_match_in_order(tmp_path):
    path = write(tmp_path / "walk.mp4", 12)
    decoded = list(read_frames(path))
    assert len(decoded) == 12
    for got, want in zip(decoded, frames(12), strict=True):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 3


@pytest.fixture(scope="module")
def noise_song(tmp_path_factory):
    """6 s of white noise: unlike a drum loop, every instant of it is unique."""
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, 6 * 22050).astype(np.float32)
    return write_song(tmp_path_factory.mktemp("songs") / "noise.wav", samples)


@pytest.mark.parametrize(
    "segment", [(1.0, 2.0), (1.5, None), (0.0, 5.0)], ids=["short-song", "to-end", "long-song"]
)
def test_soundtrack_is_the_segment_cut_to_the_video_length(tmp_path, noise_song, segment):
    start, end = segment
    n, fps = 30, 10.0
    path = write(
        tmp_path / "walk.mp4", n, fps=fps, audio=AudioRef(path=str(noise_song), start=start, end=end)
    )
    info = probe_video(path)
    assert info.frames == n and info.audio_codec == "aac"
    assert info.duration == pytest.approx(n / fps, abs=0.03)
    assert not (tmp_path / "walk.mp4.video.mp4").exists()

    soundtrack = load_audio(path, sr=22050)
    assert soundtrack.duration == pytest.approx(n / fps, abs=0.03)
    # Where the soundtrack lines up with the source is where the segment starts.
    source = load_audio(noise_song, sr=22050).samples
    heard = soundtrack.samples[: 22050 // 2]
    lag = int(np.argmax(scipy.signal.correlate(source, heard, mode="valid", method="fft")))
    assert lag / 22050 == pytest.approx(start, abs=0.002)
    # Past the segment's end the soundtrack is silence.
    if end is not None and end - start < n / fps:
        tail = soundtrack.samples[int((end - start + 0.05) * 22050) :]
        assert np.abs(tail).max() < 0.01


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = write(tmp_path / "odd.mp4", 5, width=65, height=47)
    info = probe_video(path)
    assert (info.width, info.height, info.frames) == (66, 48, 5)
    first = next(read_frames(path))
    want = next(frames(1, width=65, height=47))
    assert np.abs(first[:47, :65].astype(int) - want.astype(int)).mean() < 3


def test_fractional_fps_is_exact(tmp_path):
    info = probe_video(write(tmp_path / "ntsc.mp4", 30, fps=29.97))
    assert info.frames == 30 and info.fps == pytest.approx(29.97)


def test_join_chunks_copies_streams_and_adds_the_song(tmp_path, song_120):
    song, _, _ = song_120
    sizes = [16, 16, 5]
    chunks, offset = [], 0
    for i, n in enumerate(sizes):
        chunks.append(write(tmp_path / f"chunk_{i}.mp4", n, offset=offset))
        offset += n
    out = join_chunks(
        chunks, tmp_path / "joined.mp4", fps=8.0, n_frames=sum(sizes), audio=AudioRef(path=str(song), start=2)
    )
    info = probe_video(out)
    assert (info.frames, info.audio_codec) == (sum(sizes), "aac")
    assert info.duration == pytest.approx(sum(sizes) / 8, abs=0.03)
    parts = [frame for chunk in chunks for frame in read_frames(chunk)]
    joined = list(read_frames(out))
    assert len(joined) == len(parts)
    # Stream copy: the very same pictures, bit for bit.
    assert all(np.array_equal(a, b) for a, b in zip(joined, parts, strict=True))


def test_a_soundtrack_encoded_beside_the_render_is_the_one_the_join_encodes(tmp_path, song_120):
    song, _, _ = song_120
    chunk, audio = write(tmp_path / "chunk.mp4", 20), AudioRef(path=str(song), start=1.5, end=3.0)
    encoded = join_chunks([chunk], tmp_path / "encoded.mp4", fps=8.0, n_frames=20, audio=audio)
    soundtrack = Soundtrack(audio, tmp_path / "song.m4a", fps=8.0, n_frames=20)  # 2.5 s: 1 s of silence padded
    # It yields the cores to the render's processes (read before path() reaps it).
    assert os.getpriority(os.PRIO_PROCESS, soundtrack._process.pid) == SOUNDTRACK_NICENESS
    copied = join_chunks([chunk], tmp_path / "copied.mp4", fps=8.0, n_frames=20, soundtrack=soundtrack.path())
    assert probe_video(copied).audio_codec == "aac"
    assert probe_video(copied).duration == pytest.approx(2.5, abs=0.03)
    assert np.array_equal(load_audio(str(copied)).samples, load_audio(str(encoded)).samples)
    soundtrack.cancel()
    assert not (tmp_path / "song.m4a").exists()
    # A song that cannot be read: no soundtrack, and the join says why (it reads the song itself).
    missing = Soundtrack(AudioRef(path=str(tmp_path / "gone.wav")), tmp_path / "gone.m4a", fps=8.0, n_frames=20)
    assert missing.path() is None and not (tmp_path / "gone.m4a").exists()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    assert Soundtrack(AudioRef(path=str(broken)), tmp_path / "b.m4a", fps=8.0, n_frames=20).path() is None


def test_full_disk_is_one_clear_error(tmp_path):
    with pytest.raises(BeatwalkError, match="no space left on device"):
        write("/dev/full", 40)
    chunk = write(tmp_path / "chunk.mp4", 8)
    with pytest.raises(BeatwalkError, match="no space left on device"):
        join_chunks([chunk], "/dev/full", fps=8.0, n_frames=8)


def test_writer_memory_is_flat_in_video_length(tmp_path):
    width = height = 256
    frame_bytes = width * height * 3

    def peak_memory(n):
        tracemalloc.start()
        try:
            write(tmp_path / f"{n}.mp4", n, width=width, height=height)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short, long = peak_memory(20), peak_memory(120)
    # 100 more frames are 20 MB more; a writer that kept frames would grow by that much.
    assert long < short + 2 * frame_bytes
    assert probe_video(tmp_path / "120.mp4").frames == 120


def test_wrong_frame_is_refused_and_nothing_half_written_stays(tmp_path):
    path = tmp_path / "bad.mp4"
    with pytest.raises(BeatwalkError, match="uint8 of shape"):
        with VideoWriter(path, width=64, height=48, fps=8) as video:
            video.write(np.zeros((48, 64, 3), np.uint8))
            video.write(np.zeros((48, 64, 3), np.float32))
    assert not path.exists()


def test_probe_refuses_what_is_not_a_video(tmp_path, song_120):
    song, _, _ = song_120
    with pytest.raises(BeatwalkError, match="no video stream"):
        probe_video(song)
    with pytest.raises(BeatwalkError, match="not found"):
        probe_video(tmp_path / "missing.mp4")


SYSTEM_FFMPEG = "/usr/bin/ffmpeg"


@pytest.mark.skipif(not os.path.exists(SYSTEM_FFMPEG), reason="no system ffmpeg to fall back on")
def test_the_system_ffmpeg_writes_joins_and_decodes_the_same_way(tmp_path, song_120):
    """The static build imageio-ffmpeg ships is the default; Debian's (an older ffmpeg) is the
    fallback, and each option given to ffmpeg means the same to both (ffmpeg 7 refuses an output
    rate beside passthrough timestamps, which ffmpeg 5 took)."""
    import subprocess
    import sys

    script = f"""
import numpy as np
from pipelines.ffmpeg import ffmpeg_exe
from pipelines.music.decode import load_audio
from pipelines.project import AudioRef
from pipelines.render.video import VideoWriter, join_chunks, probe_video
assert ffmpeg_exe() == {SYSTEM_FFMPEG!r}, ffmpeg_exe()
paths = []
for k in range(2):
    with VideoWriter({str(tmp_path)!r} + f"/chunk{{k}}.mp4", width=30, height=20, fps=23.976) as video:
        for i in range(12):
            video.write(np.full((20, 30, 3), 20 * i, np.uint8))
    paths.append(video.path)
out = join_chunks(paths, {str(tmp_path / "joined.mp4")!r}, fps=23.976, n_frames=24,
                  audio=AudioRef(path={str(song_120[0])!r}))
info = probe_video(out)
print(info.frames, round(info.fps, 3), info.has_audio, len(load_audio({str(song_120[0])!r}).samples))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, IMAGEIO_FFMPEG_EXE=SYSTEM_FFMPEG),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    frames, fps, has_audio, samples = done.stdout.split()
    assert int(frames) == 24 and has_audio == "True"
    assert float(fps) == pytest.approx(23.976, abs=0.02)  # ffmpeg's estimate from 24 frames' timestamps
    assert int(samples) == len(load_audio(song_120[0]).samples)


def test_without_nvenc_every_render_encodes_with_libx264():
    from pipelines.render.video import _encodes, h264_encoder, nvenc_works

    if nvenc_works():
        pytest.skip("this machine's ffmpeg encodes with NVENC")
    assert _encodes("libx264")  # the check itself runs: NVENC is what is missing, not ffmpeg or the test pattern
    assert [h264_encoder("auto", device) for device in ("cpu", "cuda", "cuda:0")] == ["libx264"] * 3
    assert h264_encoder("libx264", "cuda") == "libx264"
    with pytest.raises(BeatwalkError, match="h264_nvenc cannot run here"):
        h264_encoder("h264_nvenc", "cuda")


def test_an_encoder_that_cannot_run_is_one_error_and_leaves_no_file(tmp_path):
    from pipelines.render.video import nvenc_works

    with pytest.raises(BeatwalkError, match="unknown H.264 encoder 'x265'"):
        VideoWriter(tmp_path / "a.mp4", width=64, height=64, fps=24, encoder="x265")
    if nvenc_works():
        pytest.skip("this machine's ffmpeg encodes with NVENC")
    path = tmp_path / "b.mp4"
    with pytest.raises(BeatwalkError, match="ffmpeg"):
        with VideoWriter(path, width=64, height=64, fps=24, encoder="h264_nvenc") as video:
            for _ in range(4):
                video.write(np.zeros((64, 64, 3), np.uint8))
    assert not list(tmp_path.iterdir())
