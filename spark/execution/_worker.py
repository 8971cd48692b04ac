"""Internal: the main loop of a worker process (started with the ``spawn`` context).

A worker serves one job at a time. The first job of a recipe (actor class + args) carries the
recipe; the worker builds the instance, runs its ``pre_start`` and keeps it for every later job
of that recipe, so the class and its arguments cross the pipe once per worker, not per message.
It exits when the parent says STOP or when its pipe closes (the parent went away), running
``post_stop`` of every instance it holds.
"""

from __future__ import annotations

import itertools
import os
import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

from spark.core.actor import Actor
from spark.core.exceptions import SparkException
from spark.core.message import Message
from spark.core.messages import DeliveryResult
from spark.execution._protocol import (
    ANSWER,
    DONE,
    FAILED,
    JOB,
    PROTOCOL,
    REPLY,
    REQUEST,
    STOP,
    TELL,
    UNLOAD,
    JobFields,
)
from spark.execution.context import (
    Target,
    WorkerContext,
    WorkerView,
    bind_context,
    refuse_awaitable,
    restrict,
)

__all__ = ["main"]


def main(conn: Connection) -> None:
    """Entry point of a worker process."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker = _Worker(conn)
    try:
        worker.serve()
    finally:
        worker.unload_all()
        conn.close()


class _Loaded:
    __slots__ = ("instance", "view")

    def __init__(self, instance: Actor, view: WorkerView) -> None:
        self.instance = instance
        self.view = view


class _ParentGone(Exception):
    """The pipe to the parent closed while this worker waited for an answer."""


class _Worker:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()
        self.loaded: dict[int, _Loaded] = {}
        self.job_id: int | None = None
        self.message: Message | None = None
        self.backlog: list[tuple[Any, ...]] = []
        self.request_ids = itertools.count(1)

    # -- serving -----------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            if self.backlog:
                frame = self.backlog.pop(0)
            else:
                try:
                    frame = pickle.loads(self.conn.recv_bytes())
                except (EOFError, OSError):
                    return
            kind = frame[0]
            if kind == JOB:
                try:
                    self.run_job(frame[1], frame[2], frame[3], frame[4], frame[5])
                except _ParentGone:
                    return
            elif kind == UNLOAD:
                self.unload(frame[1])
            elif kind == STOP:
                return

    def run_job(
        self,
        job_id: int,
        key: int,
        recipe: bytes | None,
        payload: bytes | None,
        fields: JobFields,
    ) -> None:
        address, parent, incarnation, _, sender, message_id, correlation_id = fields
        self.job_id = job_id
        try:
            loaded = self.loaded.get(key)
            if loaded is None:
                if recipe is None:
                    raise SparkException(
                        f"worker process {self.pid} lost the recipe of actor {address}"
                    )
                try:
                    loaded = self.load(key, recipe, fields)
                except Exception as error:
                    self.send_failure(job_id, error, load_failed=True)
                    return
            if payload is None:  # a probe: build the instance, process nothing
                self.send_done(job_id, None, loaded)
                return
            try:
                content, metadata, state = pickle.loads(payload)
            except Exception as error:
                raise SparkException(
                    f"worker process {self.pid} cannot unpickle the message: {error!r}"
                ) from error
            message = Message(content, sender, message_id, correlation_id, metadata, state)
            loaded.view.point_at(address, parent, incarnation)
            self.message = message
            undo = bind_context(WorkerContext("process", address, message, self))
            try:
                result = loaded.instance.process(message)
                refuse_awaitable(result, "process()", "process")
            finally:
                undo()
        except _ParentGone:
            raise
        except Exception as error:
            self.send_failure(job_id, error)
            return
        finally:
            self.job_id = None
            self.message = None
        self.send_done(job_id, result, loaded)

    def load(self, key: int, recipe: bytes, fields: JobFields) -> _Loaded:
        address, parent, incarnation, syndicate_id = fields[0], fields[1], fields[2], fields[3]
        actor_class, args, kwargs = pickle.loads(recipe)
        instance = actor_class(*args, **kwargs)
        view = WorkerView("process", syndicate_id, address, parent, incarnation)
        restrict(instance, view)
        undo = bind_context(WorkerContext("process", address, None, self))
        try:
            refuse_awaitable(instance.pre_start(), "pre_start()", "process")
        finally:
            undo()
        loaded = self.loaded[key] = _Loaded(instance, view)
        return loaded

    def unload(self, key: int) -> None:
        loaded = self.loaded.pop(key, None)
        if loaded is None:
            return
        undo = bind_context(WorkerContext("process", loaded.view.address, None, self))
        try:
            refuse_awaitable(loaded.instance.post_stop(), "post_stop()", "process")
        except Exception:
            print(
                f"spark worker process {self.pid}: post_stop() of"
                f" {type(loaded.instance).__qualname__} raised:",
                file=sys.stderr,
            )
            traceback.print_exc()
        finally:
            undo()

    def unload_all(self) -> None:
        for key in list(self.loaded):
            try:
                self.unload(key)
            except _ParentGone:
                pass

    # -- answering ---------------------------------------------------------------------

    def send(self, frame: tuple[Any, ...]) -> None:
        try:
            self.conn.send_bytes(pickle.dumps(frame, PROTOCOL))
        except OSError as error:
            raise _ParentGone() from error

    def send_done(self, job_id: int, result: Any, loaded: _Loaded) -> None:
        try:
            value = pickle.dumps(result, PROTOCOL)
        except Exception as error:
            failure = SparkException(
                f"the reply of {type(loaded.instance).__qualname__}.process() cannot be pickled"
                f" back to the caller: {type(error).__name__}: {error}"
            )
            self.send_failure(job_id, failure)
            return
        self.send((DONE, job_id, value))

    def send_failure(self, job_id: int, error: BaseException, *, load_failed: bool = False) -> None:
        text = "".join(traceback.format_exception(error))
        try:
            data = pickle.dumps(error, PROTOCOL)
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt; check here
        except Exception:
            stand_in = SparkException(
                f"{type(error).__module__}.{type(error).__qualname__}: {error}"
            )
            data = pickle.dumps(stand_in, PROTOCOL)
        self.send((FAILED, job_id, data, text, load_failed))

    # -- the Channel protocol (WorkerContext.tell/reply) ---------------------------------

    def tell(self, content: Any, target: Target) -> DeliveryResult:
        return self.request(TELL, target, content)

    def reply(self, message: Message, value: Any) -> DeliveryResult:
        current = self.message
        if current is None or message.id != current.id:
            raise SparkException(
                "worker_context().reply() in a process worker answers only the message being"
                " handled; return the value from process() instead"
            )
        return self.request(REPLY, None, value)

    def request(self, kind: int, target: Target, value: Any) -> DeliveryResult:
        if self.job_id is None:
            raise SparkException(
                "worker_context() in a process worker can send only while process() or"
                " pre_start() runs, not from post_stop(): the worker drops an instance after"
                " the actors built from it are gone, so nothing could send as them (nor from a"
                " thread that outlives the message). Send from process() instead"
            )
        request_id = next(self.request_ids)
        data = pickle.dumps(value, PROTOCOL)  # an unpicklable value fails here, in the caller
        self.send((REQUEST, request_id, self.job_id, kind, target, data))
        while True:
            try:
                frame = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError) as error:
                raise _ParentGone() from error
            if frame[0] == ANSWER and frame[1] == request_id:
                return DeliveryResult(frame[2], frame[3])
            self.backlog.append(frame)
