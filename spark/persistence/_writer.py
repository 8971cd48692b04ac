"""One writer thread with group commit, for journals backed by a blocking store.

Callers on the event loop submit operations; the thread runs them in submission order. Writes
that are waiting when the thread finishes a transaction are run together in the next single
transaction (group commit), so under load one commit (one fsync) acknowledges many writes while
a lone write still commits at once. A write's future resolves only after its transaction
committed. If a grouped transaction fails, it is rolled back and its writes are retried one per
transaction, so one bad write fails alone; if the transaction cannot even begin (the file is
locked by another connection past the busy timeout), the whole group fails at once. Reads run
between transactions, in order.

Nothing here knows SQL: the store object opens the connection, runs BEGIN/COMMIT/ROLLBACK and
maps its driver's errors to :class:`~spark.core.exceptions.PersistenceError`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from spark.core.exceptions import PersistenceError

__all__ = ["GroupCommitWriter", "JournalStatistics", "Store"]

T = TypeVar("T")


class Store(Protocol):
    """The blocking side, used only from the writer thread."""

    def open(self) -> None: ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...

    def failure(self, error: Exception, what: str) -> PersistenceError:
        """Map a driver error raised while doing ``what`` to a PersistenceError."""
        ...

    def run_batch(self, kind: str, items: list[Any]) -> None:
        """Run several consecutive writes of one ``kind`` at once (inside the transaction).

        Must have the same effect as running each item's own operation in order, or raise.
        """
        ...


@dataclass(frozen=True, slots=True)
class JournalStatistics:
    """Counters of a journal's writer since it was created (a snapshot; it does not change)."""

    transactions: int
    writes: int
    reads: int
    failed_writes: int
    largest_batch: int

    @property
    def writes_per_transaction(self) -> float:
        """Mean group-commit batch size (1.0 means no grouping happened)."""
        return self.writes / self.transactions if self.transactions else 0.0


class _Request:
    __slots__ = (
        "batch_item",
        "batch_kind",
        "error",
        "future",
        "loop",
        "operation",
        "result",
        "settled",
        "what",
        "write",
    )

    def __init__(
        self,
        operation: Callable[[], Any] | None,
        write: bool,
        what: str | tuple[str, str],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        batch_kind: str | None,
        batch_item: Any,
    ) -> None:
        self.operation = operation
        self.write = write
        self.what = what
        self.loop = loop
        self.future = future
        self.batch_kind = batch_kind
        self.batch_item = batch_item
        self.result: Any = None
        self.error: BaseException | None = None
        self.settled = False


_CLOSE = object()


def _resolve(requests: list[_Request]) -> None:
    """Runs on the requests' event loop."""
    for request in requests:
        future = request.future
        if future.done():
            continue  # the caller was cancelled; the write itself may still have happened
        if request.error is not None:
            future.set_exception(request.error)
        else:
            future.set_result(request.result)


class GroupCommitWriter:
    """The writer thread of one journal; started by the first submitted operation."""

    def __init__(self, store: Store, *, name: str, max_batch: int) -> None:
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1, got {max_batch!r}")
        self._store = store
        self._name = name
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._close_requested = False
        self._finished = False
        self._close_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._close_error: PersistenceError | None = None
        self._open_error: PersistenceError | None = None
        self._batch: list[Any] = []  # what the thread took from the queue and is serving
        self._transactions = 0
        self._writes = 0
        self._reads = 0
        self._failed_writes = 0
        self._largest_batch = 0

    @property
    def closed(self) -> bool:
        return self._closing

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            self._transactions,
            self._writes,
            self._reads,
            self._failed_writes,
            self._largest_batch,
        )

    # -- event-loop side -----------------------------------------------------------------

    def submit(
        self,
        operation: Callable[[], T] | None,
        *,
        write: bool,
        what: str | tuple[str, str],
        closed_message: str,
        batch: tuple[str, Any] | None = None,
    ) -> asyncio.Future[T]:
        """Queue ``operation`` (run in the writer thread; its return value is the result).

        A write may instead name a ``batch`` ``(kind, item)`` and no operation: consecutive
        writes of one kind in a transaction run as one ``store.run_batch(kind, items)`` (their
        result is ``None``). ``what`` describes the operation for error messages; a
        ``(verb, name)`` pair is formatted only when an error needs it.
        """
        loop = asyncio.get_running_loop()
        kind, item = batch if batch is not None else (None, None)
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._closing:
                future.set_exception(PersistenceError(closed_message))
                return future
            if self._thread is None:
                self._start()
            self._queue.put(_Request(operation, write, what, loop, future, kind, item))
        return future

    def close(self) -> asyncio.Future[None]:
        """Finish what is queued, close the store, stop the thread (idempotent)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._closing = True
            if self._thread is None:
                self._finished = True
            if self._finished:
                if self._close_error is not None:
                    future.set_exception(self._close_error)
                else:
                    future.set_result(None)
                return future
            self._close_waiters.append((loop, future))
            if len(self._close_waiters) == 1 and not self._close_requested:
                self._queue.put(_CLOSE)
            self._close_requested = True
        return future

    def close_nowait(self) -> None:
        """Ask the thread to finish what is queued and exit, without waiting (used when the
        journal is garbage-collected unclosed, so its thread and file do not leak)."""
        with self._lock:
            self._closing = True
            if self._thread is not None and not self._finished and not self._close_requested:
                self._queue.put(_CLOSE)
            self._close_requested = True

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread = thread
        thread.start()

    # -- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            try:
                self._store.open()
            except Exception as error:
                self._open_error = self._failure(error, "open")
            while self._serve_batch():
                pass
        except BaseException as error:  # a bug or an interpreter shutdown: fail, never hang
            self._close_error = PersistenceError(
                f"journal writer {self._name} crashed: {error!r}; the journal is closed, open"
                " a new one"
            )
            raise
        finally:
            try:
                self._store.close()
            except Exception as error:
                self._close_error = self._close_error or self._failure(error, "close")
            self._finish()

    def _serve_batch(self) -> bool:
        """Serve everything queued right now; False once the close marker was reached."""
        batch = self._batch = [self._queue.get()]
        while len(batch) < self._max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        writes: list[_Request] = []
        for item in batch:
            if item is _CLOSE:
                self._flush(writes)
                return False
            request: _Request = item
            if self._open_error is not None:
                request.error = PersistenceError(str(self._open_error))
                request.error.__cause__ = self._open_error.__cause__
                self._settle([request])
            elif request.write:
                writes.append(request)
                if len(writes) >= self._max_batch:
                    self._flush(writes)
                    writes = []
            else:
                self._flush(writes)
                writes = []
                self._read(request)
        self._flush(writes)
        return True

    def _read(self, request: _Request) -> None:
        try:
            assert request.operation is not None
            request.result = request.operation()
        except Exception as error:
            request.error = self._failure(error, request.what)
        self._reads += 1
        self._settle([request])

    def _flush(self, writes: list[_Request]) -> None:
        if writes:
            self._commit(writes)
            self._settle(writes)

    def _commit(self, writes: list[_Request]) -> None:
        """Run ``writes`` in one transaction; if one of them fails, retry each in its own."""
        store = self._store
        try:
            store.begin()
        except Exception as error:
            # No write is at fault (typically another connection held the lock past the busy
            # timeout): retrying each alone would wait that long once per write.
            self._rollback()
            for request in writes:
                request.error = self._failure(error, request.what)
            self._failed_writes += len(writes)
            return
        try:
            self._apply(writes)
            store.commit()
        except Exception as error:
            self._rollback()
            if len(writes) > 1:
                for request in writes:
                    request.result = None
                    self._commit([request])
                return
            writes[0].error = self._failure(error, writes[0].what)
            self._failed_writes += 1
            return
        self._transactions += 1
        self._writes += len(writes)
        if len(writes) > self._largest_batch:
            self._largest_batch = len(writes)

    def _rollback(self) -> None:
        try:
            self._store.rollback()
        except Exception:
            pass  # the transaction is gone either way; the original error is what matters

    def _apply(self, writes: list[_Request]) -> None:
        index = 0
        count = len(writes)
        while index < count:
            request = writes[index]
            kind = request.batch_kind
            if kind is None:
                assert request.operation is not None
                request.result = request.operation()
                index += 1
                continue
            end = index + 1
            while end < count and writes[end].batch_kind == kind:
                end += 1
            self._store.run_batch(kind, [w.batch_item for w in writes[index:end]])
            index = end

    def _failure(self, error: Exception, what: str | tuple[str, str]) -> PersistenceError:
        if isinstance(error, PersistenceError):
            return error
        if isinstance(what, tuple):
            what = f"{what[0]} {what[1]!r}"
        return self._store.failure(error, what)

    @staticmethod
    def _settle(requests: list[_Request]) -> None:
        for request in requests:
            request.settled = True
        loop = requests[0].loop
        if all(request.loop is loop for request in requests):
            groups = [(loop, requests)]
        else:
            by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
            for request in requests:
                by_loop.setdefault(request.loop, []).append(request)
            groups = list(by_loop.items())
        for target, group in groups:
            try:
                target.call_soon_threadsafe(_resolve, group)
            except RuntimeError:
                pass  # that event loop is closed: nobody is waiting for these results any more

    def _finish(self) -> None:
        with self._lock:
            self._closing = True
            self._finished = True
            waiters, self._close_waiters = self._close_waiters, []
        # After a crash, the batch being served has requests nobody will answer otherwise.
        leftovers = [item for item in self._batch if item is not _CLOSE and not item.settled]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _CLOSE:
                leftovers.append(item)
        for request in leftovers:
            request.error = self._close_error or PersistenceError(
                f"journal writer {self._name} stopped before this operation ran"
            )
            self._settle([request])
        error = self._close_error
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_settle_close, future, error)
            except RuntimeError:
                pass


def _settle_close(future: asyncio.Future[None], error: PersistenceError | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)
