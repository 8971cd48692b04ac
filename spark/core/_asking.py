"""Asking: reply slots, timeouts, cancellation, ask streams and deadlock detection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from spark.core._asks import AskSlot, StreamFailure, StreamSlot
from spark.core._kernel import _MUST_BLOCK, Kernel, Target
from spark.core._runtime import STOPPED, ActorCell
from spark.core._sentinel import DEFAULT, Default
from spark.core.exceptions import (
    ActorDeadlockError,
    ActorTimeout,
    MailboxFull,
    MessageDeliveryError,
)
from spark.core.identity import ActorAddress, Envelope
from spark.core.messages import CancellationRequest

__all__ = ["AskingKernel"]


class AskingKernel(Kernel):
    """Kernel plus ``ask`` and ``ask_stream``."""

    # -- asking --------------------------------------------------------------------------

    def _ask_timeout(self, timeout: float | Default | None) -> float | None:
        if timeout is DEFAULT:
            return self.default_ask_timeout
        if timeout is not None and (
            not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0
        ):
            raise ValueError(f"timeout must be a number >= 0 or None, got {timeout!r}")
        return timeout

    def _check_deadlock(self, cell: ActorCell, target: Target) -> ActorCell | None:
        """Refuse an ask that would wait on the asker itself. Returns the local target cell."""
        target_cell = self._local_cell(target)
        if target_cell is None or cell.max_concurrency != 1:
            return None
        if asyncio.current_task() is not cell.task:
            return None  # asked from another task: the actor's run loop is not blocked by it
        if target_cell is cell:
            raise ActorDeadlockError(
                f"actor {cell.address} ({type(cell.actor).__qualname__}) asked itself while"
                " handling a message; it cannot answer until the handler returns. Use tell(),"
                " or move the work into a child actor."
            )
        if target_cell.waits_on(cell):
            raise ActorDeadlockError(
                f"ask from {cell.address} to {target_cell.address} would deadlock:"
                f" {target_cell.address} is itself waiting (through pending asks) on"
                f" {cell.address}. Break the cycle with tell() or a timeout-free design."
            )
        return target_cell

    async def _ask(
        self,
        content: Any,
        target: Target,
        origin: ActorCell | ActorAddress,
        timeout: float | Default | None,
        ttl: float | None,
        deadline: datetime | None,
        headers: Mapping[str, Any] | None,
        state: Any,
    ) -> Any:
        if isinstance(origin, ActorAddress):
            sender = origin
            cell = None
        else:
            cell = origin
            sender = origin.address
        wait = self.default_ask_timeout if timeout is DEFAULT else self._ask_timeout(timeout)
        correlation_id = self._next_id()
        now = self.clock()
        envelope = Envelope(
            content,
            sender,
            None,
            correlation_id,
            correlation_id,
            None,
            now,
            None if headers is None else dict(headers),
            state,
        )
        if ttl is not None or deadline is not None or cell is not None:
            absolute = envelope.deadline = self._deadline_for(ttl, deadline, cell)
            if absolute is not None and (wait is None or absolute - now < wait):
                wait = max(absolute - now, 0.0)
        waited_on = None if cell is None else self._check_deadlock(cell, target)
        loop = self._loop
        if loop is None or not self._sending:
            self._closed(envelope)
            raise MessageDeliveryError(target, "system is shut down")
        future = loop.create_future()
        slot = AskSlot(future, envelope)
        slots = self._slots
        slots[correlation_id] = slot
        result = self._route(envelope, target, cell)
        if result is _MUST_BLOCK:
            # The ask's timeout also bounds the wait for mailbox space.
            try:
                result = await self._deliver_blocking(envelope, wait)
            except BaseException:
                del slots[correlation_id]
                raise
            if wait is not None:
                wait = max(wait - (self.clock() - now), 0.0)
        if not result.success:
            del slots[correlation_id]
            if future.done():
                future.exception()  # consumed here; the caller gets the raise below
            raise _delivery_error(target, result.reason)
        handle = None if wait is None else loop.call_later(wait, self._expire, slot, wait)
        if waited_on is not None:
            cell.waiting_on_add(waited_on)  # type: ignore[union-attr]
        try:
            return await future
        except asyncio.CancelledError:
            if not future.done() or future.cancelled():
                self._ask_cancelled(envelope)
            raise
        finally:
            del slots[correlation_id]
            if handle is not None:
                handle.cancel()
            if waited_on is not None:
                cell.waiting_on_remove(waited_on)  # type: ignore[union-attr]

    def _expire(self, slot: AskSlot, wait: float) -> None:
        envelope = slot.envelope
        if slot.fail(
            ActorTimeout(
                f"no reply from {envelope.target!r} within {wait:.3g} s",
                target=envelope.target,
                timeout=wait,
            )
        ):
            slot.timed_out = True
            self.bus.emit(
                "ask_timed_out", envelope.target, envelope.id, f"no reply within {wait:.3g} s"
            )

    def _ask_cancelled(self, envelope: Envelope) -> None:
        self.bus.emit("ask_cancelled", envelope.target, envelope.id, "asking task cancelled")
        target = self._local_cell(envelope.target)
        if target is not None and target.state != STOPPED:
            target.post_control(CancellationRequest(envelope.id))

    async def _ask_stream(
        self,
        content: Any,
        target: Target,
        origin: ActorCell | ActorAddress,
        timeout: float | Default | None,
        max_replies: int | None,
        ttl: float | None,
        deadline: datetime | None,
        headers: Mapping[str, Any] | None,
    ) -> AsyncIterator[Any]:
        """Ask and yield every reply until ``max_replies`` or a gap longer than ``timeout``."""
        if max_replies is not None and max_replies < 1:
            raise ValueError(f"max_replies must be >= 1 or None, got {max_replies!r}")
        gap = self._ask_timeout(timeout)
        if isinstance(origin, ActorAddress):
            sender = origin
            cell = None
        else:
            cell = origin
            sender = origin.address
        correlation_id = self._next_id()
        envelope = Envelope(
            content,
            sender,
            None,
            correlation_id,
            correlation_id,
            None,
            self.clock(),
            None if headers is None else dict(headers),
        )
        expires = envelope.deadline = self._deadline_for(ttl, deadline, cell)
        if cell is not None:
            self._check_deadlock(cell, target)
        if not self._sending:
            self._closed(envelope)
            raise MessageDeliveryError(target, "system is shut down")
        slot = StreamSlot(envelope)
        self._slots[correlation_id] = slot
        try:
            result = self._route(envelope, target, cell)
            if result is _MUST_BLOCK:
                result = await self._deliver_blocking(envelope, gap)
            if not result.success:
                raise _delivery_error(target, result.reason)
            received = 0
            while max_replies is None or received < max_replies:
                limit = gap
                if expires is not None:
                    # The stream never outlives the message's (possibly inherited) deadline.
                    left = expires - self.clock()
                    if left <= 0:
                        return
                    limit = left if limit is None else min(limit, left)
                try:
                    if limit is None:
                        item = await slot.queue.get()
                    else:
                        async with asyncio.timeout(limit):
                            item = await slot.queue.get()
                except TimeoutError:
                    return
                if isinstance(item, StreamFailure):
                    raise item.error
                received += 1
                yield item
        finally:
            slot.closed = True
            self._slots.pop(correlation_id, None)


def _delivery_error(target: Target, reason: str) -> MessageDeliveryError:
    if reason.startswith("mailbox full"):
        return MailboxFull(target, reason)
    return MessageDeliveryError(target, reason)
