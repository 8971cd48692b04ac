"""Child process of the crash test: persist as fast as possible, print every acknowledgement.

    python tests/persistence/crash_child.py DB SYNCHRONOUS WRITERS

Each writer actor persists the events 1, 2, 3, ... (continuing after what it recovered) and
prints "<persistence_id> <sequence>" once ``persist`` returned, i.e. once the event is committed.
It runs until it is killed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from spark import Syndicate
from spark.core.message import Message
from spark.persistence import PersistentActor, SQLiteJournal


class Writer(PersistentActor):
    def apply_event(self, event: int) -> None:
        if event != self.last_sequence:
            raise AssertionError(f"event {event} stored at sequence {self.last_sequence}")

    async def process(self, message: Message) -> None:
        persistence_id = self.persistence_id
        while True:
            sequence = await self.persist(self.last_sequence + 1)
            os.write(1, f"{persistence_id} {sequence}\n".encode())


async def main(path: str, synchronous: str, writers: int) -> None:
    journal = SQLiteJournal(path, synchronous=synchronous)
    async with Syndicate("crash-child", journal=journal, owns_journal=True) as system:
        addresses = [await system.create_actor(Writer, f"writer-{n}") for n in range(writers)]
        os.write(1, b"ready\n")
        for address in addresses:
            await system.tell("go", address)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
