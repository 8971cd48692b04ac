"""In-memory timers of one actor.

A timer delivers ``WakeupMessage(payload, timer_id, missed)`` through the actor's user lane, so
it never overtakes work queued before it fired. Timers belong to an incarnation: they are
cancelled on stop and on restart, and a wakeup that an earlier incarnation left in the mailbox
is dead-lettered ("stale incarnation") instead of reaching the fresh instance.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from spark.core.identity import Envelope
from spark.core.messages import WakeupMessage

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.core.actor import MissedTickPolicy

__all__ = [
    "MAX_CATCH_UP",
    "MISSED_POLICIES",
    "TimerRegistry",
    "deliver_wakeup",
    "validate_timer",
    "wakeup_envelope",
]

MISSED_POLICIES = ("skip", "coalesce", "catch_up")
#: Upper bound of wakeups a single late ``catch_up`` tick enqueues at once.
MAX_CATCH_UP = 1000


def validate_timer(delay: float, interval: float | None, missed: str, timer_id: str | None) -> None:
    """The argument checks shared by in-memory and durable timers (``ValueError``)."""
    if (
        not isinstance(delay, int | float)
        or isinstance(delay, bool)
        or not math.isfinite(delay)
        or delay < 0
    ):
        raise ValueError(f"timer delay must be a finite number >= 0 seconds, got {delay!r}")
    if interval is not None and (
        not isinstance(interval, int | float)
        or isinstance(interval, bool)
        or not math.isfinite(interval)
        or interval <= 0
    ):
        raise ValueError(f"timer interval must be a finite number > 0 seconds, got {interval!r}")
    if missed not in MISSED_POLICIES:
        raise ValueError(f"missed={missed!r} is not one of {', '.join(MISSED_POLICIES)}")
    if timer_id is not None and (not isinstance(timer_id, str) or not timer_id):
        raise ValueError(f"timer_id must be a non-empty string, got {timer_id!r}")


def wakeup_envelope(cell: ActorCell, payload: Any, timer_id: str, missed: int) -> Envelope:
    """A ``WakeupMessage`` addressed to ``cell``'s actor (no sender: it comes from the runtime)."""
    kernel = cell.kernel
    return Envelope(
        WakeupMessage(payload, timer_id, missed),
        None,
        cell.address,
        kernel._next_id(),
        None,
        None,
        kernel.clock(),
    )


def deliver_wakeup(cell: ActorCell, envelope: Envelope, fields: dict[str, Any]) -> None:
    """Emit ``timer_fired`` and enqueue the wakeup on the user lane (behind earlier work)."""
    kernel = cell.kernel
    kernel.bus.emit("timer_fired", cell.address, envelope.id, fields=fields)
    # A timer is a send to oneself: a full "block" mailbox rejects it instead of waiting.
    kernel._deliver(cell, envelope, cell)


class _Timer:
    __slots__ = ("due", "handle", "interval", "missed", "payload", "policy", "queued", "timer_id")

    queued: set[int]  # ids of this timer's wakeups that are waiting in the mailbox

    def __init__(
        self,
        timer_id: str,
        payload: Any,
        due: float,
        interval: float | None,
        policy: MissedTickPolicy,
    ) -> None:
        self.timer_id = timer_id
        self.payload = payload
        self.due = due
        self.interval = interval
        self.policy = policy
        self.handle: asyncio.TimerHandle | None = None
        self.queued = set()
        self.missed = 0


class TimerRegistry:
    """The live timers of one actor cell."""

    __slots__ = ("_cell", "_counter", "_timers")

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell
        self._timers: dict[str, _Timer] = {}
        self._counter = 0

    def __len__(self) -> int:
        return len(self._timers)

    def __contains__(self, timer_id: object) -> bool:
        return timer_id in self._timers

    def schedule(
        self,
        delay: float,
        payload: Any,
        timer_id: str | None,
        interval: float | None,
        missed: MissedTickPolicy,
    ) -> str:
        validate_timer(delay, interval, missed, timer_id)
        if timer_id is None:
            self._counter += 1
            timer_id = f"timer-{self._counter}"
        self.cancel(timer_id)
        loop = self._cell.kernel.loop
        timer = _Timer(timer_id, payload, loop.time() + delay, interval, missed)
        timer.handle = loop.call_at(timer.due, self._fire, timer)
        self._timers[timer_id] = timer
        return timer_id

    def cancel(self, timer_id: str) -> bool:
        timer = self._timers.pop(timer_id, None)
        if timer is None:
            return False
        if timer.handle is not None:
            timer.handle.cancel()
        return True

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            if timer.handle is not None:
                timer.handle.cancel()
        self._timers.clear()

    def is_live(self, envelope: Envelope) -> bool:
        """Whether a queued wakeup still belongs to a live timer (not cancelled, not replaced)."""
        content = envelope.content
        if not isinstance(content, WakeupMessage):
            return True
        timer = self._timers.get(content.timer_id)
        return timer is not None and envelope.id in timer.queued

    def _fire(self, timer: _Timer) -> None:
        cell = self._cell
        kernel = cell.kernel
        if self._timers.get(timer.timer_id) is not timer:
            return
        count = 1
        if timer.interval is None:
            # A one-shot timer stays registered until its wakeup is processed, so that
            # cancel_timer() can still withdraw a wakeup that is already queued.
            timer.handle = None
        else:
            now = kernel.loop.time()
            late_ticks = max(0, math.floor((now - timer.due) / timer.interval))
            count += late_ticks
            timer.due += timer.interval * (late_ticks + 1)
            timer.handle = kernel.loop.call_at(timer.due, self._fire, timer)
        if timer.policy == "catch_up":
            for _ in range(min(count, MAX_CATCH_UP)):
                self._enqueue(timer, 0)
            return
        if timer.queued:
            # An earlier wakeup of this timer is still waiting: do not pile up more.
            timer.missed += count
            return
        missed = timer.missed + count - 1
        timer.missed = 0
        self._enqueue(timer, missed if timer.policy == "coalesce" else 0)

    def _enqueue(self, timer: _Timer, missed: int) -> None:
        cell = self._cell
        envelope = wakeup_envelope(cell, timer.payload, timer.timer_id, missed)
        envelope.incarnation = cell.incarnation
        envelope.on_done = self._make_done(timer)
        timer.queued.add(envelope.id)
        deliver_wakeup(cell, envelope, {"timer_id": timer.timer_id})

    def _make_done(self, timer: _Timer) -> Any:
        def done(envelope: Envelope, outcome: str) -> None:
            timer.queued.discard(envelope.id)
            if timer.interval is None and self._timers.get(timer.timer_id) is timer:
                del self._timers[timer.timer_id]

        return done
