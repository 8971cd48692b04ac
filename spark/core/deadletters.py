"""Dead letters and late replies: bounded rings, counts by reason, rate-limited logging."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spark.core.identity import ActorAddress, Envelope

__all__ = ["DeadLetter", "DeadLetterOffice", "LateReply", "reason_category"]


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


class DeadLetterOffice:
    """Keeps the most recent dead letters and late replies and counts all of them.

    Logging is rate-limited: at most one WARNING summary per ``log_interval`` seconds, never one
    line per message, so an overload cannot flood the log.
    """

    def __init__(
        self,
        capacity: int,
        logger: logging.Logger,
        *,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ring: deque[DeadLetter] = deque(maxlen=capacity)
        self._late: deque[LateReply] = deque(maxlen=capacity)
        self.total = 0
        self.late_total = 0
        self.by_reason: dict[str, int] = {}
        self._logger = logger
        self._log_interval = log_interval
        self._clock = clock
        self._next_log = 0.0
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
        self.by_reason[key] = self.by_reason.get(key, 0) + 1
        self._unlogged[key] = self._unlogged.get(key, 0) + 1
        now = self._clock()
        if now >= self._next_log:
            self._next_log = now + self._log_interval
            self.flush_log()
        return letter

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
        if not unlogged or not self._logger.isEnabledFor(logging.WARNING):
            unlogged.clear()
            return
        summary = ", ".join(f"{count} {reason}" for reason, count in sorted(unlogged.items()))
        unlogged.clear()
        self._logger.warning("dead letters: %s (total %d)", summary, self.total)
