"""``InMemoryJournal``: the journal contract kept in a few dicts, for tests and prototypes.

Nothing survives the process. By default every value is copied through the serializer (pickle)
on the way in and out, so a stored event or snapshot is isolated from later mutation and an
unpicklable event fails here just as it would with :class:`~spark.persistence.SQLiteJournal`.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from spark.core.exceptions import PersistenceError
from spark.persistence.journal import (
    DurableTimer,
    PersistedEvent,
    Snapshot,
    check_append,
    sequence_conflict,
    validate_persistence_id,
)
from spark.persistence.serializers import PickleSerializer, Serializer, dump, load

__all__ = ["InMemoryJournal"]

T = TypeVar("T")


def _resolved(value: T) -> asyncio.Future[T]:
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _failed(error: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(error)
    return future


class InMemoryJournal:
    """Process-local journal. ``copy=False`` stores references instead of serialized copies."""

    def __init__(self, *, serializer: Serializer | None = None, copy: bool = True) -> None:
        self.serializer: Serializer = serializer if serializer is not None else PickleSerializer()
        self.copy = copy
        self._closed = False
        self._events: dict[str, list[tuple[int, Any]]] = {}
        self._highest: dict[str, int] = {}
        self._snapshots: dict[str, tuple[int, Any, float]] = {}
        self._timers: dict[str, dict[str, tuple[DurableTimer, Any]]] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<InMemoryJournal {state} ids={len(self._highest)}>"

    # -- helpers -------------------------------------------------------------------------

    def _check_open(self) -> PersistenceError | None:
        if self._closed:
            return PersistenceError("the InMemoryJournal is closed; create a new journal")
        return None

    def _dump(self, value: Any, what: str) -> Any:
        return dump(self.serializer, value, what) if self.copy else value

    def _load(self, stored: Any, what: str) -> Any:
        return load(self.serializer, stored, what) if self.copy else stored

    # -- events --------------------------------------------------------------------------

    def append(
        self, persistence_id: str, first_sequence: int, events: Sequence[Any]
    ) -> asyncio.Future[None]:
        check_append(persistence_id, first_sequence, events)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        highest = self._highest.get(persistence_id, 0)
        if first_sequence <= highest:
            return _failed(sequence_conflict(persistence_id, first_sequence, highest))
        try:
            rows = [
                (first_sequence + offset, self._dump(event, f"event of {persistence_id!r}"))
                for offset, event in enumerate(events)
            ]
        except PersistenceError as failure:
            return _failed(failure)
        self._events.setdefault(persistence_id, []).extend(rows)
        self._highest[persistence_id] = rows[-1][0]
        return _resolved(None)

    def read_events(
        self, persistence_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> asyncio.Future[list[PersistedEvent]]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        rows = self._events.get(persistence_id, [])
        start = bisect.bisect_right(rows, after_sequence, key=lambda row: row[0])
        stop = len(rows) if limit is None else min(len(rows), start + max(limit, 0))
        try:
            found = [
                PersistedEvent(
                    sequence, self._load(stored, f"event {sequence} of {persistence_id!r}")
                )
                for sequence, stored in rows[start:stop]
            ]
        except PersistenceError as failure:
            return _failed(failure)
        return _resolved(found)

    def highest_sequence(self, persistence_id: str) -> asyncio.Future[int]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        return _resolved(self._highest.get(persistence_id, 0))

    def delete_events_to(self, persistence_id: str, sequence: int) -> asyncio.Future[int]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        rows = self._events.get(persistence_id)
        if not rows:
            return _resolved(0)
        keep = bisect.bisect_right(rows, sequence, key=lambda row: row[0])
        del rows[:keep]
        return _resolved(keep)

    # -- snapshots -----------------------------------------------------------------------

    def save_snapshot(self, persistence_id: str, sequence: int, state: Any) -> asyncio.Future[None]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        try:
            stored = self._dump(state, f"snapshot of {persistence_id!r}")
        except PersistenceError as failure:
            return _failed(failure)
        current = self._snapshots.get(persistence_id)
        if current is None or current[0] <= sequence:
            self._snapshots[persistence_id] = (sequence, stored, time.time())
        return _resolved(None)

    def load_snapshot(self, persistence_id: str) -> asyncio.Future[Snapshot | None]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        current = self._snapshots.get(persistence_id)
        if current is None:
            return _resolved(None)
        sequence, stored, saved_at = current
        try:
            state = self._load(stored, f"snapshot of {persistence_id!r}")
        except PersistenceError as failure:
            return _failed(failure)
        return _resolved(Snapshot(sequence, state, saved_at))

    # -- durable timers ------------------------------------------------------------------

    def upsert_timer(self, persistence_id: str, timer: DurableTimer) -> asyncio.Future[None]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        try:
            stored = self._dump(timer.payload, f"payload of timer {timer.timer_id!r}")
        except PersistenceError as failure:
            return _failed(failure)
        self._timers.setdefault(persistence_id, {})[timer.timer_id] = (timer, stored)
        return _resolved(None)

    def delete_timer(self, persistence_id: str, timer_id: str) -> asyncio.Future[bool]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        timers = self._timers.get(persistence_id)
        return _resolved(timers is not None and timers.pop(timer_id, None) is not None)

    def list_timers(self, persistence_id: str) -> asyncio.Future[list[DurableTimer]]:
        validate_persistence_id(persistence_id)
        error = self._check_open()
        if error is not None:
            return _failed(error)
        found = []
        try:
            for timer, stored in self._timers.get(persistence_id, {}).values():
                payload = self._load(stored, f"payload of timer {timer.timer_id!r}")
                found.append(
                    DurableTimer(
                        timer.timer_id, timer.due_at, payload, timer.interval, timer.missed
                    )
                )
        except PersistenceError as failure:
            return _failed(failure)
        found.sort(key=lambda timer: (timer.due_at, timer.timer_id))
        return _resolved(found)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> asyncio.Future[None]:
        self._closed = True
        return _resolved(None)
