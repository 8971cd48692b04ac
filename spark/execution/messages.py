"""Typed control messages of a :class:`~spark.execution.troupe.Troupe` pool.

``await system.ask(GetTroupeStatus(), troupe)`` returns a :class:`TroupeStatus` snapshot;
``await system.ask(UpdateTroupeSettings(max_count=4), troupe)`` changes settings at run time and
returns the new status. Both are frozen, slotted dataclasses, never magic strings.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, Literal

from spark.core.identity import ActorAddress

__all__ = [
    "ROUTINGS",
    "UNCHANGED",
    "GetTroupeStatus",
    "Routing",
    "TroupeStatus",
    "Unchanged",
    "UpdateTroupeSettings",
    "check_settings",
]

Routing = Literal["least_busy", "round_robin"]
#: Routing policies a Troupe understands.
ROUTINGS: Final = ("least_busy", "round_robin")


class Unchanged(enum.Enum):
    """Type of :data:`UNCHANGED` (an enum, so type checkers can narrow it away)."""

    UNCHANGED = "unchanged"

    def __repr__(self) -> str:
        return "UNCHANGED"


#: Default of every :class:`UpdateTroupeSettings` field: keep the current value.
UNCHANGED: Final = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class GetTroupeStatus:
    """Ask a Troupe for a :class:`TroupeStatus` snapshot (answered by the Troupe itself, without
    waiting for the work queued in it)."""


@dataclass(frozen=True, slots=True)
class TroupeStatus:
    """A snapshot of one Troupe.

    ``workers`` live worker actors (``busy`` of them handling at least one message, ``idle`` the
    rest); ``in_flight`` messages being handled; ``pending`` messages accepted but waiting for a
    worker. The settings are the current ones. Counters since the Troupe started:
    ``dispatched`` hand-offs to a worker (re-dispatches included), ``completed`` handled
    successfully, ``failed`` whose handler raised, ``redispatched`` handed to another worker
    because theirs exited mid-work, ``lost`` that ended without an answer and could not be
    (re-)dispatched (expired, retry budget used up, ask already over), ``refused`` turned away at
    the door (``"troupe full"``).
    """

    workers: int
    busy: int
    idle: int
    in_flight: int
    pending: int
    max_count: int
    idle_count: int
    max_pending: int | None
    routing: Routing
    idle_timeout: float
    dispatched: int
    completed: int
    failed: int
    redispatched: int
    lost: int
    refused: int
    worker_addresses: tuple[ActorAddress, ...]


@dataclass(frozen=True, slots=True)
class UpdateTroupeSettings:
    """Change a running Troupe's settings; fields left :data:`UNCHANGED` keep their value.

    ``max_pending=None`` means unbounded. Lowering ``max_count`` retires surplus workers (idle
    ones at once, busy ones when their current work is done); raising ``idle_count`` starts the
    missing workers. The reply is the new
    :class:`TroupeStatus`; an invalid combination (e.g. ``idle_count`` above ``max_count``)
    fails the ask with :class:`ValueError` and leaves the Troupe as it was.
    """

    max_count: int | Unchanged = UNCHANGED
    idle_count: int | Unchanged = UNCHANGED
    max_pending: int | Unchanged | None = UNCHANGED
    routing: Routing | Unchanged = UNCHANGED
    idle_timeout: float | Unchanged = UNCHANGED

    def __post_init__(self) -> None:
        check_settings(
            None if self.max_count is UNCHANGED else self.max_count,
            None if self.idle_count is UNCHANGED else self.idle_count,
            UNCHANGED if self.max_pending is UNCHANGED else self.max_pending,
            None if self.routing is UNCHANGED else self.routing,
            None if self.idle_timeout is UNCHANGED else self.idle_timeout,
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_settings(
    max_count: int | None,
    idle_count: int | None,
    max_pending: int | Unchanged | None,
    routing: str | None,
    idle_timeout: float | None,
) -> None:
    """Validate each given setting on its own (``None``/``UNCHANGED``: not given).

    Raises :class:`ValueError` (or :class:`TypeError` for a wrong type) naming the setting, the
    value and what is allowed. Cross-field rules (``idle_count <= max_count``) are checked where
    both values are known.
    """
    if max_count is not None:
        if not _is_int(max_count):
            raise TypeError(f"max_count must be an int >= 1, got {max_count!r}")
        if max_count < 1:
            raise ValueError(f"max_count must be >= 1, got {max_count}")
    if idle_count is not None:
        if not _is_int(idle_count):
            raise TypeError(f"idle_count must be an int >= 0, got {idle_count!r}")
        if idle_count < 0:
            raise ValueError(f"idle_count must be >= 0, got {idle_count}")
    if max_count is not None and idle_count is not None and idle_count > max_count:
        raise ValueError(
            f"idle_count={idle_count} exceeds max_count={max_count}: a Troupe cannot keep more"
            " idle workers than it may have workers"
        )
    if max_pending is not UNCHANGED and max_pending is not None:
        if not _is_int(max_pending):
            raise TypeError(f"max_pending must be an int >= 0 or None, got {max_pending!r}")
        if max_pending < 0:
            raise ValueError(f"max_pending must be >= 0 (or None for unbounded), got {max_pending}")
    if routing is not None and routing not in ROUTINGS:
        raise ValueError(f"routing={routing!r} is not one of {', '.join(ROUTINGS)}")
    if idle_timeout is not None:
        if not isinstance(idle_timeout, int | float) or isinstance(idle_timeout, bool):
            raise TypeError(f"idle_timeout must be a number of seconds, got {idle_timeout!r}")
        if not math.isfinite(idle_timeout) or idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be a finite number > 0, got {idle_timeout!r}")
