"""Supervisor strategies: what happens to an actor whose handler raised.

A strategy is a frozen value; the runtime applies it. ``restart`` carries an intensity limit
(``max_restarts`` within ``period_seconds``, like OTP's ``intensity``/``period``), an exponential
backoff with optional jitter, and a scope (``one_for_one``, ``one_for_all``, ``rest_for_one``).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from spark.core.exceptions import InvalidActorSpecError

__all__ = [
    "DIRECTIVES",
    "SCOPES",
    "Directive",
    "RestartScope",
    "RestartWindow",
    "SupervisorStrategy",
]

Directive = Literal["stop", "resume", "escalate", "restart"]
RestartScope = Literal["one_for_one", "one_for_all", "rest_for_one"]
DIRECTIVES: Final = ("stop", "resume", "escalate", "restart")
SCOPES: Final = ("one_for_one", "one_for_all", "rest_for_one")


@dataclass(frozen=True, slots=True)
class SupervisorStrategy:
    """A supervision decision. Build one with :meth:`stop`, :meth:`resume`, :meth:`escalate` or
    :meth:`restart`."""

    directive: Directive = "stop"
    max_restarts: int = 3
    period_seconds: float = 60.0
    backoff_seconds: float = 0.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 30.0
    jitter_ratio: float = 0.0
    scope: RestartScope = "one_for_one"

    def __post_init__(self) -> None:
        if self.directive not in DIRECTIVES:
            raise InvalidActorSpecError(
                f"supervisor directive {self.directive!r} is not one of {', '.join(DIRECTIVES)}"
            )
        if self.scope not in SCOPES:
            raise InvalidActorSpecError(
                f"restart scope {self.scope!r} is not one of {', '.join(SCOPES)}"
            )
        if self.max_restarts < 0:
            raise InvalidActorSpecError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if self.period_seconds <= 0:
            raise InvalidActorSpecError(f"period_seconds must be > 0, got {self.period_seconds}")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise InvalidActorSpecError("backoff_seconds and max_backoff_seconds must be >= 0")
        if self.backoff_factor < 1:
            raise InvalidActorSpecError(f"backoff_factor must be >= 1, got {self.backoff_factor}")
        if not 0 <= self.jitter_ratio <= 1:
            raise InvalidActorSpecError(
                f"jitter_ratio must be between 0 and 1, got {self.jitter_ratio}"
            )

    @classmethod
    def stop(cls) -> SupervisorStrategy:
        """Stop the failed actor (reason ``handler failed: <exc>``, exit code 1)."""
        return cls("stop")

    @classmethod
    def resume(cls) -> SupervisorStrategy:
        """Keep the instance and its state; go on with the next message."""
        return cls("resume")

    @classmethod
    def escalate(cls) -> SupervisorStrategy:
        """Make the failure the parent's own failure, decided by the parent's supervisor."""
        return cls("escalate")

    @classmethod
    def restart(
        cls,
        max_restarts: int = 3,
        period_seconds: float = 60.0,
        backoff_seconds: float = 0.0,
        backoff_factor: float = 2.0,
        max_backoff_seconds: float = 30.0,
        jitter_ratio: float = 0.0,
        scope: RestartScope = "one_for_one",
    ) -> SupervisorStrategy:
        """Replace the instance with a fresh one built from the spec (same address, same mailbox).

        At most ``max_restarts`` restarts within ``period_seconds``; one more failure stops the
        actor with reason ``restart limit exceeded``. The n-th restart inside the window waits
        ``min(backoff_seconds * backoff_factor**(n-1), max_backoff_seconds)`` seconds, spread by
        ``± jitter_ratio``.
        """
        return cls(
            "restart",
            max_restarts=max_restarts,
            period_seconds=period_seconds,
            backoff_seconds=backoff_seconds,
            backoff_factor=backoff_factor,
            max_backoff_seconds=max_backoff_seconds,
            jitter_ratio=jitter_ratio,
            scope=scope,
        )

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """Delay before restart number ``attempt`` (1-based) inside the current window."""
        if self.backoff_seconds <= 0:
            return 0.0
        delay = min(
            self.backoff_seconds * self.backoff_factor ** max(attempt - 1, 0),
            self.max_backoff_seconds,
        )
        if self.jitter_ratio:
            delay *= 1.0 + rng.uniform(-self.jitter_ratio, self.jitter_ratio)
        return max(delay, 0.0)


class RestartWindow:
    """Sliding window of restart times used to enforce restart intensity."""

    __slots__ = ("_times",)

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def admit(self, now: float, strategy: SupervisorStrategy) -> int | None:
        """Record a restart at ``now`` if the limit allows; return its 1-based attempt number
        within the window, or ``None`` when the limit is exceeded."""
        times = self._times
        horizon = now - strategy.period_seconds
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= strategy.max_restarts:
            return None
        times.append(now)
        return len(times)

    def __len__(self) -> int:
        return len(self._times)
