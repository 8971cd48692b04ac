"""Reply slots: one per pending ask, keyed by correlation id in the kernel's slot table.

No temporary actor and no uuid per ask: a slot is a future (or a queue for ``ask_stream``) plus
the envelope that started it (who asked whom, and since when — the wait-for graph).
"""

from __future__ import annotations

import asyncio
from typing import Any

from spark.core.identity import Envelope

__all__ = ["AskSlot", "StreamFailure", "StreamSlot"]


class AskSlot:
    """A single-answer slot: the first reply wins; later ones are late replies."""

    __slots__ = ("envelope", "future", "timed_out")

    def __init__(self, future: asyncio.Future[Any], envelope: Envelope) -> None:
        self.future = future
        self.envelope = envelope
        self.timed_out = False

    def offer(self, value: Any) -> bool:
        future = self.future
        if future.done():
            return False
        future.set_result(value)
        return True

    def fail(self, error: BaseException) -> bool:
        future = self.future
        if future.done():
            return False
        future.set_exception(error)
        return True

    @property
    def open(self) -> bool:
        return not self.future.done()


class StreamFailure:
    """Marks an error in a stream slot's queue."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class StreamSlot:
    """A multi-answer slot for ``ask_stream``: every reply is queued until the stream ends."""

    __slots__ = ("closed", "envelope", "queue")

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed = False

    def offer(self, value: Any) -> bool:
        if self.closed:
            return False
        self.queue.put_nowait(value)
        return True

    def fail(self, error: BaseException) -> bool:
        if self.closed:
            return False
        self.queue.put_nowait(StreamFailure(error))
        return True

    @property
    def open(self) -> bool:
        return not self.closed
