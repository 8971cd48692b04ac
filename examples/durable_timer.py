"""A durable timer fires even though the syndicate that scheduled it was shut down.

python examples/durable_timer.py --db reminders.db
scheduled=reminder in 0.5 s; shutting down before it is due
recovered timers=1
fired=True
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from spark import Syndicate
from spark.core.events import RuntimeEvent
from spark.core.message import Message
from spark.core.messages import WakeupMessage
from spark.persistence import PersistentActor, SQLiteJournal


class Reminder(PersistentActor):
    def __init__(self, persistence_id: str, fired: asyncio.Event) -> None:
        super().__init__(persistence_id)
        self.fired = fired

    def apply_event(self, event: Any) -> None:
        return None  # this actor keeps no event-sourced state, only a durable timer

    async def process(self, message: Message) -> Any:
        if isinstance(message.content, WakeupMessage):
            self.fired.set()  # once this returns, the timer row is deleted (at-least-once)
            return None
        # Awaiting the timer id waits until the timer is stored in the journal.
        return await self.schedule_after(
            message.content, "wake up", durable=True, timer_id="reminder"
        )


def report_recovery(event: RuntimeEvent) -> None:
    print(f"recovered timers={event.fields['timers']}")


async def main(db: str, delay: float, timeout: float) -> bool:
    async with Syndicate("reminders", journal=SQLiteJournal(db), owns_journal=True) as system:
        reminder = await system.create_actor(Reminder, "reminder", asyncio.Event())
        timer_id = await system.ask(delay, reminder)
        print(f"scheduled={timer_id} in {delay:g} s; shutting down before it is due")
    # A new syndicate on the same file, as after a restart or a crash.
    fired = asyncio.Event()
    async with Syndicate("reminders", journal=SQLiteJournal(db), owns_journal=True) as system:
        system.subscribe(report_recovery, kinds="journal_recovered")
        await system.create_actor(Reminder, "reminder", fired)
        try:
            await asyncio.wait_for(fired.wait(), timeout)
        except TimeoutError:
            pass
    print(f"fired={fired.is_set()}")
    return fired.is_set()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A durable timer that survives a restart.")
    parser.add_argument("--db", default="reminders.db", help="journal file (default: reminders.db)")
    parser.add_argument("--delay", type=float, default=0.5, help="timer delay in seconds")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for it")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    sys.exit(0 if asyncio.run(main(arguments.db, arguments.delay, arguments.timeout)) else 1)
