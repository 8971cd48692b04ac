"""Echo actor: one ask, one tell (whose reply is read from the syndicate inbox).

python examples/basic_actor_echo.py --message hello
ask=echo:hello
tell=echo:hello
"""

from __future__ import annotations

import argparse
import asyncio

from spark import Actor, Syndicate
from spark.core.message import Message


class Echo(Actor):
    async def process(self, message: Message) -> str:
        return f"echo:{message.content}"


async def main(text: str) -> None:
    async with Syndicate("echo-demo") as system:
        echo = await system.create_actor(Echo)
        # ask: send and wait for the reply.
        print(f"ask={await system.ask(text, echo)}")
        # tell: fire and forget; the reply goes to the sender, here the syndicate inbox.
        await system.tell(text, echo)
        reply = await system.receive(timeout=5.0)
        print(f"tell={reply.content}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ask and tell an echo actor.")
    parser.add_argument("--message", default="hello", help="text to send (default: hello)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args().message))
