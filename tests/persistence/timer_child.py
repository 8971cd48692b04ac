"""Child process of the durable-timer crash test.

    python tests/persistence/timer_child.py DB DELAY|- hang|return

With a DELAY it schedules the durable timer "reminder" and prints "stored" once the awaited
``schedule_after`` returned. Its wakeup handler prints "woke reminder", then hangs (to be
killed inside the handler) or returns; then the child shuts down and prints "deleted" if the
timer row is gone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from spark import Syndicate
from spark.core.message import Message
from spark.core.messages import WakeupMessage
from spark.persistence import PersistentActor, SQLiteJournal


def say(line: str) -> None:
    os.write(1, f"{line}\n".encode())


class Reminder(PersistentActor):
    def __init__(self, persistence_id: str, hang: bool, handled: asyncio.Event) -> None:
        super().__init__(persistence_id)
        self.hang = hang
        self.handled = handled

    def apply_event(self, event: Any) -> None:
        return None

    async def process(self, message: Message) -> Any:
        if isinstance(message.content, WakeupMessage):
            say(f"woke {message.content.timer_id}")
            if self.hang:
                await asyncio.Event().wait()
            self.handled.set()
            return None
        return await self.schedule_after(
            message.content, "payload", durable=True, timer_id="reminder"
        )


async def main(path: str, delay: str, then: str) -> None:
    handled = asyncio.Event()
    async with Syndicate("timer-child", journal=SQLiteJournal(path), owns_journal=True) as system:
        reminder = await system.create_actor(Reminder, "reminder", then == "hang", handled)
        if delay != "-":
            await system.ask(float(delay), reminder)
            say("stored")
        await handled.wait()  # killed before, in "hang" mode
    # Shutdown closed the journal, which commits the row deletion queued after the wakeup.
    journal = SQLiteJournal(path)
    try:
        if not await journal.list_timers("reminder"):
            say("deleted")
    finally:
        await journal.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
