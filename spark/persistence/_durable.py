"""Durable timers of one persistent actor instance.

Each timer lives twice: as a row in the journal (wall-clock due time, survives the process) and
as an event-loop timer handle (loop-clock due time). A fired timer delivers
``WakeupMessage(payload, timer_id, missed)`` through the actor's user lane, like an in-memory
timer, with an ``on_done`` callback that deletes the row (one-shot) or advances its stored due
time (periodic) only after the wakeup was *processed* - at-least-once delivery. A wakeup that
failed or was dropped leaves the row as it was, so the next recovery delivers it again.

Wakeups carry no incarnation: durable timers outlive a supervised restart. The fresh instance
adopts the wakeups its predecessor left in the mailbox instead of firing them a second time.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from spark.core._runtime import RUNNING, STARTING
from spark.core.actor import MissedTickPolicy
from spark.core.identity import Envelope
from spark.core.timers import (
    MAX_CATCH_UP,
    deliver_wakeup,
    validate_timer,
    wakeup_envelope,
)
from spark.persistence.journal import DurableTimer
from spark.persistence.timers import TimerId

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.persistence.journal import Journal

__all__ = ["DROP_RETRY_DELAY", "MAX_CATCH_UP", "DurableTimers"]

#: Seconds before a wakeup that the mailbox refused (full, expired) is offered again.
DROP_RETRY_DELAY: Final = 1.0


class _Timer:
    __slots__ = (
        "due",
        "handle",
        "interval",
        "missed",
        "payload",
        "policy",
        "queued",
        "stored_due",
        "timer_id",
    )

    def __init__(
        self,
        timer_id: str,
        payload: Any,
        interval: float | None,
        policy: MissedTickPolicy,
        due: float,
        stored_due: float,
    ) -> None:
        self.timer_id = timer_id
        self.payload = payload
        self.interval = interval
        self.policy = policy
        self.due = due  # loop clock: when the next tick fires
        self.stored_due = stored_due  # wall clock: earliest tick not processed yet (in the row)
        self.handle: asyncio.TimerHandle | None = None
        self.queued = 0  # wakeups of this timer waiting in the mailbox
        self.missed = 0  # ticks absorbed while a wakeup was queued (skip / coalesce)


class _WakeupDone:
    """``Envelope.on_done`` of a durable wakeup; re-pointed when a new instance adopts it."""

    __slots__ = ("owner", "persistence_id", "resume_due", "timer")

    def __init__(
        self, owner: DurableTimers, timer: _Timer, resume_due: float | None, persistence_id: str
    ) -> None:
        self.owner = owner
        self.timer = timer
        self.resume_due = resume_due  # wall clock: the stored due once this wakeup is processed
        self.persistence_id = persistence_id

    def __call__(self, envelope: Envelope, outcome: str) -> None:
        self.owner.wakeup_done(self, outcome)


class DurableTimers:
    """The durable timers of one actor instance (recovered from and mirrored to the journal)."""

    def __init__(
        self, actor: object, cell: ActorCell, journal: Journal, persistence_id: str
    ) -> None:
        self._actor = actor
        self._cell = cell
        self._journal = journal
        self._persistence_id = persistence_id
        self._loop = cell.kernel.loop
        self._timers: dict[str, _Timer] = {}
        self._retired = False
        self._background: set[asyncio.Future[Any]] = set()

    # -- recovery ------------------------------------------------------------------------

    def recover(self, records: list[DurableTimer]) -> None:
        """Arm the stored timers; adopt wakeups a previous instance left in the mailbox."""
        adopted: dict[str, list[tuple[Envelope, _WakeupDone]]] = {}
        for envelope in self._cell.mailbox.user or ():
            done = envelope.on_done
            if (
                isinstance(done, _WakeupDone)
                and done.owner is not self
                and done.persistence_id == self._persistence_id
            ):
                timer_id = done.timer.timer_id
                adopted.setdefault(timer_id, []).append((envelope, done))
        now = self._loop.time()
        offset = time.time() - now
        overdue: list[_Timer] = []
        for record in records:
            timer = _Timer(
                record.timer_id,
                record.payload,
                record.interval,
                record.missed,
                record.due_at - offset,
                record.due_at,
            )
            self._timers[record.timer_id] = timer
            waiting = adopted.pop(record.timer_id, [])
            for _, done in waiting:
                done.owner = self
                done.timer = timer
                timer.queued += 1
            if waiting:
                if timer.interval is None:
                    continue  # its wakeup is already in the mailbox
                resumes = [done.resume_due for _, done in waiting if done.resume_due is not None]
                timer.due = max(resumes, default=record.due_at) - offset
            if timer.due <= now:
                overdue.append(timer)
            else:
                timer.handle = self._loop.call_at(timer.due, self._fire, timer)
        for leftovers in adopted.values():  # wakeups of timers no longer stored
            for envelope, _ in leftovers:
                self._unqueue(envelope)
        # Due already: enqueue now, so the wakeup is the first thing the recovered actor sees
        # (after what was queued before a restart), not whatever is sent once it is started.
        for timer in overdue:
            self._fire(timer)

    def retire(self) -> None:
        """This instance is gone (stopped, replaced by a restart): stop firing. Rows stay."""
        self._retired = True
        for timer in self._timers.values():
            if timer.handle is not None:
                timer.handle.cancel()
                timer.handle = None

    # -- scheduling ----------------------------------------------------------------------

    def schedule(
        self,
        delay: float,
        payload: Any,
        timer_id: str | None,
        interval: float | None,
        missed: MissedTickPolicy,
    ) -> TimerId:
        validate_timer(delay, interval, missed, timer_id)
        if timer_id is None:
            timer_id = f"durable-{secrets.token_hex(8)}"
        now = self._loop.time()
        wall = time.time()
        timer = _Timer(timer_id, payload, interval, missed, now + delay, wall + delay)
        stored = self._journal.upsert_timer(self._persistence_id, self._record(timer))
        if isinstance(stored, asyncio.Future) and stored.done() and not stored.cancelled():
            error = stored.exception()
            if error is not None:
                raise error  # e.g. an unpicklable payload: refuse before anything changes
        self._drop(self._timers.pop(timer_id, None))
        stored_future = self._watch(stored, f"store durable timer {timer_id!r}")
        timer.handle = self._loop.call_at(timer.due, self._fire, timer)
        self._timers[timer_id] = timer
        return TimerId(timer_id, stored_future)

    def cancel(self, timer_id: str) -> Awaitable[bool] | None:
        """Forget ``timer_id``; returns the pending row deletion, ``None`` if it was unknown."""
        timer = self._timers.pop(timer_id, None)
        if timer is None:
            return None
        self._drop(timer)
        deleted = self._journal.delete_timer(self._persistence_id, timer_id)
        return self._watch(deleted, f"delete durable timer {timer_id!r}")

    def _drop(self, timer: _Timer | None) -> None:
        if timer is None:
            return
        if timer.handle is not None:
            timer.handle.cancel()
            timer.handle = None
        if timer.queued:
            for envelope in list(self._cell.mailbox.user or ()):
                done = envelope.on_done
                if isinstance(done, _WakeupDone) and done.timer is timer:
                    self._unqueue(envelope)
            timer.queued = 0

    def _unqueue(self, envelope: Envelope) -> None:
        mailbox = self._cell.mailbox
        if mailbox.user is not None and envelope in mailbox.user:
            mailbox.user.remove(envelope)
            envelope.on_done = None
            if mailbox.space_waiters:
                mailbox.wake_space_waiter()

    def _record(self, timer: _Timer) -> DurableTimer:
        return DurableTimer(
            timer.timer_id, timer.stored_due, timer.payload, timer.interval, timer.policy
        )

    # -- firing --------------------------------------------------------------------------

    def _alive(self) -> bool:
        cell = self._cell
        return cell.actor is self._actor and (cell.state == RUNNING or cell.state == STARTING)

    def _fire(self, timer: _Timer) -> None:
        timer.handle = None
        if self._retired or self._timers.get(timer.timer_id) is not timer:
            return
        if not self._alive():
            self.retire()
            return
        interval = timer.interval
        if interval is None:
            self._enqueue(timer, 0, None)
            return
        loop = self._loop
        now = loop.time()
        offset = time.time() - now
        first_due = timer.due
        late = max(0, math.floor((now - first_due) / interval))
        count = late + 1
        if timer.policy == "skip" and late:
            timer.due = now + interval  # skip: fire once, reschedule from now
        else:
            timer.due = first_due + count * interval
        timer.handle = loop.call_at(timer.due, self._fire, timer)
        next_wall = timer.due + offset
        if timer.policy == "catch_up":
            # The bound of in-memory timers; the last wakeup carries the excess in ``missed``.
            wakeups = min(count, MAX_CATCH_UP)
            for index in range(wakeups):
                last = index == wakeups - 1
                resume = next_wall if last else first_due + (index + 1) * interval + offset
                self._enqueue(timer, count - wakeups if last else 0, resume)
            return
        if timer.queued:
            timer.missed += count  # one wakeup of this timer is still waiting: do not pile up
            return
        missed = timer.missed + count - 1
        timer.missed = 0
        self._enqueue(timer, missed if timer.policy == "coalesce" else 0, next_wall)

    def _enqueue(self, timer: _Timer, missed: int, resume_due: float | None) -> None:
        cell = self._cell
        envelope = wakeup_envelope(cell, timer.payload, timer.timer_id, missed)
        envelope.on_done = _WakeupDone(self, timer, resume_due, self._persistence_id)
        timer.queued += 1
        deliver_wakeup(
            cell, envelope, {"timer_id": timer.timer_id, "durable": True, "missed": missed}
        )

    def wakeup_done(self, done: _WakeupDone, outcome: str) -> None:
        timer = done.timer
        timer.queued = max(0, timer.queued - 1)
        if self._timers.get(timer.timer_id) is not timer:
            return  # cancelled or replaced meanwhile: its row is not ours to touch
        journal = self._journal
        if outcome == "processed":
            if timer.interval is None:
                del self._timers[timer.timer_id]
                deleted = journal.delete_timer(self._persistence_id, timer.timer_id)
                self._watch(deleted, f"delete fired durable timer {timer.timer_id!r}")
            elif done.resume_due is not None and done.resume_due > timer.stored_due:
                timer.stored_due = done.resume_due
                stored = journal.upsert_timer(self._persistence_id, self._record(timer))
                self._watch(stored, f"advance durable timer {timer.timer_id!r}")
            return
        # "failed" keeps the row for the next recovery (restart or next start) to deliver again.
        if outcome == "dropped" and not self._retired and self._alive():
            # Refused by a full mailbox or expired: offer it again, it is still due.
            if timer.interval is None and timer.handle is None:
                timer.handle = self._loop.call_later(DROP_RETRY_DELAY, self._fire, timer)
            elif timer.interval is not None:
                timer.missed += 1

    # -- background writes ---------------------------------------------------------------

    def _watch(self, operation: Awaitable[Any], what: str) -> asyncio.Future[Any]:
        """Own a write nobody may await: keep it alive and log it if it fails."""
        future = asyncio.ensure_future(operation)
        if not future.done():
            self._background.add(future)
        future.add_done_callback(lambda finished: self._written(finished, what))
        return future

    def _written(self, future: asyncio.Future[Any], what: str) -> None:
        self._background.discard(future)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._cell.kernel.logger.error(
                "%s of %r failed: %s", what, self._persistence_id, error, exc_info=error
            )
