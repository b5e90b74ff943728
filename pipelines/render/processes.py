"""A CPU render in several processes: the job's chunks shared out among forked copies of this one.

On a CPU a diffusion model's small convolutions keep one core busy better than they split over
several: on two cores, two processes of one torch thread each render 1.7–1.9 times as fast as one
process of one thread, and about 1.5 times as fast as one of two threads (``benchmarks/RESULTS.md``,
issue 22). So a CPU render forks one worker per core
after the pipeline and the keyframes' conditioning are made (the copies share their memory until
written), each with its share of the torch threads, and hands them whole chunks. A worker writes
its chunk's partial file into the job folder itself; this process, which owns the job, finishes
each chunk in the manifest as its worker reports it done, so a kill at any moment leaves a job that
resumes as a single-process one does. Each chunk is denoised in the same batches as in one
process, so the frames are the same (on one thread per process, byte for byte; against a process
of several threads, up to float rounding).

Workers are forked, never spawned (no second import, no model loaded again), and only from a
process that runs no other thread: forking a threaded process (a web server's) can copy a lock
that another thread holds. Elsewhere, and for the feedback renderer (whose chunks are a chain, each
starting from the last frame of the one before), a render stays in one process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator

from pipelines.errors import BeatwalkError

STOP_SECONDS = 10.0
"""How long the workers have to leave their chunks (each at its next batch) after a stop."""


def render_processes(requested: int | None = None) -> int:
    """How many processes render a CPU job: ``requested`` (the CLI's ``--processes``: the caller
    vouches that forking is safe), else ``BEATWALK_RENDER_PROCESSES`` or one per core this process
    may run on, where forking is safe (this process runs no other thread); 1 where it is not, or
    where it is impossible (no ``fork`` on this platform)."""
    vouched = requested is not None
    if requested is None:
        configured = os.environ.get("BEATWALK_RENDER_PROCESSES", "").strip()
        try:
            requested = int(configured) if configured else None
        except ValueError:
            raise BeatwalkError(f"BEATWALK_RENDER_PROCESSES must be a number of processes, got {configured!r}") from None
    if requested is not None and requested < 1:
        raise BeatwalkError(f"a render needs at least 1 process, got {requested}")
    if requested is None:
        requested = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if "fork" not in multiprocessing.get_all_start_methods() or (threading.active_count() > 1 and not vouched):
        return 1
    return requested


def render_in_processes(
    job, write: Callable, *, processes: int, should_stop: Callable[[], bool] | None = None
) -> Iterator[tuple[int | None, object]]:
    """Render ``job``'s pending chunks in forked workers: ``processes`` of them (fewer when fewer
    chunks are left), each with the torch threads of this process shared out among ``processes``.
    So every chunk of a job is rendered with the same number of threads, whatever is left of it
    on a resume, and its frames are the same.

    ``write(chunk, path)`` renders a chunk into ``path``, yielding ``(frames written, frame)`` after
    each batch (:func:`pipelines.render.runner.write_chunk` of the render's chunk source, made
    before the fork). Yields ``(frames done, latest frame)`` after every batch of any worker, and
    ``(None, None)`` after a stop (the chunks under way are dropped, their files deleted by their
    workers before this returns).
    """
    import torch

    pending = {chunk.index: chunk for chunk in job.pending}
    context = multiprocessing.get_context("fork")
    tasks, results, stop = context.SimpleQueue(), context.Queue(), context.Event()
    threads = max(1, torch.get_num_threads() // processes)
    count = min(processes, len(pending))
    for chunk in pending.values():
        tasks.put((chunk.index, chunk.start, chunk.stop, str(job.partial_path(chunk))))
    for _ in range(count):
        tasks.put(None)
    workers = [
        context.Process(target=_work, args=(tasks, results, stop, write, threads), daemon=True)
        for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    running: dict[int, int] = {}
    try:
        while pending:
            if should_stop is not None and should_stop():
                _stop(workers, stop, results, job, pending)
                yield None, None
                return
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:  # killed (out of memory, a signal): its chunk would never come
                raise BeatwalkError(f"a render process died (exit code {dead[0]}): {len(pending)} chunks were not rendered")
            try:
                kind, index, *item = results.get(timeout=0.5)
            except queue.Empty:
                continue
            chunk = pending[index]
            if kind == "batch":
                running[index] = item[0]
                yield job.frames_done + sum(running.values()), item[1]
            elif kind == "chunk":
                running.pop(index, None)
                job.finish(pending.pop(index))
                yield job.frames_done + sum(running.values()), item[0]
            else:
                raise BeatwalkError(f"chunk {index + 1} (frames {chunk.start}–{chunk.stop - 1}): {item[0]}")
    finally:  # an error, a Ctrl-C, a closed generator: the workers go, what they finished stays
        _stop(workers, stop, results, job, pending)
        results.close()
        results.join_thread()


def _stop(workers, stop, results, job, pending: dict) -> None:
    """Stop the workers (each at its next batch, deleting its unfinished file) and wait for them,
    reading what they still send (a worker cannot end while its messages wait in the pipe): a
    chunk reported done is finished in the job, so no finished work is lost."""
    stop.set()
    deadline = time.monotonic() + STOP_SECONDS
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty, OSError, ValueError):
            kind, index, *_ = results.get(timeout=0.02)
            if kind == "chunk" and index in pending:
                with contextlib.suppress(BeatwalkError):  # a full disk: the chunk is rendered again on resume
                    job.finish(pending.pop(index))
    for worker in workers:
        if worker.is_alive():
            worker.kill()
        worker.join()


def _work(tasks, results, stop, write: Callable, threads: int) -> None:
    """A worker: chunks from ``tasks`` until a ``None`` or a stop, each written to its partial file."""
    from pathlib import Path

    import torch

    from pipelines.render.jobs import Chunk

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    torch.set_num_threads(threads)
    while not stop.is_set() and (task := tasks.get()) is not None:
        index, start, end, partial = task
        chunk = Chunk(index, start, end)
        try:
            writer = write(chunk, Path(partial))
            frame = None
            with contextlib.closing(writer):  # closed early (a stop), the unfinished file is deleted
                for done, frame in writer:
                    if stop.is_set():
                        return
                    results.put(("batch", index, done, frame))
            results.put(("chunk", index, frame))
        except Exception as exc:  # the parent ends the render with this chunk's one line
            message = str(exc) if isinstance(exc, BeatwalkError) else f"{type(exc).__name__}: {exc}"
            results.put(("failed", index, message.splitlines()[0] if message else type(exc).__name__))
            return
