"""Internal: the in-process proxy actors that thread and process specs are adapted into.

The core runs a proxy like any in-process actor (mailbox, supervision, max_concurrency); the
proxy's async ``process`` hands the real, synchronous ``process()`` of the user's class to a
worker thread or a worker process and awaits it, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from spark.core.actor import Actor
from spark.core.identity import ActorAddress, Envelope
from spark.core.message import Message
from spark.core.messages import DeliveryResult
from spark.core.spec import ActorSpec
from spark.execution._protocol import (
    REPLY,
    TELL,
    DispatchHook,
    DoorStash,
    JobFields,
    dump_payload,
    payload_of,
    pickle_refusal,
)
from spark.execution.context import (
    Target,
    ThreadChannel,
    WorkerContext,
    WorkerView,
    bind_context,
    refuse_awaitable,
    restrict,
)
from spark.execution.errors import WorkerDiedError

if TYPE_CHECKING:
    from spark.execution._pool import Recipe
    from spark.execution.backends import ProcessBackend, ThreadBackend

__all__ = ["ProcessProxy", "ThreadProxy"]


class ThreadProxy(Actor):
    """Runs a stateless actor's ``process()`` in the syndicate's bounded thread pool."""

    def __init__(self, backend: ThreadBackend, spec: ActorSpec) -> None:
        self._backend = backend
        self._spec = spec
        self._instance: Actor | None = None
        self._view: WorkerView | None = None
        self._channel: ThreadChannel | None = None

    async def pre_start(self) -> None:
        address = self.address
        self._view = WorkerView("thread", self.syndicate_id, address, self.parent, self.incarnation)
        self._channel = ThreadChannel(asyncio.get_running_loop(), self)
        self._instance = await self._backend.run(self._build)

    async def process(self, message: Message) -> Any:
        return await self._backend.run(self._handle, message)

    async def pre_restart(self, error: BaseException) -> None:
        instance, self._instance = self._instance, None
        if instance is not None:
            await self._backend.run(self._hook, instance, "pre_restart", error)

    async def post_stop(self) -> None:
        instance, self._instance = self._instance, None
        if instance is not None:
            await self._backend.run(self._hook, instance, "post_stop")

    # -- in a worker thread --------------------------------------------------------------

    def _context(self, message: Message | None) -> WorkerContext:
        assert self._view is not None and self._channel is not None
        return WorkerContext("thread", self._view.address, message, self._channel)

    def _build(self) -> Actor:
        assert self._view is not None
        instance: Actor = self._spec.instantiate()
        restrict(instance, self._view)
        self._hook(instance, "pre_start")
        return instance

    def _hook(self, instance: Actor, name: str, *args: Any) -> None:
        undo = bind_context(self._context(None))
        try:
            refuse_awaitable(getattr(instance, name)(*args), f"{name}()", "thread")
        finally:
            undo()

    def _handle(self, message: Message) -> Any:
        instance = self._instance
        assert instance is not None
        undo = bind_context(self._context(message))
        try:
            result = instance.process(message)
            refuse_awaitable(result, "process()", "thread")
            return result
        finally:
            undo()


class ProcessProxy(Actor):
    """Runs a stateless actor's ``process()`` in the syndicate's worker-process pool.

    The payload is pickled at the door (``_spark_admit``): an unpicklable message is refused
    there, so ``tell`` reports the failure and ``ask`` raises at once, and the bytes are kept
    for dispatch so nothing is pickled twice.
    """

    _spark_gated = True

    def __init__(self, backend: ProcessBackend, spec: ActorSpec, recipe_data: bytes) -> None:
        self._backend = backend
        self._label = spec.actor_class.__qualname__
        self._recipe_data = recipe_data
        self._recipe: Recipe | None = None
        self._stash = DoorStash()
        self._address: ActorAddress | None = None

    def _spark_admit(self, envelope: Envelope) -> str | None:
        payload = payload_of(envelope)
        if payload is None:
            try:
                payload = dump_payload(envelope)
            except Exception as error:
                return pickle_refusal(self._label, error)
        self._stash.put(envelope, payload)
        return None

    async def pre_start(self) -> None:
        self._address = self.address
        pool = self._backend.pool
        recipe = self._recipe = pool.register(self._recipe_data)
        try:
            await pool.ensure_loaded(recipe, self._fields(None), self._requests(None))
        except BaseException:
            self._recipe = None
            pool.release(recipe)
            raise

    async def process(self, message: Message) -> Any:
        payload = None
        if isinstance(message, Envelope):
            cell = self._spark_cell
            payload = self._stash.take(message, None if cell is None else cell.mailbox.user)
        if payload is None:
            # Control-lane deliveries (e.g. monitor notices) do not pass the door.
            payload = dump_payload(message)
        recipe = self._recipe
        assert recipe is not None
        try:
            return await self._backend.pool.run(
                recipe, payload, self._fields(message), self._requests(message)
            )
        except WorkerDiedError as died:
            reason = str(died)
            if isinstance(message, Envelope):
                hook = message.on_done
                if isinstance(hook, DispatchHook) and hook.redispatch(message, reason):
                    message.on_done = None  # the dispatcher owns it again
                    return None
                self.system._dead_letter(message, reason)
            return None

    async def pre_restart(self, error: BaseException) -> None:
        self._release()

    async def post_stop(self) -> None:
        self._release()

    async def _spark_after_stop(self) -> None:
        self._release()  # also after a kill, which skips post_stop

    def _release(self) -> None:
        recipe, self._recipe = self._recipe, None
        self._stash.clear()
        if recipe is not None and not self._backend.closed:
            self._backend.pool.release(recipe)

    def _fields(self, message: Message | None) -> JobFields:
        assert self._address is not None
        return (
            self._address,
            self.parent,
            self.incarnation,
            self._address.syndicate_id,
            None if message is None else message.sender,
            0 if message is None else message.id,
            None if message is None else message.correlation_id,
        )

    def _requests(self, message: Message | None) -> functools.partial[Any]:
        return functools.partial(self._serve_request, message)

    async def _serve_request(
        self, message: Message | None, kind: int, target: Target, value: Any
    ) -> DeliveryResult:
        """A worker's ``worker_context().tell/reply``, carried out on the loop as this actor."""
        if kind == TELL:
            return await self.tell(value, target)
        if kind == REPLY and message is not None:
            return await self.reply(message, value)
        return DeliveryResult(False, "no message to reply to")
