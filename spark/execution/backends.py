"""Thread and process execution of stateless actors.

The core turns ``ActorSpec(execution="thread" | "process", stateless=True)`` into an in-process
spec by calling ``adapt`` on the backend of that mode (built once per syndicate as the
extensions ``"execution:thread"`` / ``"execution:process"`` and closed at shutdown):

* :class:`ThreadBackend` runs ``process()`` in one bounded ``ThreadPoolExecutor`` per syndicate
  — for blocking I/O and C code that releases the GIL;
* :class:`ProcessBackend` runs it in a pool of ``spawn``-ed worker processes per syndicate — for
  CPU-bound Python. The class and its arguments reach each worker once, not per message.

Size the pools with :func:`configure_execution` before the first such actor is created.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from spark.core.actor import Actor
from spark.core.exceptions import InvalidActorSpecError, SyndicateError
from spark.core.spec import ActorSpec
from spark.execution._pool import ProcessPool, ProcessPoolStatistics
from spark.execution._protocol import PROTOCOL
from spark.execution._proxies import ProcessProxy, ThreadProxy

__all__ = [
    "ProcessBackend",
    "ProcessPoolStatistics",
    "ThreadBackend",
    "ThreadPoolStatistics",
    "configure_execution",
]

T = TypeVar("T")
P = TypeVar("P", bound=Actor)

#: Hooks that run in the worker and therefore must be plain functions too.
_WORKER_HOOKS: Final = ("process", "pre_start", "post_stop", "pre_restart")


@dataclass(frozen=True, slots=True)
class ThreadPoolStatistics:
    """A snapshot of the thread pool (``ThreadBackend.statistics()``): ``in_flight`` calls
    submitted and not finished, ``queued`` of them waiting for a free thread."""

    max_workers: int
    in_flight: int
    queued: int


def _check_max_workers(max_workers: int | None) -> None:
    if max_workers is not None and (
        not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
    ):
        raise ValueError(f"max_workers must be an int >= 1 or None, got {max_workers!r}")


def _check_worker_class(spec: ActorSpec, mode: str) -> None:
    """Refuse classes whose worker-side code could not run off the event loop."""
    if spec.execution != mode:
        raise InvalidActorSpecError(
            f"the {mode} backend cannot adapt a spec with execution={spec.execution!r}"
        )
    if not spec.stateless:
        raise InvalidActorSpecError(
            f"execution={mode!r} needs stateless=True: the actor may run on several workers at"
            " once and cannot keep state between messages"
        )
    cls = spec.actor_class
    for name in _WORKER_HOOKS:
        hook = getattr(cls, name)
        if hook is getattr(Actor, name):
            continue
        if inspect.iscoroutinefunction(hook) or inspect.isasyncgenfunction(hook):
            raise InvalidActorSpecError(
                f"{cls.__qualname__}.{name}() is async, but execution={mode!r} runs it off the"
                f" event loop in a worker {mode}: define it with a plain def, or use"
                " execution='inprocess' for async handlers"
            )


def _proxy_class(cache: dict[type, type[P]], base: type[P], cls: type, mode: str) -> type[P]:
    """A per-class proxy subclass, so events and diagnostics name ``Worker@thread``."""
    proxy = cache.get(cls)
    if proxy is None:
        label = f"{cls.__qualname__}@{mode}"
        proxy = cache[cls] = type(
            label, (base,), {"__qualname__": label, "__module__": cls.__module__}
        )
    return proxy


def _adapted(spec: ActorSpec, proxy: type[Actor], args: tuple[Any, ...]) -> ActorSpec:
    return ActorSpec(
        proxy,
        args,
        name=spec.name,
        execution="inprocess",
        stateless=True,
        max_concurrency=spec.max_concurrency,
        requirements=spec.requirements,
        supervisor_strategy=spec.supervisor_strategy,
        mailbox_policy=spec.mailbox_policy,
    )


class ThreadBackend:
    """The ``execution="thread"`` backend of one syndicate: a shared, bounded thread pool.

    ``max_workers`` defaults to ``min(32, cpu_count + 4)`` (like ``ThreadPoolExecutor``). Every
    thread actor of the syndicate shares it, so a handler that blocks forever holds a thread
    forever; calls beyond ``max_workers`` queue.
    """

    mode: Final = "thread"

    def __init__(self, syndicate: Any, *, max_workers: int | None = None) -> None:
        _check_max_workers(max_workers)
        self._system = syndicate
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._executor: ThreadPoolExecutor | None = None
        self._proxies: dict[type, type[ThreadProxy]] = {}
        # Calls submitted and not finished, counted until the thread is done with them (a
        # cancelled caller stops waiting, the thread does not): updated from pool threads too.
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<ThreadBackend max_workers={self.max_workers} in_flight={self._in_flight}>"

    def adapt(self, spec: ActorSpec) -> ActorSpec:
        """The in-process spec of a proxy running ``spec``'s ``process()`` in this pool."""
        _check_worker_class(spec, self.mode)
        proxy = _proxy_class(self._proxies, ThreadProxy, spec.actor_class, self.mode)
        return _adapted(spec, proxy, (self, spec))

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._closed:
            raise SyndicateError("the thread pool is closed (syndicate shut down)")
        executor = self._executor
        if executor is None:
            executor = self._executor = ThreadPoolExecutor(
                self.max_workers, thread_name_prefix=f"spark-thread-{self._system.syndicate_id}"
            )
        return executor

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in the pool without blocking the loop."""
        call = self.executor.submit(function, *args)
        with self._in_flight_lock:
            self._in_flight += 1
        call.add_done_callback(self._call_done)
        return await asyncio.wrap_future(call)

    def _call_done(self, _: Future[Any]) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    def statistics(self) -> ThreadPoolStatistics:
        return ThreadPoolStatistics(
            self.max_workers, self._in_flight, max(0, self._in_flight - self.max_workers)
        )

    async def aclose(self) -> None:
        """Stop the pool's threads (waits up to the syndicate's ``stop_timeout`` for running
        calls: a thread cannot be interrupted, so a stuck call is reported, not killed)."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        joined: asyncio.Future[None] = loop.create_future()

        def join() -> None:
            executor.shutdown(wait=True, cancel_futures=True)
            try:
                loop.call_soon_threadsafe(_resolve, joined)
            except RuntimeError:
                pass  # the loop is gone; nobody waits any more

        # A separate daemon thread: a stuck call must not hang the loop's own executor too.
        closer = threading.Thread(target=join, name="spark-thread-pool-closer", daemon=True)
        closer.start()
        grace = self._system.stop_timeout
        try:
            await asyncio.wait_for(asyncio.shield(joined), grace)
            closer.join(timeout=1.0)  # it has nothing left to do but return
        except TimeoutError:
            self._system.logger.warning(
                "thread pool: %d call(s) still running after %.3g s; threads cannot be"
                " interrupted, they finish in the background",
                self._in_flight,
                grace,
            )


class ProcessBackend:
    """The ``execution="process"`` backend of one syndicate: a pool of worker processes.

    ``max_workers`` defaults to ``os.cpu_count()``. Workers are started on demand with the
    ``spawn`` context, shared by every process actor of the syndicate, replaced when one dies,
    and all stopped at shutdown (asked, then terminated, then killed).
    """

    mode: Final = "process"

    def __init__(self, syndicate: Any, *, max_workers: int | None = None) -> None:
        _check_max_workers(max_workers)
        self._system = syndicate
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: ProcessPool | None = None
        self._proxies: dict[type, type[ProcessProxy]] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<ProcessBackend max_workers={self.max_workers}>"

    def adapt(self, spec: ActorSpec) -> ActorSpec:
        """The in-process spec of a proxy running ``spec``'s ``process()`` in worker processes.

        The class must be importable by the workers (defined at module level) and the
        arguments picklable; both are checked here so a bad spec fails at create time.
        """
        _check_worker_class(spec, self.mode)
        cls = spec.actor_class
        if "<locals>" in cls.__qualname__:
            raise InvalidActorSpecError(
                f"{cls.__qualname__} is defined inside a function; worker processes import"
                " the class by name, so define it at module level for execution='process'"
            )
        main = sys.modules.get("__main__")
        if cls.__module__ == "__main__" and getattr(main, "__file__", None) is None:
            raise InvalidActorSpecError(
                f"{cls.__qualname__} is defined in an interactive session; spawned worker"
                " processes cannot import it. Move it into a module for execution='process'"
            )
        try:
            recipe = pickle.dumps((cls, spec.args, dict(spec.kwargs)), PROTOCOL)
        except Exception as error:
            raise InvalidActorSpecError(
                f"cannot pickle {cls.__qualname__} with its args/kwargs for the worker"
                f" processes: {type(error).__name__}: {error}"
            ) from error
        proxy = _proxy_class(self._proxies, ProcessProxy, cls, self.mode)
        return _adapted(spec, proxy, (self, spec, recipe))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pool(self) -> ProcessPool:
        if self._closed:
            raise SyndicateError("the worker-process pool is closed (syndicate shut down)")
        pool = self._pool
        if pool is None:
            pool = self._pool = ProcessPool(
                max_workers=self.max_workers, loop=self._system.loop, logger=self._system.logger
            )
        return pool

    def statistics(self) -> ProcessPoolStatistics:
        if self._pool is None:
            return ProcessPoolStatistics(self.max_workers, 0, 0, 0, 0, 0, 0, ())
        return self._pool.statistics()

    async def aclose(self) -> None:
        """Stop every worker process; none outlives the syndicate."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose(grace=self._system.stop_timeout)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def configure_execution(
    system: Any, *, max_threads: int | None = None, max_processes: int | None = None
) -> None:
    """Size the thread pool and/or the worker-process pool of ``system``.

    Call it after ``start()`` and before the first thread/process actor is created; once a
    pool exists its size is fixed, and asking for a different one raises
    :class:`~spark.core.exceptions.SyndicateError`.
    """
    _check_max_workers(max_threads)
    _check_max_workers(max_processes)
    wanted: list[tuple[str, Callable[[Any], Any], int]] = []
    if max_threads is not None:
        wanted.append(("thread", lambda s: ThreadBackend(s, max_workers=max_threads), max_threads))
    if max_processes is not None:
        wanted.append(
            ("process", lambda s: ProcessBackend(s, max_workers=max_processes), max_processes)
        )
    for mode, factory, size in wanted:
        backend = system.extension(f"execution:{mode}", factory)
        if backend.max_workers != size:
            raise SyndicateError(
                f"the {mode} pool of this syndicate already exists with"
                f" max_workers={backend.max_workers}; call configure_execution() before"
                f" creating the first {mode} actor"
            )
