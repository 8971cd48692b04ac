"""Inboxes for code outside actors: the syndicate's own inbox and isolated endpoints.

An inbox is addressable like an actor (it has an :class:`ActorAddress`), so actors can reply to
it or tell it things; whoever holds the inbox reads with ``receive()`` / ``listen()``. Replies to
an ``ask`` never land in an inbox: each ask has its own reply slot, so concurrent asks on one
endpoint cannot steal each other's replies.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spark.core._sentinel import DEFAULT, Default
from spark.core.exceptions import ActorTimeout, SyndicateError
from spark.core.identity import ActorAddress, Envelope
from spark.core.message import Message
from spark.core.messages import DeliveryResult

if TYPE_CHECKING:
    from spark.core._tree import TreeKernel as Kernel

__all__ = ["Endpoint", "Inbox"]


class Inbox:
    """A bounded FIFO of messages addressed to a non-actor, plus the readers waiting on it.

    At ``capacity`` unread messages further sends fail with ``"inbox full"`` (an inbox never
    blocks its senders: they may be actors). A message whose deadline passed while it waited is
    not handed to the reader: ``discard(envelope, "message expired")`` gets it instead (the
    syndicate dead-letters it).
    """

    __slots__ = (
        "_clock",
        "_closed_reason",
        "_discard",
        "_queue",
        "_waiters",
        "address",
        "capacity",
    )

    def __init__(
        self,
        address: ActorAddress,
        capacity: int,
        clock: Callable[[], float] | None = None,
        discard: Callable[[Envelope, str], None] | None = None,
    ) -> None:
        self.address = address
        self.capacity = capacity
        self._clock = clock
        self._discard = discard
        self._queue: deque[Envelope] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed_reason: str | None = None

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    def put(self, envelope: Envelope) -> str | None:
        """Enqueue; returns ``None`` on success or the refusal reason."""
        if self._closed_reason is not None:
            return self._closed_reason
        if len(self._queue) >= self.capacity:
            return "inbox full"
        self._queue.append(envelope)
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        return None

    async def get(self, timeout: float | None) -> Message:
        """The next unexpired message; ``ActorTimeout`` when none arrives within ``timeout``."""
        queue = self._queue
        loop = asyncio.get_running_loop()
        give_up = None if timeout is None else loop.time() + timeout
        while True:
            while queue:
                envelope = queue.popleft()
                if not self._expired(envelope):
                    return envelope
            if self._closed_reason is not None:
                raise SyndicateError(f"inbox {self.address} is closed: {self._closed_reason}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                if give_up is None:
                    await waiter
                else:
                    async with asyncio.timeout_at(give_up):
                        await waiter
            except TimeoutError:
                raise ActorTimeout(
                    f"no message arrived in inbox {self.address} within {timeout} s",
                    target=self.address,
                    timeout=timeout,
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _expired(self, envelope: Envelope) -> bool:
        deadline = envelope.deadline
        clock = self._clock
        if deadline is None or clock is None or deadline > clock():
            return False
        if self._discard is not None:
            self._discard(envelope, "message expired")
        return True

    def close(self, reason: str) -> list[Envelope]:
        """Refuse further messages, wake readers, and return what was still unread."""
        self._closed_reason = reason
        unread = list(self._queue)
        self._queue.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        return unread


class Endpoint:
    """A client of the syndicate with its own address and inbox.

    Use ``async with system.endpoint() as ep:``; on exit the endpoint's unread messages become
    dead letters ("endpoint closed") and its address stops accepting messages.
    """

    def __init__(self, kernel: Kernel, inbox: Inbox) -> None:
        self._kernel = kernel
        self._inbox = inbox

    @property
    def address(self) -> ActorAddress:
        return self._inbox.address

    async def __aenter__(self) -> Endpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the endpoint (idempotent)."""
        self._kernel._close_inbox(self._inbox, "endpoint closed")

    async def tell(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        *,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> DeliveryResult:
        """Send from this endpoint: replies to a plain tell arrive in this endpoint's inbox."""
        result = self._kernel._send(
            message, target, self._inbox.address, ttl, deadline, headers, state
        )
        if isinstance(result, DeliveryResult):
            return result
        return await result

    async def ask(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        timeout: float | Default | None = DEFAULT,
        *,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
        state: Any = None,
    ) -> Any:
        return await self._kernel._ask(
            message, target, self._inbox.address, timeout, ttl, deadline, headers, state
        )

    def ask_stream(
        self,
        message: Any,
        target: ActorAddress | str | None = None,
        timeout: float | Default | None = DEFAULT,
        *,
        max_replies: int | None = None,
        ttl: float | None = None,
        deadline: datetime | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Any]:
        return self._kernel._ask_stream(
            message, target, self._inbox.address, timeout, max_replies, ttl, deadline, headers
        )

    async def reply(self, message: Message, value: Any) -> DeliveryResult:
        """Answer a message read from this inbox (resolves the sender's ask if it asked)."""
        return self._kernel._reply(message, value, self._inbox.address)

    async def receive(self, timeout: float | None = None) -> Message:
        """Next message from this inbox; raises ``ActorTimeout`` after ``timeout`` seconds."""
        return await self._inbox.get(timeout)

    async def listen(self, timeout: float | None = None) -> AsyncIterator[Message]:
        """Iterate over incoming messages; ends when ``timeout`` passes with nothing new or the
        inbox closes."""
        while True:
            try:
                yield await self._inbox.get(timeout)
            except (ActorTimeout, SyndicateError):
                return

    async def monitor(self, target: ActorAddress) -> None:
        """Receive one ``ActorExited`` in this inbox when ``target`` stops."""
        self._kernel._monitor(target, self._inbox.address)
