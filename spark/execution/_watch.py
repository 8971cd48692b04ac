"""Internal: learn when an actor stops for good, even when it is killed.

A kill (a stop that outlived ``stop_timeout``) skips ``post_stop``, but what an extension holds
for the actor — a Troupe's queued work, a process actor's recipe in the workers — must still be
released, and queued work dead-lettered rather than lost silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from spark.core.actor import Actor

__all__ = ["when_stopped"]


def when_stopped(actor: Actor, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once ``actor``'s cell stopped for good (orderly stop or kill)."""
    cell = actor._spark_cell
    if cell is None:
        return
    stopped = cell.stopped
    if stopped is None:
        # The same future the runtime resolves when the cell is finalized (see wait_stopped).
        stopped = cell.stopped = cell.kernel.loop.create_future()

    def fire(_: asyncio.Future[None]) -> None:
        callback()

    stopped.add_done_callback(fire)
