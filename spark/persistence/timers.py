"""``TimerId``: what ``PersistentActor.schedule_after`` / ``schedule_every`` return.

A ``TimerId`` is the timer's id (a ``str``) that can also be awaited. For a durable timer,
``await`` returns once the timer row is stored in the journal (and raises
:class:`~spark.core.exceptions.PersistenceError` if storing failed); for an in-memory timer it
returns at once. Either way the result is the plain id string::

    timer_id = await self.schedule_after(60, "reminder", durable=True)
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

__all__ = ["TimerId"]


class TimerId(str):
    """A timer id that can be awaited until the timer is stored (see the module docs)."""

    _stored: asyncio.Future[Any] | None

    def __new__(cls, value: str, stored: asyncio.Future[Any] | None = None) -> TimerId:
        self = super().__new__(cls, value)
        self._stored = stored
        return self

    def __await__(self) -> Generator[Any, None, str]:
        stored = self._stored
        if stored is not None:
            # shield: a cancelled waiter must not cancel the write's future for other waiters
            yield from asyncio.shield(stored).__await__()
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        # Stored in actor state or a snapshot, a TimerId is just its id.
        return (str, (str(self),))

    @property
    def stored(self) -> bool:
        """Whether the timer is known to be stored (always true for in-memory timers)."""
        stored = self._stored
        if stored is None:
            return True
        return stored.done() and not stored.cancelled() and stored.exception() is None
