"""Where failed deliveries go, and how to look inside a running syndicate.

Provokes one dead letter of each common kind (unknown target, expired message, full mailbox,
failing handler), one late reply, and one ask that is still pending; then prints what
``dead_letters``, ``late_replies``, an event subscription and ``diagnostics()`` report.

python examples/diagnostics_and_dead_letters.py
dead_letters=4
by_reason: handler failed=1, mailbox full=1, message expired=1, target not found=1
pending_asks=1 asker=<inbox> target=<other_slow>
slow: queue=1/1 busy=True oldest_queued_age>0=True
status:
syndicate ... (diagnostics-demo): up 0.0 s, 3 actors, 4 dead letters, 0 late replies, ...
  ...
snapshot: json ok (... bytes), keys=actor_count,actors,...
pending ask answered: slow:pending
late_replies=1 content='slow:late'
events seen by the subscriber: actor_failed=1, actor_started=3, ..., dead_letter=4, ...

The dead-letter summary lines on stderr are the rate-limited WARNING log (the last one, at
shutdown, includes Slow's reply to "queued", which nobody read from the syndicate inbox).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter

from spark import (
    Actor,
    ActorAddress,
    ActorSpec,
    ActorTimeout,
    MailboxPolicy,
    RuntimeEvent,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message


class Slow(Actor):
    """Answers only when ``release`` is set."""

    def __init__(self, release: asyncio.Event) -> None:
        self.release = release

    async def process(self, message: Message) -> str:
        await self.release.wait()
        return f"slow:{message.content}"


class Picky(Actor):
    def process(self, message: Message) -> str:
        if message.content == "bad":
            raise ValueError("cannot handle 'bad'")
        return "ok"


async def main(show_status: bool) -> None:
    async with Syndicate("diagnostics-demo") as system:
        seen: Counter[str] = Counter()

        def count(event: RuntimeEvent) -> None:
            seen[event.kind] += 1

        unsubscribe = system.subscribe(count)
        late_reply_arrived = asyncio.Event()
        system.subscribe(lambda event: late_reply_arrived.set(), kinds="late_reply")
        release = asyncio.Event()
        slow = await system.create_actor_from_spec(
            ActorSpec(Slow, (release,), mailbox_policy=MailboxPolicy(1, "reject"))
        )
        other_slow = await system.create_actor(Slow, release)
        picky = await system.create_actor_from_spec(
            ActorSpec(Picky, supervisor_strategy=SupervisorStrategy.resume())
        )

        # 1. Unknown target.
        await system.tell("hello?", ActorAddress(system.syndicate_id, 10_000))
        # 2. Expired before it could be sent.
        await system.tell("too late", picky, ttl=0)
        # 3. The ask gives up; Slow stays busy with it (its answer will be a late reply).
        try:
            await system.ask("late", slow, timeout=0.01)
        except ActorTimeout:
            pass
        # 4. Full mailbox: Slow is busy and its mailbox (max_size=1) already holds one.
        await system.tell("queued", slow)
        await system.tell("overflow", slow)
        # 5. A handler that raises (supervision resumes the actor); ask so we know it ran.
        await system.tell("bad", picky)
        await system.ask("ping", picky)
        # 6. An ask still waiting when the snapshot is taken.
        pending = asyncio.create_task(system.ask("pending", other_slow, timeout=5))
        await asyncio.sleep(0)  # let the asking task send its message

        diagnostics = system.diagnostics()
        print(f"dead_letters={diagnostics.dead_letter_count}")
        reasons = ", ".join(
            f"{reason}={number}"
            for reason, number in sorted(diagnostics.dead_letters_by_reason.items())
        )
        print(f"by_reason: {reasons}")
        for ask in diagnostics.pending_asks:
            asker = "<inbox>" if ask.asker == system.inbox.address else str(ask.asker)
            target = "<other_slow>" if ask.target == other_slow else str(ask.target)
            print(f"pending_asks={len(diagnostics.pending_asks)} asker={asker} target={target}")
        entry = diagnostics.actor(slow)
        print(
            f"slow: queue={entry.mailbox_depth}/{entry.mailbox_capacity} busy={entry.busy}"
            f" oldest_queued_age>0={(entry.oldest_queued_age or 0) > 0}"
        )
        if show_status:
            print("status:")
            print(diagnostics.format_status())
        snapshot = system.diagnostics_snapshot()
        encoded = json.dumps(snapshot)
        print(f"snapshot: json ok ({len(encoded)} bytes), keys={','.join(sorted(snapshot))}")

        release.set()
        print(f"pending ask answered: {await pending}")
        await late_reply_arrived.wait()
        late = system.late_replies[-1]
        print(f"late_replies={len(system.late_replies)} content={late.content!r}")
        unsubscribe()
        print(
            "events seen by the subscriber: "
            + ", ".join(f"{kind}={number}" for kind, number in sorted(seen.items()))
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Provoke dead letters and a late reply, then print the diagnostics."
    )
    parser.add_argument(
        "--no-status", action="store_true", help="skip the human-readable status report"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(not parse_args().no_status))
