"""Dead letters and late replies: bounded rings, counts by reason, rate-limited logging."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from spark.core.identity import ActorAddress, Envelope

__all__ = [
    "MAX_REASON_CATEGORIES",
    "DeadLetter",
    "DeadLetterOffice",
    "LateReply",
    "reason_category",
]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that was not (or could not be) processed, and why."""

    envelope: Envelope
    reason: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class LateReply:
    """A reply that arrived after its ask had already finished (timed out, cancelled, answered)."""

    correlation_id: int
    content: Any
    sender: ActorAddress | None
    timestamp: float


def reason_category(reason: str) -> str:
    """The stable part of a reason, used as a counting key: ``"handler failed: KeyError('x')"``
    counts as ``"handler failed"`` so counts stay bounded whatever the exception texts are."""
    head, _, _ = reason.partition(":")
    return head


#: Distinct reason categories counted individually; any further ones count as ``"other"``, so a
#: refusal reason that embeds changing numbers cannot grow the table without bound.
MAX_REASON_CATEGORIES: Final = 64

#: ``schedule(delay, callback)`` runs ``callback`` after ``delay`` seconds and returns a handle
#: with ``cancel()``, or ``None`` when it cannot schedule (no running loop).
Schedule = Callable[[float, Callable[[], None]], Any]


class DeadLetterOffice:
    """Keeps the most recent dead letters and late replies and counts all of them.

    Logging is rate-limited: the first dead letter after a quiet period is logged at once as a
    one-line WARNING summary; everything that follows within ``log_interval`` seconds is counted
    and summarised in one more line when the interval ends (``schedule`` arranges that call), so
    an overload produces one line per interval, never one per message.
    """

    def __init__(
        self,
        capacity: int,
        logger: logging.Logger,
        *,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        schedule: Schedule | None = None,
    ) -> None:
        self._ring: deque[DeadLetter] = deque(maxlen=capacity)
        self._late: deque[LateReply] = deque(maxlen=capacity)
        self.total = 0
        self.late_total = 0
        self.by_reason: dict[str, int] = {}
        self._logger = logger
        self.log_interval = log_interval
        self._clock = clock
        self._schedule = schedule
        self._next_log = 0.0
        self._pending: Any = None
        self._unlogged: dict[str, int] = {}

    @property
    def dead_letters(self) -> tuple[DeadLetter, ...]:
        return tuple(self._ring)

    @property
    def late_replies(self) -> tuple[LateReply, ...]:
        return tuple(self._late)

    def record(self, envelope: Envelope, reason: str) -> DeadLetter:
        letter = DeadLetter(envelope, reason, time.time())
        self._ring.append(letter)
        self.total += 1
        key = reason_category(reason)
        by_reason = self.by_reason
        if key not in by_reason and len(by_reason) >= MAX_REASON_CATEGORIES:
            key = "other"
        by_reason[key] = by_reason.get(key, 0) + 1
        unlogged = self._unlogged
        unlogged[key] = unlogged.get(key, 0) + 1
        if self._pending is not None:
            return letter  # a summary line is already due at the end of this interval
        now = self._clock()
        if now >= self._next_log:
            self._next_log = now + self.log_interval
            self.flush_log()
        elif self._schedule is not None:
            self._pending = self._schedule(self._next_log - now, self._scheduled_flush)
        return letter

    def _scheduled_flush(self) -> None:
        self._pending = None
        self._next_log = self._clock() + self.log_interval
        self.flush_log()

    def close(self) -> None:
        """Log what is still unlogged and cancel the pending summary (at shutdown)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.cancel()
        self.flush_log()

    def record_late(
        self, correlation_id: int, content: Any, sender: ActorAddress | None
    ) -> LateReply:
        late = LateReply(correlation_id, content, sender, time.time())
        self._late.append(late)
        self.late_total += 1
        return late

    def flush_log(self) -> None:
        """Log (once) what was dead-lettered since the last summary line."""
        unlogged = self._unlogged
        if not unlogged:
            return
        if not self._logger.isEnabledFor(logging.WARNING):
            unlogged.clear()
            return
        summary = ", ".join(f"{count} {reason}" for reason, count in sorted(unlogged.items()))
        unlogged.clear()
        self._logger.warning(
            "dead letters: %s (total %d; see Syndicate.dead_letters and diagnostics())",
            summary,
            self.total,
        )
