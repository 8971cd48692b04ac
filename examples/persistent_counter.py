"""A counter whose total survives restarts: run it twice and the totals add up.

python examples/persistent_counter.py --db counter.db --delta 4
added=4 total=4
recovered=4
python examples/persistent_counter.py --db counter.db --delta 4
added=4 total=8
recovered=8
"""

from __future__ import annotations

import argparse
import asyncio

from spark import Syndicate
from spark.core.message import Message
from spark.persistence import PersistentActor, SQLiteJournal


class Counter(PersistentActor):
    def __init__(self, persistence_id: str) -> None:
        # A snapshot every 100 events keeps recovery short; older events are then deleted.
        super().__init__(persistence_id, snapshot_every=100, retain_events=False)
        self.total = 0

    def apply_event(self, event: int) -> None:  # live after persist() and during recovery
        self.total += event

    def snapshot_state(self) -> int:
        return self.total

    def apply_snapshot(self, state: int) -> None:
        self.total = state

    async def process(self, message: Message) -> int:
        if message.content != "get":
            await self.persist(message.content)  # returns once the event is committed
        return self.total


async def main(db: str, delta: int) -> None:
    async with Syndicate("counter", journal=SQLiteJournal(db), owns_journal=True) as system:
        counter = await system.create_actor(Counter, "counter")
        print(f"added={delta} total={await system.ask(delta, counter)}")
    # A new syndicate on the same file, as after a restart: the counter recovers its total.
    async with Syndicate("counter", journal=SQLiteJournal(db), owns_journal=True) as system:
        counter = await system.create_actor(Counter, "counter")
        print(f"recovered={await system.ask('get', counter)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A persistent counter on a SQLite journal.")
    parser.add_argument("--db", default="counter.db", help="journal file (default: counter.db)")
    parser.add_argument("--delta", type=int, default=1, help="amount to add (default: 1)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(main(arguments.db, arguments.delta))
