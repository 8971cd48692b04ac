"""The journal contract: what a durable store for persistent actors must provide.

A journal keeps, per ``persistence_id``: an ordered log of events (each with a sequence number
chosen by the actor), the latest snapshot, and the actor's durable timers. Every method is
asynchronous in the sense that it returns an awaitable; it must also *start* its work when it is
called, so that operations called one after another from one task take effect in call order even
when they are awaited later (a durable timer is stored in the background while the actor goes on
persisting; a later acknowledged write then implies the earlier one is stored too). Cancelling
the awaitable need not withdraw the operation, but whatever it did is visible to every operation
called after it: ``PersistentActor`` reads the events after a cancelled ``append`` to learn
whether they were stored.

Failures are raised as :class:`~spark.core.exceptions.PersistenceError` when awaited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from spark.core.actor import MissedTickPolicy
from spark.core.exceptions import PersistenceError

__all__ = [
    "DurableTimer",
    "Journal",
    "PersistedEvent",
    "Snapshot",
    "check_append",
    "sequence_conflict",
    "validate_persistence_id",
]


@dataclass(frozen=True, slots=True)
class PersistedEvent:
    """One stored event and its sequence number (1, 2, 3, ... per persistence id)."""

    sequence: int
    event: Any


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest saved state of an actor: it reflects every event up to ``sequence``.

    ``saved_at`` is wall-clock seconds (``time.time()``).
    """

    sequence: int
    state: Any
    saved_at: float


@dataclass(frozen=True, slots=True)
class DurableTimer:
    """A stored timer. ``due_at`` is wall-clock seconds (``time.time()``), so it survives a
    restart of the process; for a periodic timer (``interval`` set) it is the earliest tick whose
    wakeup has not been processed yet."""

    timer_id: str
    due_at: float
    payload: Any = None
    interval: float | None = None
    missed: MissedTickPolicy = "skip"


@runtime_checkable
class Journal(Protocol):
    """Storage of events, snapshots and durable timers (see the module docstring for ordering).

    Sequence numbers are assigned by the caller. ``append`` is atomic (all events or none) and
    refuses, with :class:`PersistenceError`, a ``first_sequence`` that is not greater than the
    highest sequence ever appended for that id (deleted events still count): this is how a second
    writer of the same persistence id is detected.
    """

    def append(
        self, persistence_id: str, first_sequence: int, events: Sequence[Any]
    ) -> Awaitable[None]:
        """Store ``events`` as ``first_sequence, first_sequence + 1, ...``; resolves once they
        are durable (for SQLite: once their transaction committed)."""
        ...

    def read_events(
        self, persistence_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> Awaitable[list[PersistedEvent]]:
        """Stored events with ``sequence > after_sequence``, oldest first, at most ``limit``."""
        ...

    def highest_sequence(self, persistence_id: str) -> Awaitable[int]:
        """The highest sequence ever appended (0 if none), including deleted events."""
        ...

    def delete_events_to(self, persistence_id: str, sequence: int) -> Awaitable[int]:
        """Delete events with ``sequence <= sequence``; resolves to how many were deleted."""
        ...

    def save_snapshot(self, persistence_id: str, sequence: int, state: Any) -> Awaitable[None]:
        """Store ``state`` as of ``sequence``; an older snapshot (lower sequence) is replaced, a
        newer one is kept."""
        ...

    def load_snapshot(self, persistence_id: str) -> Awaitable[Snapshot | None]:
        """The snapshot with the highest sequence, or ``None``."""
        ...

    def upsert_timer(self, persistence_id: str, timer: DurableTimer) -> Awaitable[None]:
        """Store ``timer``, replacing a timer with the same ``timer_id``."""
        ...

    def delete_timer(self, persistence_id: str, timer_id: str) -> Awaitable[bool]:
        """Delete a timer; resolves to whether it existed."""
        ...

    def list_timers(self, persistence_id: str) -> Awaitable[list[DurableTimer]]:
        """Every stored timer of ``persistence_id``, earliest due first."""
        ...

    def close(self) -> Awaitable[None]:
        """Finish pending operations and release the store; later calls fail. Idempotent."""
        ...


def validate_persistence_id(persistence_id: object) -> str:
    if not isinstance(persistence_id, str) or not persistence_id:
        raise ValueError(f"persistence_id must be a non-empty string, got {persistence_id!r}")
    return persistence_id


def check_append(persistence_id: str, first_sequence: int, events: Sequence[Any]) -> None:
    """Argument checks shared by the journals (raised at once, nothing is stored)."""
    validate_persistence_id(persistence_id)
    if (
        not isinstance(first_sequence, int)
        or isinstance(first_sequence, bool)
        or first_sequence < 1
    ):
        raise ValueError(f"first_sequence must be an int >= 1, got {first_sequence!r}")
    if not events:
        raise ValueError("append needs at least one event")


def sequence_conflict(persistence_id: str, first_sequence: int, highest: int) -> PersistenceError:
    return PersistenceError(
        f"cannot append to {persistence_id!r} at sequence {first_sequence}: the journal already"
        f" holds sequence {highest}. Another writer (an actor with the same persistence_id in"
        " another syndicate or process on this journal) appended in between: keep one live"
        " actor per persistence_id across everything sharing the journal, then restart this"
        " actor so it recovers what was written"
    )
