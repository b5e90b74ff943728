"""Render jobs on disk: a manifest and finished chunks, so a killed render resumes.

A job folder holds ``manifest.json`` and one video-only mp4 per finished chunk
(``chunk_00000.mp4``, …). A chunk is written under a ``.partial.mp4`` name and
renamed when complete; it counts as finished only once the manifest, itself
replaced atomically, says so. Whatever moment a render is killed at, the folder
therefore holds finished chunks the manifest vouches for, plus at most one
partial file that resuming discards.

The manifest records what the chunks are frames of (hashes of the project and
of the frame plan), so a render resumes only the very job it started.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import BeatwalkError

MANIFEST = "manifest.json"
JOB_VERSION = 1
CHUNK_SECONDS = 4.0
"""Default chunk length, seconds of video: the most a kill can lose."""


@dataclass
class Chunk:
    """Frames ``start`` to ``stop - 1`` of the video, and whether their file is finished."""

    index: int
    start: int
    stop: int
    done: bool = False
    size: int | None = None
    """Bytes of the finished file, checked on resume."""

    @property
    def name(self) -> str:
        return f"chunk_{self.index:05d}.mp4"

    @property
    def partial_name(self) -> str:
        return f"chunk_{self.index:05d}.partial.mp4"

    @property
    def last_frame_name(self) -> str:
        return f"chunk_{self.index:05d}.last.npy"


class OtherJobError(BeatwalkError):
    """The unfinished job asked to be resumed renders another project or frame plan."""


class RenderJob:
    """The chunks of one render and their state, kept in ``workdir/manifest.json``.

    Use :meth:`start` to create a job or pick up an unfinished one.
    """

    def __init__(
        self, workdir: Path, *, project_hash: str, plan_hash: str, n_frames: int, chunk_frames: int, chunks,
        batch_size: int | None = None, encoder: str | None = None,
    ):  # fmt: skip
        self.workdir = Path(workdir)
        self.project_hash = project_hash
        self.plan_hash = plan_hash
        self.n_frames = n_frames
        self.chunk_frames = chunk_frames
        self.chunks: list[Chunk] = chunks
        self.batch_size = batch_size
        """The batch size the job renders with (a project's ``"auto"``, resolved when it started; None in
        a job from before it was recorded): a resumed job keeps it, so its frames are denoised in the
        same batches on any device."""
        self.encoder = encoder
        """The H.264 encoder of its chunks (a project's ``"auto"``, resolved; None in a job from before
        it was recorded, whose chunks are libx264's): a resumed job keeps it, as chunks from two
        encoders cannot be joined without encoding them again."""

    @classmethod
    def start(
        cls,
        workdir: str | Path,
        *,
        project_hash: str,
        plan_hash: str,
        n_frames: int,
        chunk_frames: int,
        resume: bool,
        indexed: bool = False,
        batch_size: int | None = None,
        encoder: str | None = None,
    ) -> RenderJob:
        """Create the job in ``workdir``, or with ``resume`` continue the one there.

        An unfinished job with finished chunks is never overwritten: without
        ``resume`` it is an error, and resuming a job of another project or
        frame plan is one too. A job with nothing finished is replaced. With
        ``resume`` and no job in ``workdir``, a new job starts.

        ``indexed`` (the CLI's jobs, in folders named after their output): the job is noted in
        :func:`jobs_index` by what it renders, and a resume with no job in ``workdir`` (the same
        project rendered to another ``--out``) continues the one noted there.
        """
        workdir = Path(workdir)
        if indexed and resume and not (workdir / MANIFEST).is_file():
            workdir = _indexed_workdir(project_hash, plan_hash) or workdir
        manifest = workdir / MANIFEST
        if manifest.is_file():
            job = cls._load(manifest)
            if not job.frames_done:
                job.remove()  # nothing of it is finished: nothing is lost by starting over
            elif not resume:
                raise BeatwalkError(
                    f"an unfinished render is in {workdir}: "
                    "resume it (--resume) or delete that folder to start over"
                )
            elif job.project_hash != project_hash or job.plan_hash != plan_hash:
                what = "project" if job.project_hash != project_hash else "frame plan (song or its analysis)"
                raise OtherJobError(
                    f"the unfinished render in {workdir} is of a different {what}: "
                    "render without --resume to a new output, or delete that folder"
                )
            else:
                job._verify()
                return job
        chunks = [
            Chunk(index, start, min(start + chunk_frames, n_frames))
            for index, start in enumerate(range(0, n_frames, chunk_frames))
        ]
        job = cls(
            workdir,
            project_hash=project_hash,
            plan_hash=plan_hash,
            n_frames=n_frames,
            chunk_frames=chunk_frames,
            chunks=chunks,
            batch_size=batch_size,
            encoder=encoder,
        )
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BeatwalkError(f"cannot create the render folder {workdir}: {exc.strerror}") from None
        job._save()
        if indexed:
            job._index()
        return job

    @property
    def frames_done(self) -> int:
        return sum(chunk.stop - chunk.start for chunk in self.chunks if chunk.done)

    @property
    def pending(self) -> list[Chunk]:
        return [chunk for chunk in self.chunks if not chunk.done]

    def path(self, chunk: Chunk) -> Path:
        return self.workdir / chunk.name

    def partial_path(self, chunk: Chunk) -> Path:
        return self.workdir / chunk.partial_name

    def finish(self, chunk: Chunk) -> None:
        """Promote the chunk's complete partial file and record it as finished."""
        path = self.path(chunk)
        try:
            os.replace(self.partial_path(chunk), path)
            chunk.size = path.stat().st_size
        except OSError as exc:
            raise BeatwalkError(f"cannot finish {path}: {exc.strerror}") from None
        chunk.done = True
        self._save()

    def save_last_frame(self, chunk: Chunk, frame: np.ndarray) -> None:
        """Keep a chunk's last frame, exactly, before the chunk is finished: the feedback renderer's
        next chunk starts from it."""
        path = self.workdir / chunk.last_frame_name
        _write_atomically(
            path, path.with_name(path.name + ".tmp"), "wb", lambda f: np.save(f, np.ascontiguousarray(frame, np.uint8))
        )

    def last_frame(self, chunk: Chunk) -> np.ndarray:
        """A finished chunk's last frame, as :meth:`save_last_frame` kept it."""
        return np.load(self.workdir / chunk.last_frame_name, allow_pickle=False)

    def keep_chain(self) -> None:
        """For a chain of chunks (each starting from the last frame of the one before): keep finished
        only the chunks up to the first whose last frame is missing or unreadable."""
        intact = True
        for chunk in self.chunks:
            if intact and chunk.done:
                try:
                    frame = self.last_frame(chunk)
                    intact = frame.dtype == np.uint8 and frame.ndim == 3
                except (OSError, ValueError, EOFError):
                    intact = False
            if chunk.done and not intact:
                chunk.done, chunk.size = False, None
            intact = intact and chunk.done
        self._save()

    def remove(self) -> None:
        """Delete the job's own files and its folder (if nothing else is in it)."""
        for chunk in self.chunks:
            for path in (self.path(chunk), self.partial_path(chunk), self.workdir / chunk.last_frame_name):
                path.unlink(missing_ok=True)
        for name in (MANIFEST, MANIFEST + ".tmp"):
            (self.workdir / name).unlink(missing_ok=True)
        entry = _index_entry(self.project_hash, self.plan_hash)
        if _indexed_workdir(self.project_hash, self.plan_hash, check=False) == self.workdir.resolve():
            entry.unlink(missing_ok=True)
        try:
            self.workdir.rmdir()
        except OSError:
            pass

    def _index(self) -> None:
        """Note where this job is, by what it renders (best effort: a resume can do without)."""
        entry = _index_entry(self.project_hash, self.plan_hash)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            entry.write_text(json.dumps({"workdir": str(self.workdir.resolve())}), encoding="utf-8")
        except OSError:
            pass

    def _verify(self) -> None:
        """Forget finished chunks whose file is gone or altered; drop partial files."""
        for chunk in self.chunks:
            self.partial_path(chunk).unlink(missing_ok=True)
            path = self.path(chunk)
            if chunk.done and not (path.is_file() and path.stat().st_size == chunk.size):
                chunk.done, chunk.size = False, None
        self._save()

    def _save(self) -> None:
        data = {
            "version": JOB_VERSION,
            "project_hash": self.project_hash,
            "plan_hash": self.plan_hash,
            "n_frames": self.n_frames,
            "chunk_frames": self.chunk_frames,
            "batch_size": self.batch_size,
            "encoder": self.encoder,
            "chunks": [asdict(chunk) | {"file": chunk.name} for chunk in self.chunks],
        }
        manifest = self.workdir / MANIFEST
        _write_atomically(manifest, manifest.with_suffix(".json.tmp"), "w", lambda f: json.dump(data, f, indent=1))

    @classmethod
    def _load(cls, manifest: Path) -> RenderJob:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data.get("version") != JOB_VERSION:
                raise ValueError(f"version {data.get('version')}")
            chunks = [
                Chunk(c["index"], c["start"], c["stop"], done=c["done"], size=c["size"])
                for c in data["chunks"]
            ]
            return cls(
                manifest.parent,
                project_hash=data["project_hash"],
                plan_hash=data["plan_hash"],
                n_frames=data["n_frames"],
                chunk_frames=data["chunk_frames"],
                chunks=chunks,
                batch_size=data.get("batch_size"),
                encoder=data.get("encoder"),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BeatwalkError(
                f"cannot read the render manifest {manifest} ({exc}): delete its folder to start over"
            ) from None


def _write_atomically(path: Path, temporary: Path, mode: str, write) -> None:
    """``write(file)`` into ``temporary``, synced, then renamed over ``path``: a kill leaves the old
    file or the new one, never half of one. A failure is one line, and the temporary file goes."""
    try:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise BeatwalkError(f"cannot write {path}: {exc.strerror}") from None


def jobs_index() -> Path:
    """Where the CLI's unfinished jobs are noted: ``BEATWALK_JOBS_DIR``, else
    ``$XDG_CACHE_HOME/beatwalk/jobs`` (``~/.cache/beatwalk/jobs``)."""
    configured = os.environ.get("BEATWALK_JOBS_DIR")
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "beatwalk" / "jobs"


def _index_entry(project_hash: str, plan_hash: str) -> Path:
    return jobs_index() / f"{project_hash[:24]}-{plan_hash[:24]}.json"


def _indexed_workdir(project_hash: str, plan_hash: str, *, check: bool = True) -> Path | None:
    """The folder of the noted job that renders this project and plan; None when there is none
    (or, with ``check``, when its manifest is gone)."""
    try:
        workdir = Path(
            json.loads(_index_entry(project_hash, plan_hash).read_text(encoding="utf-8"))["workdir"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return workdir if not check or (workdir / MANIFEST).is_file() else None


def default_chunk_frames(fps: float, batch_size: int) -> int:
    """About :data:`CHUNK_SECONDS` of video, a whole number of batches.

    Chunks start on batch boundaries, so a resumed render denoises exactly the
    same batches as an uninterrupted one.
    """
    return batch_size * max(1, math.ceil(CHUNK_SECONDS * fps / batch_size))


def project_hash(project) -> str:
    """SHA-256 of the project's canonical JSON (how its song was composed left out: the song's file
    is what the frames follow; and the H.264 encoder)."""
    # The encoder is left out too: it is the job's (resolved once, kept on a resume), not the pictures'.
    data = project.model_dump(mode="json", exclude={"audio": {"composition"}, "render": {"encoder"}})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def plan_hash(plan) -> str:
    """SHA-256 of a FramePlan's fps, duration and per-frame arrays."""
    digest = hashlib.sha256(repr((float(plan.fps), float(plan.duration))).encode())
    for name in ("times", "key_a", "key_b", "t", "pulse", "cut"):
        digest.update(np.ascontiguousarray(getattr(plan, name)).tobytes())
    return digest.hexdigest()
