"""A render farm on Ray: one video's chunks spread over many GPUs (or CPU cores) and machines.

The job stays the driver's (the process that renders, see :mod:`pipelines.render.jobs`): it owns the
job folder, hands out pending chunks to workers, writes each finished chunk it gets back (as encoded
H.264 bytes, so workers need no shared filesystem), marks it done in the manifest, and joins the
video as a single-process render does. Each worker is a Ray actor (:class:`ChunkWorker`) that loads
the pipeline once and renders whole chunks with the code a single-process render runs
(:func:`~pipelines.render.runner.chunk_source`, :func:`~pipelines.render.runner.write_chunk`), so a
chunk's frames are the same wherever it is rendered (on the same kind of device, with the same
number of threads on a CPU): a job started in one process can be finished by a farm, and back.

Faults: Ray restarts a worker whose process dies (killed, out of memory, node lost) and the driver
gives its chunk to the next free worker; a chunk that loses its worker :data:`MAX_CHUNK_TRIES`
times, or that fails with an error of the walk's own, ends the render with that chunk's error, and
the finished chunks stay for a resume. A stop cancels the chunks under way (each worker stops at its
next batch) and keeps the finished ones.

    >>> with Farm(workers=2) as farm:
    ...     render_project(project, "clip.mp4", farm=farm)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import BeatwalkError

MAX_CHUNK_TRIES = 3
"""A chunk is given to a worker at most this many times (lost workers and failures together)."""
MAX_WORKER_RESTARTS = 3
"""Ray restarts a dead worker this many times; after that the farm goes on without it."""
CONNECT_SECONDS = 5.0
"""How long a ``--ray ADDRESS`` has to answer."""
OBJECT_STORE_BYTES = 1 << 30
"""The object store of a local cluster (finished chunks pass through it): ``BEATWALK_FARM_STORE_MB``."""


@dataclass
class ChunkContext:
    """What a worker needs to render any chunk of one job: sent once per render (``ray.put``)."""

    key: str
    project: object  # Project; its init images' paths are replaced by ``images`` on the worker
    plan: object  # FramePlan
    camera: object  # CameraPath
    images: dict[str, bytes] = field(default_factory=dict)
    """The keyframes' init images by their path on the driver: workers may not see its disk."""


class ChunkWorker:
    """A Ray actor: one pipeline, loaded once, rendering whole chunks (see :func:`render`)."""

    def __init__(self, threads: int | None = None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self._pipe, self._pipe_key = None, None
        self._context_key, self._frames_of, self._images_dir = None, None, None

    def hello(self) -> dict:
        """Where this worker runs: pid, host, device."""
        import torch

        device = f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
        return {"pid": os.getpid(), "host": socket.gethostname(), "device": device, "threads": torch.get_num_threads()}

    def load(self, model: str, dtype: str, fast_decoder: bool) -> dict:
        """Load the pipeline (kept while the same model is asked for)."""
        key = (model, dtype, fast_decoder)
        if key != self._pipe_key:
            from pipelines.diffusion.models import load_pipeline

            self._pipe, self._pipe_key = None, None
            self._context_key, self._frames_of = None, None
            self._pipe, self._pipe_key = load_pipeline(model, dtype=dtype, fast_decoder=fast_decoder), key
        return self.hello()

    def render(self, context: ChunkContext, index: int, start: int, stop: int, previous):
        """Render frames ``start`` to ``stop - 1``: yields ``("batch", frames done, latest frame)`` after
        every batch, then ``("chunk", the chunk's mp4 bytes, its last frame)``. Cancelled (a stop), it
        ends at the next batch with nothing."""
        import ray

        from pipelines.render.jobs import Chunk
        from pipelines.render.runner import write_chunk

        render = context.project.render
        self.load(render.model, render.dtype, render.fast_decoder)  # again after a restart
        frames_of = self._prepare(context)
        chunk = Chunk(index, start, stop)
        runtime = ray.get_runtime_context()
        with tempfile.TemporaryDirectory(prefix="beatwalk-chunk-") as folder:
            path = Path(folder) / chunk.name
            writer = write_chunk(frames_of(chunk, previous), path, chunk, render, context.plan.fps)
            with contextlib.closing(writer):
                for done, frame in writer:
                    if runtime.is_canceled():
                        return
                    if done < stop - start:
                        yield "batch", done, frame
            yield "chunk", path.read_bytes(), frame

    def _prepare(self, context: ChunkContext):
        """The chunk source of this job: prompts encoded and seed noises drawn once per render."""
        if context.key == self._context_key:
            return self._frames_of
        from pipelines.diffusion.conditioning import KeyframeConditioning
        from pipelines.render.runner import chunk_source

        project = context.project
        if context.images:
            self._images_dir = tempfile.TemporaryDirectory(prefix="beatwalk-init-")
            local = {}
            for number, (original, data) in enumerate(context.images.items()):
                local[original] = Path(self._images_dir.name) / f"{number}{Path(original).suffix}"
                local[original].write_bytes(data)
            keyframes = [
                k.model_copy(update={"init_image": str(local[k.init_image])}) if k.init_image else k
                for k in project.keyframes
            ]
            project = project.model_copy(update={"keyframes": keyframes})
        conditioning = KeyframeConditioning(self._pipe, project.keyframes, project.render)
        self._frames_of = chunk_source(project, conditioning, context.plan, context.camera)
        self._context_key = context.key
        return self._frames_of


@dataclass
class _Worker:
    actor: object
    name: str
    deaths: int = 0


@dataclass
class _Running:
    worker: _Worker
    chunk: object
    done: int = 0


class Farm:
    """Ray workers that render chunks: a local cluster of ``workers``, or those of the cluster at
    ``address`` (``host:port`` of its head, or ``"auto"`` on one of its nodes).

    Parameters
    ----------
    workers : int or None
        How many workers (one per GPU; on a machine without GPUs, CPU workers). Default: every GPU of
        the cluster, or one CPU worker per core.
    address : str or None
        A running Ray cluster to join (``ray start --head`` started it); default: start a local one,
        shut down with the farm.
    device : "cuda", "cpu" or None
        What the workers render on; default the GPUs if the cluster has any.
    threads : int or None
        Torch threads of a CPU worker; default the cores shared out among the workers.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        device: str | None = None,
        threads: int | None = None,
    ):
        if workers is not None and workers < 1:
            raise BeatwalkError(f"a farm needs at least 1 worker, got {workers}")
        if device not in (None, "cuda", "cpu"):
            raise BeatwalkError(f"a farm's workers render on 'cuda' or 'cpu', got {device!r}")
        self.requested, self.address, self.device, self.threads = workers, address, device, threads
        self.workers: list[_Worker] = []
        self._owns_ray = False
        self._loaded = None
        self.driver_seconds: list[float] = []
        """Per chunk received: the driver's time to fetch its bytes and finish it in the job."""

    # -- the cluster -------------------------------------------------------------------------
    def __enter__(self) -> Farm:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Farm:
        """Start (or join) the cluster and its workers."""
        if self.workers:
            return self
        ray = _ray()
        if not ray.is_initialized():
            self._init(ray)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        device = self.device or ("cuda" if gpus else "cpu")
        where = "this machine" if self.address is None else "the cluster"
        if device == "cuda":
            count = self.requested or gpus
            if count > gpus:
                self.close()
                flag = f"--workers {gpus}" if gpus else "CPU workers (no GPU)"
                raise BeatwalkError(f"{count} GPU workers asked for, but {where} has {gpus} GPUs: use {flag}")
            options = {"num_gpus": 1, "num_cpus": 1}
            threads = None
        else:
            count = self.requested or cpus
            if count > cpus:
                self.close()
                raise BeatwalkError(f"{count} CPU workers asked for, but {where} has {cpus} CPU cores: use --workers {cpus} or fewer")
            threads = self.threads or max(1, cpus // count)
            options = {"num_cpus": threads}
        remote = ray.remote(max_restarts=MAX_WORKER_RESTARTS, max_task_retries=0, **options)(ChunkWorker)
        self.workers = [_Worker(remote.remote(threads), f"worker {n + 1}") for n in range(count)]
        self.device = device
        return self

    def _init(self, ray) -> None:
        options = dict(
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            # The workers import this very package: shipped to the cluster (its other requirements must be installed there).
            runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1])]},
        )
        if self.address is not None:
            _check_answers(self.address)
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise BeatwalkError(f"cannot join the Ray cluster at {self.address}: {_first_line(exc)}") from None
        else:
            import torch

            store = int(os.environ.get("BEATWALK_FARM_STORE_MB", 0)) * (1 << 20) or OBJECT_STORE_BYTES
            try:
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    num_gpus=torch.cuda.device_count(),
                    object_store_memory=store,
                    **options,
                )
            except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
                raise BeatwalkError(f"cannot start a local Ray cluster: {_first_line(exc)}") from None
        self._owns_ray = True

    def close(self) -> None:
        """Stop the workers (and the local cluster this farm started)."""
        ray = _ray()
        for worker in self.workers:
            with contextlib.suppress(Exception):
                ray.kill(worker.actor, no_restart=True)
        self.workers, self._loaded = [], None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def describe(self) -> list[dict]:
        """Each worker's pid, host and device (asks them)."""
        ray = _ray()
        answers = []
        for worker in self.start().workers:
            deadline = time.monotonic() + 60
            while True:
                try:
                    answers.append(ray.get(worker.actor.hello.remote()))
                    break
                except ray.exceptions.ActorUnavailableError:  # restarting
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        return answers

    # -- rendering ---------------------------------------------------------------------------
    def load(self, model: str, *, dtype: str = "auto", fast_decoder: bool = False) -> None:
        """Load the model on every worker (once per model): a model that cannot load is one line."""
        ray = _ray()
        self.start()
        key = (model, dtype, fast_decoder)
        if key == self._loaded:
            return
        calls = [worker.actor.load.remote(model, dtype, fast_decoder) for worker in self.workers]
        try:
            ray.get(calls)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            reason = str(cause) if isinstance(cause, BeatwalkError) else f"{type(cause).__name__}: {_first_line(cause)}"
            raise BeatwalkError(f"a worker cannot load the model {model}: {reason}") from None
        except ray.exceptions.RayActorError as exc:
            raise BeatwalkError(f"a worker died loading the model {model}: {_first_line(exc)}") from None
        self._loaded = key

    def render_chunks(
        self, job, project, plan, camera, *, should_stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[int | None, object]]:
        """Render ``job``'s pending chunks on the workers, finishing each in the job as it comes back.

        Yields ``(frames done, latest frame)`` after every batch of any worker (the finished chunks
        and the batches under way), and ``(None, None)`` after a stop. A feedback job's chunks run
        one after another (each starts from the last frame of the one before).
        """
        from pipelines.render.jobs import project_hash

        ray = _ray()
        self.start()
        images = {}
        for keyframe in project.keyframes:
            if keyframe.init_image and keyframe.init_image not in images:
                try:
                    images[keyframe.init_image] = Path(keyframe.init_image).expanduser().read_bytes()
                except OSError:
                    raise BeatwalkError(f"init image {keyframe.init_image} cannot be read") from None
        context = ray.put(ChunkContext(f"{project_hash(project)}-{job.plan_hash}", project, plan, camera, images))
        chained = project.render.renderer == "feedback"
        queue, tries = deque(job.pending), {}
        idle, running, waking = list(self.workers), {}, {}
        try:
            while queue or running:
                if should_stop is not None and should_stop():
                    self._cancel(running)
                    yield None, None
                    return
                while idle and queue and not (chained and running):
                    chunk, worker = queue.popleft(), idle.pop(0)
                    previous = job.last_frame(job.chunks[chunk.index - 1]) if chained and chunk.index else None
                    call = worker.actor.render.options(num_returns="streaming").remote(
                        context, chunk.index, chunk.start, chunk.stop, previous
                    )
                    running[call] = _Running(worker, chunk)
                if not running and not waking:
                    raise BeatwalkError(f"every worker of the farm died: {len(queue)} chunks were not rendered")
                ready, _ = ray.wait([*running, *waking], num_returns=1, timeout=0.5)
                for call in ready:
                    if call in waking:  # a restarted worker answers: it takes chunks again
                        worker = waking.pop(call)
                        try:
                            ray.get(call)
                            idle.append(worker)
                        except ray.exceptions.ActorUnavailableError:  # still restarting: ask again soon
                            time.sleep(0.2)
                            waking[worker.actor.hello.remote()] = worker
                        except ray.exceptions.RayActorError:  # out of restarts
                            self.workers.remove(worker)
                        continue
                    run = running[call]
                    received = time.perf_counter()
                    try:
                        kind, *item = ray.get(next(call))
                    except StopIteration:  # it ended with nothing: cancelled there, rendered again here
                        kind, item = "lost", ["the worker ended the chunk early"]
                    except ray.exceptions.RayTaskError as exc:
                        kind, item = "failed", [exc.cause]
                    except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
                        kind, item = "lost", [_first_line(exc)]
                    if kind == "batch":
                        run.done = item[0]
                        yield job.frames_done + sum(r.done for r in running.values()), item[1]
                        continue
                    del running[call]
                    chunk = run.chunk
                    if kind == "chunk":
                        data, last = item
                        self._finish(job, chunk, data, last if chained else None)
                        self.driver_seconds.append(time.perf_counter() - received)
                        idle.append(run.worker)
                        yield job.frames_done + sum(r.done for r in running.values()), last
                        continue
                    tries[chunk.index] = tries.get(chunk.index, 0) + 1
                    span = f"chunk {chunk.index + 1} (frames {chunk.start}–{chunk.stop - 1})"
                    if kind == "failed":
                        cause = item[0]
                        if isinstance(cause, BeatwalkError):  # the walk's own refusal: the same anywhere
                            raise BeatwalkError(f"{span}: {cause}") from None
                        if tries[chunk.index] >= MAX_CHUNK_TRIES:
                            raise BeatwalkError(
                                f"{span} failed {tries[chunk.index]} times: {type(cause).__name__}: {_first_line(cause)}"
                            ) from None
                        idle.append(run.worker)  # last in line: another worker takes the chunk
                    else:
                        if tries[chunk.index] >= MAX_CHUNK_TRIES:
                            raise BeatwalkError(
                                f"{span} lost its worker {tries[chunk.index]} times ({item[0]})"
                            ) from None
                        run.worker.deaths += 1
                        if run.worker.deaths <= MAX_WORKER_RESTARTS:  # Ray restarts it: it works again once it answers
                            waking[run.worker.actor.hello.remote()] = run.worker
                        else:
                            self.workers.remove(run.worker)
                    queue.appendleft(chunk)
                    yield job.frames_done + sum(r.done for r in running.values()), None
        finally:
            self._cancel(running)

    def _finish(self, job, chunk, data: bytes, last) -> None:
        path = job.partial_path(chunk)
        try:
            path.write_bytes(data)
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise BeatwalkError(f"cannot write {path}: {exc.strerror}") from None
        if last is not None:
            job.save_last_frame(chunk, last)
        job.finish(chunk)

    def _cancel(self, running: dict) -> None:
        """Cancel the chunks under way: each worker leaves its chunk at its next batch (a render
        after this one queues behind it)."""
        ray = _ray()
        for call in running:
            with contextlib.suppress(Exception):
                ray.cancel(call)
        running.clear()


def _ray():
    try:
        import ray
    except ImportError:
        raise BeatwalkError("the render farm needs Ray: pip install 'ray>=2.40'") from None
    return ray


def _check_answers(address: str) -> None:
    """A ``host:port`` that nothing listens on is one line at once (Ray would wait a minute)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise BeatwalkError(f"a Ray address looks like HOST:PORT (e.g. 10.0.0.5:6379) or 'auto', got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BeatwalkError(f"no Ray cluster answers at {address} ({reason}): start one with `ray start --head`") from None


def _first_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
