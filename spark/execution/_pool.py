"""Internal: the parent side of the worker-process pool of one syndicate.

Bounded at ``max_workers`` processes started lazily with the ``spawn`` context. A job goes to an
idle worker (preferring one that already holds its recipe), else to a new worker while the pool
may grow, else waits (FIFO). Each worker has a reader thread that blocks on its pipe and hands
decoded frames to the event loop, so the loop never blocks on a worker and a dead worker (EOF)
is noticed at once, busy or idle. A dead worker's job fails with :class:`WorkerDiedError`; the
next job that needs a worker starts a replacement. A reaped worker's pipe and process handles
are closed at once, so a pool whose workers keep dying does not leak file descriptors.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import multiprocessing.util
import pickle
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Final

from spark.core.exceptions import SparkException, SyndicateError
from spark.core.messages import DeliveryResult
from spark.execution._protocol import (
    ANSWER,
    DONE,
    FAILED,
    JOB,
    PROTOCOL,
    REQUEST,
    STOP,
    UNLOAD,
    JobFields,
)
from spark.execution._worker import main as worker_main
from spark.execution.context import Target
from spark.execution.errors import WorkerDiedError, describe_exit

__all__ = ["ProcessPool", "ProcessPoolStatistics", "Recipe", "RequestHandler"]

#: Frames up to this size are written straight from the loop: the worker is idle and reading,
#: and the pipe buffer (64 KiB on Linux) takes them whole. Larger ones go through a thread.
_INLINE_SEND: Final = 16 * 1024
_UNDECODABLE: Final = -1

#: Serves a worker's tell/reply request: (kind, target, value) -> result.
RequestHandler = Callable[[int, Target, Any], Awaitable[DeliveryResult]]


@dataclass(frozen=True, slots=True)
class ProcessPoolStatistics:
    """A snapshot of the worker-process pool (``ProcessBackend.statistics()``)."""

    max_workers: int
    workers: int
    busy: int
    idle: int
    waiting: int
    started: int
    died: int
    pids: tuple[int, ...]


class Recipe:
    """An actor class + arguments, pickled once; the key workers cache its instance under."""

    __slots__ = ("data", "key", "users", "validated")

    def __init__(self, key: int, data: bytes) -> None:
        self.key = key
        self.data = data
        self.users = 0
        self.validated = False


class _Job:
    __slots__ = ("future", "id", "on_request", "recipe")

    def __init__(
        self, job_id: int, future: asyncio.Future[Any], recipe: Recipe, on_request: RequestHandler
    ) -> None:
        self.id = job_id
        self.future = future
        self.recipe = recipe
        self.on_request = on_request


class _Worker:
    __slots__ = (
        "conn",
        "dead",
        "exited",
        "job",
        "loaded",
        "pid",
        "process",
        "reader",
        "retired",
        "sending",
        "spoke",
        "unload_pending",
    )

    def __init__(
        self, process: BaseProcess, conn: Connection, exited: asyncio.Future[None]
    ) -> None:
        self.process = process
        self.conn = conn
        self.pid: int = process.pid or 0
        self.exited = exited
        self.job: _Job | None = None
        self.loaded: set[int] = set()
        self.unload_pending: set[int] = set()
        self.dead = False
        self.retired = False
        self.spoke = False  # has it ever sent a frame (i.e. did it finish starting)?
        self.sending = 0  # large frames being written by an executor thread
        self.reader: threading.Thread | None = None


class ProcessPool:
    """Worker processes of one syndicate. Lives on one event loop; not thread-safe."""

    def __init__(
        self, *, max_workers: int, loop: asyncio.AbstractEventLoop, logger: logging.Logger
    ) -> None:
        self.max_workers = max_workers
        self._loop = loop
        self._logger = logger
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._idle: list[_Worker] = []
        self._waiters: deque[asyncio.Future[_Worker | None]] = deque()
        self._recipes: dict[bytes, Recipe] = {}
        self._recipe_keys = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._started = 0
        self._died = 0
        # Shared with the exit-time safety net below; never holds the pool itself.
        self._everyone: list[_Worker] = []
        multiprocessing.util.Finalize(
            self, _emergency_stop, args=(self._everyone,), exitpriority=10
        )

    # -- recipes -----------------------------------------------------------------------

    def register(self, data: bytes) -> Recipe:
        """The recipe for ``data`` (shared by every actor built from the same class and args)."""
        recipe = self._recipes.get(data)
        if recipe is None:
            recipe = self._recipes[data] = Recipe(next(self._recipe_keys), data)
        recipe.users += 1
        return recipe

    def release(self, recipe: Recipe) -> None:
        """One user of ``recipe`` is gone; the last one makes workers drop the instance."""
        recipe.users -= 1
        if recipe.users > 0 or self._recipes.get(recipe.data) is not recipe:
            return
        del self._recipes[recipe.data]
        for worker in self._workers:
            if recipe.key in worker.loaded:
                worker.loaded.discard(recipe.key)
                if worker.job is None:
                    self._send_small(worker, (UNLOAD, recipe.key))
                else:
                    worker.unload_pending.add(recipe.key)

    async def ensure_loaded(
        self, recipe: Recipe, fields: JobFields, on_request: RequestHandler
    ) -> None:
        """Build the recipe's instance in a worker once, so a bad recipe fails at create time."""
        if not recipe.validated:
            await self.run(recipe, None, fields, on_request)
            recipe.validated = True

    # -- running jobs --------------------------------------------------------------------

    async def run(
        self,
        recipe: Recipe,
        payload: bytes | None,
        fields: JobFields,
        on_request: RequestHandler,
    ) -> Any:
        """Run one message (``payload``; ``None`` only builds the instance) in a worker."""
        worker = await self._acquire(recipe)
        job = _Job(next(self._job_ids), self._loop.create_future(), recipe, on_request)
        worker.job = job
        try:
            data = None if recipe.key in worker.loaded else recipe.data
            worker.loaded.add(recipe.key)
            frame = pickle.dumps((JOB, job.id, recipe.key, data, payload, fields), PROTOCOL)
            await self._send(worker, frame)
            return await job.future
        except asyncio.CancelledError:
            if worker.job is job and not worker.dead:
                # Nobody waits for this work any more and a process cannot be interrupted.
                self._retire(worker)
            raise
        finally:
            if worker.job is job:
                worker.job = None
            if job.future.done():
                if not job.future.cancelled():
                    job.future.exception()  # retrieved: the caller got it (or stopped caring)
            else:
                job.future.cancel()
            self._release(worker)

    async def _acquire(self, recipe: Recipe) -> _Worker:
        while True:
            if self._closed:
                raise SyndicateError("the worker-process pool is closed (syndicate shut down)")
            worker = self._take_idle(recipe)
            if worker is not None:
                return worker
            if len(self._workers) < self.max_workers:
                return self._spawn()
            waiter: asyncio.Future[_Worker | None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                worker = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    handed = waiter.result()
                    if handed is not None:
                        self._release(handed)
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
            if worker is not None:
                return worker

    def _take_idle(self, recipe: Recipe) -> _Worker | None:
        idle = self._idle
        if not idle:
            return None
        for index in range(len(idle) - 1, -1, -1):
            if recipe.key in idle[index].loaded:
                return idle.pop(index)
        return idle.pop()  # most recently used: keeps the hot workers busy, the rest cold

    def _release(self, worker: _Worker) -> None:
        if self._closed:
            return
        if worker.dead:
            self._wake_waiter(None)  # its slot is free: a waiter may start a replacement
            return
        pending, worker.unload_pending = worker.unload_pending, set()
        if not all(self._send_small(worker, (UNLOAD, key)) for key in pending):
            self._wake_waiter(None)  # the pipe broke: the worker is gone
            return
        if not self._wake_waiter(worker):
            self._idle.append(worker)

    def _wake_waiter(self, worker: _Worker | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return True
        return False

    # -- processes -----------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(child_end,), name="spark-worker", daemon=False
        )
        try:
            process.start()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        worker = _Worker(process, parent_end, self._loop.create_future())
        self._workers.append(worker)
        self._everyone.append(worker)
        self._started += 1
        worker.reader = threading.Thread(
            target=_read_frames,
            args=(worker, self._loop, self._on_frame, self._on_exit),
            name=f"spark-worker-{worker.pid}-reader",
            daemon=True,
        )
        worker.reader.start()
        return worker

    def _retire(self, worker: _Worker) -> None:
        """Kill ``worker`` on purpose (its job was abandoned); its reader reaps it."""
        worker.retired = True
        self._forget(worker)
        worker.process.kill()

    def _forget(self, worker: _Worker) -> None:
        worker.dead = True
        if worker in self._workers:
            self._workers.remove(worker)
        if worker in self._idle:
            self._idle.remove(worker)

    async def _send(self, worker: _Worker, frame: bytes) -> None:
        try:
            if len(frame) <= _INLINE_SEND:
                worker.conn.send_bytes(frame)
            else:
                worker.sending += 1
                await self._loop.run_in_executor(None, self._send_off_loop, worker, frame)
        except OSError:
            pass  # the worker is gone: its reader sees EOF and fails the job with the details

    def _send_off_loop(self, worker: _Worker, frame: bytes) -> None:
        try:
            worker.conn.send_bytes(frame)
        finally:
            # Reported from the thread itself: a cancelled caller stops waiting, the write
            # does not, and the pipe must stay open until it is over.
            try:
                self._loop.call_soon_threadsafe(self._sent, worker)
            except RuntimeError:
                pass  # the loop is closed

    def _sent(self, worker: _Worker) -> None:
        worker.sending -= 1
        if not worker.sending and worker.exited.done():
            self._dispose(worker)

    def _dispose(self, worker: _Worker) -> None:
        """Close what a reaped worker holds (its pipe, its process handle)."""
        if worker.sending:
            return  # closing the pipe under a write could hand its fd number to a new pipe
        worker.conn.close()
        try:
            worker.process.close()
        except ValueError:
            pass  # still running: cannot happen once the reader reaped it, but never raise here
        if worker in self._everyone:
            self._everyone.remove(worker)

    def _send_small(self, worker: _Worker, frame: tuple[Any, ...]) -> bool:
        try:
            worker.conn.send_bytes(pickle.dumps(frame, PROTOCOL))
        except OSError:
            self._forget(worker)  # the reader reports the exit
            return False
        return True

    def _on_frame(self, worker: _Worker, frame: tuple[Any, ...]) -> None:
        worker.spoke = True
        job = worker.job
        kind = frame[0]
        if kind == REQUEST:
            if job is not None and job.id == frame[2]:
                task = self._loop.create_task(self._serve_request(worker, job, frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        if job is None or job.future.done():
            return
        if kind == _UNDECODABLE:
            job.future.set_exception(frame[1])
        elif frame[1] != job.id:
            return
        elif kind == DONE:
            if frame[3] is None:
                job.future.set_result(frame[2])
            else:
                job.future.set_exception(frame[3])
        elif kind == FAILED:
            if frame[3]:  # the recipe failed to build: the worker holds no instance of it
                worker.loaded.discard(job.recipe.key)
            job.future.set_exception(frame[2])

    async def _serve_request(self, worker: _Worker, job: _Job, frame: tuple[Any, ...]) -> None:
        _, request_id, _, kind, target, value, error = frame
        if error is not None:
            result = DeliveryResult(False, str(error))
        else:
            try:
                result = await job.on_request(kind, target, value)
            except Exception as failure:
                result = DeliveryResult(False, f"request failed: {failure!r}")
        if worker.job is job and not worker.dead:
            self._send_small(worker, (ANSWER, request_id, result.success, result.reason))

    def _on_exit(self, worker: _Worker, exitcode: int | None) -> None:
        self._forget(worker)
        job = worker.job
        if job is not None and not job.future.done():
            if self._closed:
                # Killed by aclose(): the user shut down, no worker failed.
                job.future.set_exception(
                    SyndicateError(
                        "the worker-process pool was closed (syndicate shut down) before the"
                        " worker answered"
                    )
                )
            else:
                # Exiting with an error before ever answering: it could not even start.
                starting = not worker.spoke and exitcode is not None and exitcode > 0
                job.future.set_exception(WorkerDiedError(worker.pid, exitcode, starting))
        if not worker.exited.done():
            worker.exited.set_result(None)
        self._dispose(worker)
        if not worker.retired and not self._closed:
            self._died += 1
            self._logger.warning(
                "worker %s; a new worker process replaces it on demand",
                describe_exit(worker.pid, exitcode),
            )
            self._wake_waiter(None)

    # -- introspection and shutdown ------------------------------------------------------

    def statistics(self) -> ProcessPoolStatistics:
        busy = sum(1 for worker in self._workers if worker.job is not None)
        return ProcessPoolStatistics(
            max_workers=self.max_workers,
            workers=len(self._workers),
            busy=busy,
            idle=len(self._workers) - busy,
            waiting=sum(1 for waiter in self._waiters if not waiter.done()),
            started=self._started,
            died=self._died,
            pids=tuple(worker.pid for worker in self._workers),
        )

    async def aclose(self, grace: float) -> None:
        """Stop every worker: ask nicely, wait ``grace`` seconds, then terminate, then kill."""
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # it wakes up, sees the pool closed and raises
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        everyone = [worker for worker in self._everyone if not worker.exited.done()]
        for worker in everyone:
            if worker.job is None and not worker.dead:
                self._send_small(worker, (STOP,))
            else:
                worker.retired = True
                worker.process.kill()
        await self._wait_exited(everyone, grace)
        for signal_name in ("terminate", "kill"):
            stragglers = [worker for worker in everyone if not worker.exited.done()]
            if not stragglers:
                break
            self._logger.warning(
                "%d worker process(es) did not stop within %.3g s; sending %s",
                len(stragglers),
                grace,
                signal_name,
            )
            for worker in stragglers:
                getattr(worker.process, signal_name)()
            await self._wait_exited(stragglers, 2.0)
        for worker in everyone:
            # A reaped worker was disposed of by _on_exit; one that would not die stays in
            # _everyone for the exit-time safety net.
            if worker.reader is not None:
                worker.reader.join(timeout=1.0)
        self._workers.clear()
        self._idle.clear()

    async def _wait_exited(self, workers: list[_Worker], timeout: float) -> None:
        pending = [worker.exited for worker in workers if not worker.exited.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)


# -- the reader thread (one per worker) -----------------------------------------------------


def _read_frames(
    worker: _Worker,
    loop: asyncio.AbstractEventLoop,
    on_frame: Callable[[_Worker, tuple[Any, ...]], None],
    on_exit: Callable[[_Worker, int | None], None],
) -> None:
    conn = worker.conn
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            break
        try:
            loop.call_soon_threadsafe(on_frame, worker, _decode(data, worker.pid))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            break
    worker.process.join()  # the only place that reaps the process (no zombie, no race)
    try:
        loop.call_soon_threadsafe(on_exit, worker, worker.process.exitcode)
    except RuntimeError:
        pass


def _decode(data: bytes, pid: int) -> tuple[Any, ...]:
    """Decode a frame off the loop; user payloads that fail to unpickle become errors."""
    try:
        frame = pickle.loads(data)
    except Exception as error:
        return (_UNDECODABLE, SparkException(f"undecodable frame from worker {pid}: {error!r}"))
    kind = frame[0]
    if kind == DONE:
        try:
            return (DONE, frame[1], pickle.loads(frame[2]), None)
        except Exception as error:
            return (DONE, frame[1], None, _unpickle_error("the reply", pid, error))
    if kind == FAILED:
        _, job_id, data, text, load_failed = frame
        try:
            failure = pickle.loads(data)
        except Exception as error:
            failure = _unpickle_error("the exception", pid, error)
        if isinstance(failure, BaseException):
            failure.add_note(f"raised in worker process {pid}:\n{text.rstrip()}")
        return (FAILED, job_id, failure, load_failed)
    if kind == REQUEST:
        _, request_id, job_id, request_kind, target, value = frame
        try:
            return (REQUEST, request_id, job_id, request_kind, target, pickle.loads(value), None)
        except Exception as error:
            failure = _unpickle_error("the message", pid, error)
            return (REQUEST, request_id, job_id, request_kind, target, None, failure)
    return tuple(frame)


def _unpickle_error(what: str, pid: int, error: Exception) -> SparkException:
    return SparkException(
        f"cannot unpickle {what} sent by worker process {pid}: {type(error).__name__}: {error}"
    )


def _emergency_stop(workers: list[_Worker]) -> None:
    """Exit-time safety net when a syndicate was never shut down: no worker outlives us."""
    for worker in workers:
        try:
            if worker.process.exitcode is None:
                worker.conn.close()
                worker.process.terminate()
        except (OSError, ValueError):
            pass
    for worker in workers:
        try:
            worker.process.join(timeout=1.0)
            if worker.process.exitcode is None:
                worker.process.kill()
        except (OSError, ValueError, AssertionError):
            pass
