"""Decoding songs: any container and codec ffmpeg reads, by content, to mono float32.

The file's extension is never trusted: ffmpeg sniffs the content, so a ``.wav``
that is really an mp3 decodes, and a ``.mp3`` that is really text is refused
with one plain line. One ffmpeg process does the work: it seeks to the segment,
decodes, resamples and writes a float WAV stream to a pipe; its log (stderr)
tells the source's sample rate, duration and any decoding trouble.
"""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError
from pipelines.ffmpeg import ffmpeg_exe, input_args

MIN_DURATION = 1.0
"""Shortest segment Beatwalk analyses, seconds: less holds no beat to follow."""

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: .*?(\d+) Hz")
# A decoded stream this much shorter than the header says is a cut-off download.
_TRUNCATION_TOLERANCE = 0.05
_OGG_MAX_PAGE = 27 + 255 + 255 * 255  # header, segment table, body: RFC 3533's largest page


@dataclass
class Audio:
    """A decoded song segment.

    Attributes
    ----------
    samples : np.ndarray [shape=(n,), float32]
        Mono signal (the mean of the source's channels), nominally in [-1, 1].
    sample_rate : int
        Rate of ``samples``, Hz.
    duration : float
        Length of ``samples``, seconds.
    path : str
        The song file.
    start, end : float
        The segment in the source song, seconds.
    source_sample_rate : int
        The file's own sample rate, Hz.
    source_channels : int
        The file's own channel count.
    """

    samples: np.ndarray
    sample_rate: int
    duration: float
    path: str
    start: float
    end: float
    source_sample_rate: int
    source_channels: int


def load_audio(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    sr: int = 22050,
    max_duration: float | None = None,
) -> Audio:
    """Decode a song (or a segment of it) to mono float32 at ``sr``.

    Parameters
    ----------
    path : str or Path
        Any audio (or video-with-audio) file ffmpeg can read: wav, mp3, flac,
        ogg, m4a/aac, ... at any sample rate and channel count.
    start, end : float or None
        Segment of the song to decode, seconds; None: its start / its end.
    sr : int > 0
        Output sample rate, Hz.
    max_duration : float or None
        Refuse segments longer than this, seconds; None: no limit.

    Returns
    -------
    Audio

    Raises
    ------
    BeatwalkError
        Missing, empty, not audio, truncated or corrupt file; a segment outside
        the song; audio shorter than 1 s or longer than ``max_duration``.

    Examples
    --------
    >>> audio = load_audio("song.mp3", start=30, end=60)  # doctest: +SKIP
    >>> audio.samples.shape, audio.sample_rate
    ((661500,), 22050)
    """
    # 1. Check the file and the segment before spending a process on them.
    path = Path(path)
    name = path.name
    if not path.exists():
        raise BeatwalkError(f"song file not found: {path}")
    if not path.is_file():
        raise BeatwalkError(f"song path is not a file: {path}")
    if path.stat().st_size == 0:
        raise BeatwalkError(f"song file is empty: {name}")
    start = _check_segment(start, end, max_duration)

    # 2. Decode; read at most just past the limit so a 3-hour file costs little.
    length = None if end is None else end - start
    if length is None and max_duration is not None:
        length = max_duration + 1.0
    samples, channels, log = _decode(path, start=start, length=length, sr=sr)
    song_duration = _header_duration(log)
    source_rate = _source_sample_rate(log)

    # 3. Refuse what did not decode into the segment asked for.
    duration = len(samples) / sr
    if duration == 0.0:
        if start > 0.0 and song_duration is not None:
            raise BeatwalkError(
                f"start {start:g} s is past the end of the song ({song_duration:.1f} s): {name}"
            )
        if "[error]" in log:
            raise BeatwalkError(f"song file is corrupt: nothing in {name} could be decoded")
        raise BeatwalkError(f"song contains no audio (0 s): {name}")
    if max_duration is not None and duration > max_duration:
        total = f"{song_duration:.0f} s" if song_duration is not None else f"over {max_duration:g} s"
        raise BeatwalkError(
            f"song is too long: {total} (the limit is {max_duration:g} s; pick a segment with start/end)"
        )
    if end is not None and duration < (end - start) - 0.05:
        raise BeatwalkError(f"end {end:g} s is past the end of the song ({start + duration:.1f} s): {name}")
    # A duration ffmpeg estimated from the bitrate (VBR mp3 without a header, some
    # WAVs) is a guess, not a promise, and cannot show a truncation.
    known = song_duration is not None and "Estimating duration from bitrate" not in log
    expected = song_duration - start if end is None and known else None
    if expected is not None and duration < expected * (1.0 - _TRUNCATION_TOLERANCE) - 0.5:
        raise BeatwalkError(
            f"song file is truncated or corrupt: {name} says {song_duration:.1f} s "
            f"but only {start + duration:.1f} s decode"
        )
    # An Ogg file's duration comes from its last page, so a cut-off one looks whole to ffmpeg; what
    # shows the cut is that its last page is incomplete or does not end the stream.
    if end is None and _ogg_cut_off(path):
        raise BeatwalkError(
            f"song file is truncated or corrupt: {name} ends before its last Ogg page "
            f"(only {start + duration:.1f} s decode)"
        )
    if not np.isfinite(samples).all():  # float WAVs can carry NaN or infinity
        raise BeatwalkError(f"song file is corrupt: {name} holds samples that are not numbers")
    if duration < MIN_DURATION:
        raise BeatwalkError(
            f"song is too short: {duration:.2f} s (at least {MIN_DURATION:g} s needed): {name}"
        )

    return Audio(
        samples=samples,
        sample_rate=sr,
        duration=duration,
        path=str(path),
        start=start,
        end=start + duration,
        source_sample_rate=source_rate or sr,
        source_channels=channels,
    )


def _check_segment(start: float | None, end: float | None, max_duration: float | None) -> float:
    """Validate the requested segment; returns the start in seconds (0 for None)."""
    start = 0.0 if start is None else float(start)
    if not np.isfinite(start) or start < 0:
        raise BeatwalkError(f"start must be a time in seconds >= 0, got {start:g}")
    if end is not None:
        end = float(end)
        if not np.isfinite(end) or end <= start:
            raise BeatwalkError(f"end ({end:g} s) must be after start ({start:g} s)")
        if end - start < MIN_DURATION:
            raise BeatwalkError(
                f"segment is too short: {end - start:.2f} s (at least {MIN_DURATION:g} s needed)"
            )
        if max_duration is not None and end - start > max_duration:
            raise BeatwalkError(f"segment is too long: {end - start:g} s (the limit is {max_duration:g} s)")
    return start


def _decode(path: Path, *, start: float, length: float | None, sr: int) -> tuple[np.ndarray, int, str]:
    """Run ffmpeg; returns (mono samples, source channel count, ffmpeg's log)."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"]
    if start > 0:
        command += ["-ss", f"{start:.6f}"]
    command += input_args(path)
    if length is not None:
        command += ["-t", f"{length:.6f}"]
    # Channels are kept as they are and averaged here: ffmpeg's own downmix
    # scales stereo by 1/sqrt(2) per channel, which changes the level.
    command += ["-map", "0:a:0", "-vn", "-ar", str(sr), "-c:a", "pcm_f32le", "-f", "wav", "-"]
    with tempfile.TemporaryFile() as log_file:
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file)
        except OSError as exc:
            raise BeatwalkError(f"could not run ffmpeg: {exc}") from None
        try:
            with process.stdout:
                try:
                    samples, channels = _read_wav_stream(process.stdout)
                    failure = None
                except ValueError as exc:
                    failure = exc
                    while process.stdout.read(_READ_BYTES):  # ffmpeg finishes, so its own error comes first
                        pass
        except BaseException:  # a Ctrl-C, no memory: ffmpeg does not outlive the decode
            process.kill()
            process.wait()
            raise
        process.wait()
        log_file.seek(0)
        log = log_file.read().decode("utf-8", errors="replace")
    if process.returncode != 0:
        raise BeatwalkError(_failure_line(log, path.name))
    if failure is not None:
        raise BeatwalkError(f"could not decode {path.name}: {failure}")
    return samples, channels, log


_READ_BYTES = 1 << 20


def _read_wav_stream(stream) -> tuple[np.ndarray, int]:
    """Read the float WAV ffmpeg writes to a pipe (its size fields are unknown) as it comes, a
    mebibyte at a time, each piece averaged to mono at once: the interleaved channels of a long
    song never exist whole (nor do copies of them).

    Returns the mono float32 samples and the channel count.
    """
    head = b""
    while (layout := _wav_layout(head)) is None:
        more = stream.read(_READ_BYTES)
        if not more:
            _wav_layout(head, complete=True)  # raises: what the stream lacks
        head += more
    channels, body = layout
    frame_bytes = 4 * channels
    parts, rest = [], head[body:]
    while True:
        more = stream.read(_READ_BYTES)
        data = rest + more
        usable = len(data) - len(data) % frame_bytes
        if usable:
            interleaved = np.frombuffer(data, dtype="<f4", count=usable // 4)
            parts.append(interleaved.reshape(-1, channels).mean(axis=1, dtype=np.float32))
        rest = data[usable:]
        if not more:
            break
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32), channels


def _wav_layout(data: bytes, *, complete: bool = False) -> tuple[int, int] | None:
    """(channel count, where the samples start) of a WAV stream's first bytes; None while they do
    not reach the data chunk yet (``complete``: they never will, which raises)."""
    if len(data) < 12:
        if complete:
            raise ValueError("ffmpeg wrote no WAV stream")
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("ffmpeg wrote no WAV stream")
    position, channels = 12, None
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        body = position + 8
        if chunk == b"fmt ":
            if body + 4 > len(data):
                break
            channels = struct.unpack("<H", data[body + 2 : body + 4])[0]
        elif chunk == b"data":
            if not channels:
                raise ValueError("WAV stream has no format chunk")
            return channels, body
        position = body + size + (size & 1)
    if complete:
        raise ValueError("WAV stream has no data")
    return None


def _ogg_cut_off(path: Path) -> bool:
    """Whether ``path`` is an Ogg file (Vorbis, Opus, FLAC in Ogg) whose last page is cut short or
    lacks the end-of-stream flag that an encoder sets on every stream's last page (RFC 3533)."""
    with path.open("rb") as file:
        if file.read(4) != b"OggS":
            return False
        size = file.seek(0, 2)
        file.seek(max(0, size - _OGG_MAX_PAGE))
        tail = file.read()
    at = tail.rfind(b"OggS\x00")
    if at < 0 or len(tail) - at < 27:
        return True
    segments = tail[at + 27 : at + 27 + tail[at + 26]]
    page_end = at + 27 + tail[at + 26] + sum(segments)
    return page_end > len(tail) or not tail[at + 5] & 0x04


def _failure_line(log: str, name: str) -> str:
    """One plain line for a failed ffmpeg run."""
    if "matches no streams" in log:
        return f"no audio stream in {name}"
    if "moov atom not found" in log:
        return f"song file is truncated or corrupt (no index): {name}"
    if "Input #0" not in log:  # ffmpeg recognised no container or stream in it at all
        return f"not an audio file (or corrupt): {name}"
    errors = [line for line in log.splitlines() if "[error]" in line or "[fatal]" in line]
    detail = errors[-1].rsplit("] ", 1)[-1].strip() if errors else "unknown error"
    return f"could not decode {name}: {detail}"


def _header_duration(log: str) -> float | None:
    """The input's duration from ffmpeg's log, seconds; None when it does not know."""
    match = _DURATION.search(log)
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _source_sample_rate(log: str) -> int | None:
    """The input audio stream's sample rate from ffmpeg's log, Hz."""
    input_log = log.split("Output #0")[0]
    match = _AUDIO_STREAM.search(input_log)
    return int(match.group(1)) if match else None
