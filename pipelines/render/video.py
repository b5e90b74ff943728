"""Video files: frames streamed into ffmpeg, chunks joined, the song muxed in.

Frames never pile up in memory or on disk as images: :class:`VideoWriter`
pipes each RGB frame straight into an ffmpeg process that encodes H.264
(yuv420p, BT.709, ``+faststart``), so memory stays flat however long the song.
A video holds exactly the frames written, at exactly ``fps``; the soundtrack
is the song's segment, padded or trimmed to the video's length
``n_frames / fps``.

ffmpeg is the static build that ``imageio-ffmpeg`` ships, else Debian's on ``PATH``
(:func:`pipelines.ffmpeg.ffmpeg_exe`). ``ffprobe`` is never needed: :func:`probe_video`
asks ffmpeg itself.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.ffmpeg import VIDEO_DEMUXERS, ffmpeg_exe, input_args
from pipelines.project import AudioRef

AUDIO_BITRATE = "192k"
SOUNDTRACK_NICENESS = 19
"""The background AAC encoding's niceness: it yields to the render's processes (a 30 s song's AAC is
about a second of one core's time)."""


H264_ENCODERS = ("libx264", "h264_nvenc")
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p3",
                  "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}  # fmt: skip


def h264_encoder(requested: str, device: str) -> str:
    """The H.264 encoder for a render's chunks: ``requested`` (a project's ``render.encoder``)
    unless it is ``"auto"``, which is NVENC on a CUDA device where ffmpeg can encode with it
    (:func:`nvenc_works`), else libx264. NVENC asked for where it cannot run is an error."""
    if requested == "h264_nvenc" and not nvenc_works():
        raise BeatwalkError(
            "encoder h264_nvenc cannot run here (it needs an NVIDIA GPU with a video encoder, its driver, "
            "and an ffmpeg built with NVENC): choose 'auto' or 'libx264'"
        )
    if requested != "auto":
        return requested
    return "h264_nvenc" if str(device).startswith("cuda") and nvenc_works() else "libx264"


def nvenc_works() -> bool:
    """Whether this machine's ffmpeg encodes H.264 with NVENC. False without an NVIDIA GPU, on GPUs
    without an encoder (the H100 and H200 have none), and where ffmpeg was built without it."""
    return _encodes("h264_nvenc")


@functools.cache
def _encodes(encoder: str) -> bool:
    """Whether ffmpeg encodes a quarter second of a test pattern with ``encoder``, given the
    options :class:`VideoWriter` gives it."""
    command = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "lavfi", "-i", "testsrc2=size=256x256:rate=24:duration=0.25",
        *_encoder_args(encoder, crf=18, preset="medium"), "-pix_fmt", "yuv420p", "-f", "null", "-",
    ]  # fmt: skip
    try:
        return subprocess.run(command, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _encoder_args(encoder: str, *, crf: int, preset: str) -> list[str]:
    """ffmpeg's options for ``encoder`` at x264's ``crf`` and ``preset`` or NVENC's nearest."""
    if encoder == "h264_nvenc":
        return ["-c:v", "h264_nvenc", "-preset", _NVENC_PRESETS.get(preset, "p4"), "-tune", "hq",
                "-rc", "vbr", "-cq", str(crf + 1), "-b:v", "0", "-profile:v", "high"]  # fmt: skip
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf)]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` found in a video file.

    ``duration`` is the container's (seconds, the longest stream);
    ``frames / fps`` is the video stream's own length.
    """

    frames: int
    fps: float
    width: int
    height: int
    duration: float
    video_codec: str
    pix_fmt: str
    audio_codec: str | None = None
    audio_sample_rate: int | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


class VideoWriter:
    """Encode RGB frames to an H.264 mp4 as they come, with an optional soundtrack.

    Parameters
    ----------
    path : str or Path
        Output file. It is written in mp4 format whatever its suffix.
    width, height : int > 0
        Frame size, pixels. yuv420p needs even sizes: an odd size gets one
        black column or row of padding.
    fps : float > 0
        Frames per second, exact: every frame written is one frame of video.
    audio : AudioRef or None
        The song and its segment (``start``, ``end`` in seconds). Its audio
        is padded with silence or trimmed to ``frames_written / fps``.
    crf : int
        x264 quality, 0 (lossless) … 51; 18 is visually lossless (NVENC: its constant quality
        ``-cq``, one step above, about as good).
    preset : str
        x264 speed preset (``ultrafast`` … ``veryslow``; NVENC: its ``p1`` … ``p7`` alike).
    encoder : str
        One of ``H264_ENCODERS``: ``"libx264"`` (any machine), or ``"h264_nvenc"`` (an NVIDIA
        GPU's encoder; see :func:`h264_encoder`).

    Examples
    --------
    >>> with VideoWriter("walk.mp4", width=512, height=512, fps=24, audio=project.audio) as video:
    ...     for index, frame in walk_frames(conditioning, plan, batch_size=4):
    ...         video.write(frame)
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: float,
        audio: AudioRef | None = None,
        crf: int = 18,
        preset: str = "medium",
        encoder: str = "libx264",
    ):
        if encoder not in H264_ENCODERS:
            raise BeatwalkError(f"unknown H.264 encoder {encoder!r}; choose one of {', '.join(H264_ENCODERS)}")
        if width <= 0 or height <= 0:
            raise BeatwalkError(f"video size must be positive, got {width}x{height}")
        if fps <= 0:
            raise BeatwalkError(f"fps must be positive, got {fps:g}")
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.audio = audio
        self.crf, self.preset, self.encoder = crf, preset, encoder
        self.frames_written = 0
        # With a soundtrack, the video stream is encoded first and the audio muxed in at the end,
        # when the number of frames (hence the audio's exact length) is known.
        self._video_path = (
            self.path.with_name(self.path.name + ".video.mp4") if audio is not None else self.path
        )
        self._process: subprocess.Popen | None = None
        self._stderr = None

    def __enter__(self) -> VideoWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif self._process is not None:
            self.close()

    def open(self) -> None:
        """Start the ffmpeg process."""
        # swscale converts with BT.601 unless told; BT.709 matrix + tags is what browsers assume.
        filters = "scale=out_color_matrix=bt709:out_range=tv"
        if self.width % 2 or self.height % 2:
            # Pad while still RGB: a yuv420p scaler would drop the odd row and column.
            filters = "pad=ceil(iw/2)*2:ceil(ih/2)*2," + filters
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
            "-r", _rate(self.fps), "-i", "pipe:0",
            "-vf", filters,
            *_encoder_args(self.encoder, crf=self.crf, preset=self.preset), "-pix_fmt", "yuv420p",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            # The input's timestamps passed through (its rate is the video's): no frame is dropped or
            # duplicated. (An output -r beside it is refused as contradictory by ffmpeg 7 and later.)
            "-fps_mode", "passthrough",
            "-movflags", "+faststart", "-f", "mp4", str(self._video_path),
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
        except OSError as exc:
            raise BeatwalkError(f"cannot start ffmpeg: {exc}") from None

    def write(self, frame: np.ndarray) -> None:
        """Encode one frame.

        Parameters
        ----------
        frame : np.ndarray [shape=(height, width, 3), dtype=uint8]
            RGB. It is handed to ffmpeg at once; nothing keeps a reference.
        """
        if self._process is None:
            raise RuntimeError("VideoWriter is not open")
        frame = np.asarray(frame)
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise BeatwalkError(
                f"frame must be uint8 of shape ({self.height}, {self.width}, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, OSError):
            self._fail()
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file (and mux the soundtrack). Returns its path."""
        if self._process is None:
            raise RuntimeError("VideoWriter is not open")
        try:
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        if self._process.wait() != 0:
            self._fail()
        self._process = None
        self._stderr.close()
        if self.frames_written == 0:
            self._remove(self._video_path)
            raise BeatwalkError(f"no frames were written to {self.path}")
        if self.audio is not None:
            try:
                join_chunks(
                    [self._video_path],
                    self.path,
                    fps=self.fps,
                    n_frames=self.frames_written,
                    audio=self.audio,
                )
            finally:
                self._remove(self._video_path)
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the unfinished file."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
            self._stderr.close()
        self._remove(self._video_path)

    def _fail(self):
        self._process.kill()
        self._process.wait()
        self._stderr.seek(0)
        message = self._stderr.read().decode(errors="replace")
        self._process = None
        self._stderr.close()
        self._remove(self._video_path)
        raise BeatwalkError(_ffmpeg_error(message, f"writing {self.path}"))

    @staticmethod
    def _remove(path: Path) -> None:
        """Delete what this writer wrote there: a file, or a link in its place; never a device."""
        if path.is_symlink() or path.is_file():
            path.unlink()


class Soundtrack:
    """The song's segment encoded to AAC in the background, while the frames render: the join then
    copies it instead of encoding it (seconds of a long song's AAC off the end of every render).

    ``path()`` waits for it: the ``.m4a``, or None when the encoding failed (the join encodes the
    song itself then, and says what is wrong with it). ``cancel()`` stops it and deletes its file.
    """

    def __init__(self, audio: AudioRef, path: str | Path, *, fps: float, n_frames: int):
        self._path = Path(path)
        song = Path(audio.path)
        self._process = None
        if song.is_file():
            command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
                       *_audio_input(audio, fps=fps, n_frames=n_frames), *_aac_output(0, fps=fps, n_frames=n_frames),
                       "-vn", "-f", "mp4", str(self._path)]  # fmt: skip
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            # The frames come first: the encoding takes the cycles they leave (a render's start, its
            # last chunk on one core of two, the join), not the cores that render.
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, self._process.pid, SOUNDTRACK_NICENESS)

    def path(self) -> Path | None:
        if self._process is None or self._process.wait() != 0 or not self._path.is_file():
            self.cancel()
            return None
        return self._path

    def cancel(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._path.unlink(missing_ok=True)


def _audio_input(audio: AudioRef, *, fps: float, n_frames: int) -> list[str]:
    """ffmpeg arguments reading the song's segment (at most ``n_frames / fps`` seconds of it)."""
    length = n_frames / fps if audio.end is None else min(audio.end - audio.start, n_frames / fps)
    return ["-ss", f"{audio.start:.6f}", "-t", f"{length:.6f}", *input_args(Path(audio.path))]


def _aac_output(stream: int, *, fps: float, n_frames: int) -> list[str]:
    """ffmpeg arguments encoding input ``stream``'s audio to AAC of exactly ``n_frames / fps``
    seconds (padded with silence, or cut)."""
    seconds = f"{n_frames / fps:.6f}"
    return ["-map", f"{stream}:a:0", "-c:a", "aac", "-b:a", AUDIO_BITRATE,
            "-af", f"apad=whole_dur={seconds},atrim=end={seconds}"]  # fmt: skip


def join_chunks(
    chunks: Sequence[str | Path],
    out_path: str | Path,
    *,
    fps: float,
    n_frames: int,
    audio: AudioRef | None = None,
    soundtrack: str | Path | None = None,
) -> Path:
    """Concatenate H.264 chunk files without re-encoding, and mux the song in.

    Parameters
    ----------
    chunks : sequence of paths
        Video-only mp4 files in order, all from :class:`VideoWriter` with the
        same size and fps.
    out_path : str or Path
        The joined mp4 (written in place: write to a temporary name and rename
        for an atomic result).
    fps : float > 0
        The chunks' frame rate.
    n_frames : int > 0
        Frames in all chunks together; the soundtrack lasts ``n_frames / fps`` s.
    audio : AudioRef or None
        The song and its segment, encoded to AAC; None: no soundtrack.
    soundtrack : path or None
        That segment already encoded (:class:`Soundtrack`): copied, not encoded again.
    """
    out_path = Path(out_path)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        for chunk in chunks:
            # The concat demuxer's quoting: close the quote, escape the quote, reopen.
            quoted = str(Path(chunk).resolve()).replace("'", "'\\''")
            listing.write(f"file '{quoted}'\n")
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "concat", "-safe", "0", "-i", listing.name]  # fmt: skip
    if soundtrack is not None:
        command += ["-i", str(soundtrack), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "copy"]
    elif audio is not None:
        song = Path(audio.path)
        if not song.is_file():
            os.unlink(listing.name)
            raise BeatwalkError(f"song not found: {song}")
        command += [*_audio_input(audio, fps=fps, n_frames=n_frames), "-map", "0:v:0",
                    *_aac_output(1, fps=fps, n_frames=n_frames)]  # fmt: skip
    command += ["-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", str(out_path)]
    try:
        _run(command, f"writing {out_path}")
    finally:
        os.unlink(listing.name)
    return out_path


def probe_video(path: str | Path) -> VideoInfo:
    """Frame count, fps, size, codecs and duration of a video, read by ffmpeg.

    Frames are counted by reading the video stream's packets (no decoding).
    """
    path = Path(path)
    if not path.is_file():
        raise BeatwalkError(f"video not found: {path}")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *input_args(path, demuxers=VIDEO_DEMUXERS),
               "-map", "0:v:0", "-c", "copy", "-f", "null", "-progress", "pipe:1", "-"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, errors="replace")
    video = re.search(r"Stream #\S+: Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)", result.stderr)
    frames = re.findall(r"^frame=(\d+)$", result.stdout, flags=re.MULTILINE)
    if video is None:
        raise BeatwalkError(f"not a video (no video stream found): {path}")
    if result.returncode != 0 or not frames:
        raise BeatwalkError(_ffmpeg_error(result.stderr, f"reading {path}"))
    rate = re.search(r"Stream #\S+: Video: .*?, ([\d.]+k?) (?:fps|tbr)", result.stderr)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", result.stderr)
    audio = re.search(r"Stream #\S+: Audio: (\w+).*?, (\d+) Hz", result.stderr)
    return VideoInfo(
        frames=int(frames[-1]),
        fps=_parse_rate(rate.group(1)) if rate else 0.0,
        width=int(video.group(3)),
        height=int(video.group(4)),
        duration=(int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3)))
        if duration
        else 0.0,
        video_codec=video.group(1),
        pix_fmt=video.group(2),
        audio_codec=audio.group(1) if audio else None,
        audio_sample_rate=int(audio.group(2)) if audio else None,
    )


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode a video's frames one by one.

    Yields
    ------
    frame : np.ndarray [shape=(height, width, 3), dtype=uint8]
        RGB, in display order.
    """
    info = probe_video(path)
    size = info.width * info.height * 3
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", *input_args(path, demuxers=VIDEO_DEMUXERS),
               "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-fps_mode", "passthrough",
               "pipe:1"]  # fmt: skip
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr)
        try:
            while len(chunk := process.stdout.read(size)) == size:
                yield np.frombuffer(chunk, dtype=np.uint8).reshape(info.height, info.width, 3)
            if process.wait() != 0:
                stderr.seek(0)
                raise BeatwalkError(_ffmpeg_error(stderr.read().decode(errors="replace"), f"decoding {path}"))
        finally:
            process.stdout.close()
            process.kill()
            process.wait()


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace"
    )
    if result.returncode != 0:
        raise BeatwalkError(_ffmpeg_error(result.stderr, what))


def _ffmpeg_error(stderr: str, what: str, *, default: str = "ffmpeg failed") -> str:
    """One line for a failed ffmpeg run: a full disk said plainly, else ffmpeg's own last line."""
    if "No space left on device" in stderr:
        return f"no space left on device while {what}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else default
    return f"ffmpeg failed while {what}: {detail}"


def _rate(fps: float) -> str:
    """fps as the exact fraction ffmpeg should use (24 → ``24/1``, 29.97 → ``2997/100``)."""
    rate = Fraction(str(fps)).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


def _parse_rate(text: str) -> float:
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)
