"""Backpressure with a bounded ``block`` mailbox and a ``block_timeout``.

A producer sends faster than a slow consumer can process. The consumer's mailbox holds at most
``--capacity`` messages; a send to the full mailbox waits up to ``--block-timeout`` seconds for
space and then fails with ``"mailbox full"`` (the message becomes a dead letter). Nothing is
lost silently: every message sent is either processed or counted as a dead letter.

python examples/mailbox_backpressure_timeout.py --messages 30
mailbox: max_size=4 overflow=block block_timeout=0.010s; consumer needs 0.030s per message
sent=30 delivered=... timed_out=...
processed=... dead_letters=... by_reason={'mailbox full': ...}
ask to the full mailbox: MailboxFull (mailbox full)
accounting: sent == processed + dead_letters -> ok
"""

from __future__ import annotations

import argparse
import asyncio

from spark import Actor, ActorSpec, MailboxFull, MailboxPolicy, Syndicate
from spark.core.message import Message


class SlowConsumer(Actor):
    def __init__(self, work_seconds: float, finished: asyncio.Queue[object]) -> None:
        self.work_seconds = work_seconds
        self.finished = finished

    async def process(self, message: Message) -> None:
        await asyncio.sleep(self.work_seconds)  # stands for real work
        self.finished.put_nowait(message.content)


async def main(messages: int, capacity: int, block_timeout: float, work: float) -> None:
    policy = MailboxPolicy(max_size=capacity, overflow="block", block_timeout=block_timeout)
    print(
        f"mailbox: max_size={capacity} overflow=block block_timeout={block_timeout:.3f}s;"
        f" consumer needs {work:.3f}s per message"
    )
    async with Syndicate("backpressure") as system:
        finished: asyncio.Queue[object] = asyncio.Queue()
        spec = ActorSpec(SlowConsumer, (work, finished), mailbox_policy=policy)
        consumer = await system.create_actor_from_spec(spec)
        delivered = timed_out = 0
        for number in range(messages):
            # A full mailbox makes this await: the producer is slowed to the consumer's pace,
            # and gives up on a message after block_timeout.
            result = await system.tell(number, consumer)
            if result.success:
                delivered += 1
            else:
                assert result.reason == "mailbox full", result.reason
                timed_out += 1
        print(f"sent={messages} delivered={delivered} timed_out={timed_out}")

        # Let the consumer drain, then read the books.
        for _ in range(delivered):
            await finished.get()
        diagnostics = system.diagnostics()
        processed = diagnostics.actor(consumer).processed
        by_reason = dict(diagnostics.dead_letters_by_reason)
        print(
            f"processed={processed} dead_letters={diagnostics.dead_letter_count}"
            f" by_reason={by_reason}"
        )

        # An ask is refused the same way (its timeout also bounds the wait for space).
        for number in range(capacity + 1):
            await system.tell(("fill", number), consumer)
        try:
            await system.ask("question", consumer, timeout=block_timeout)
        except MailboxFull as error:
            print(f"ask to the full mailbox: {type(error).__name__} ({error.reason})")
        ok = messages == processed + timed_out
        print(f"accounting: sent == processed + dead_letters -> {'ok' if ok else 'MISMATCH'}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A producer outpaces a slow actor whose bounded mailbox blocks senders."
    )
    parser.add_argument("--messages", type=int, default=30, help="messages to send (default 30)")
    parser.add_argument("--capacity", type=int, default=4, help="mailbox max_size (default 4)")
    parser.add_argument(
        "--block-timeout",
        type=float,
        default=0.01,
        help="seconds a send waits for space before failing (default 0.01)",
    )
    parser.add_argument(
        "--work", type=float, default=0.03, help="seconds per message in the consumer"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.messages, args.capacity, args.block_timeout, args.work))
