"""Spark: an async-first actor framework for Python.

from spark import Actor, Syndicate
from spark.core.message import Message

class Echo(Actor):
    async def process(self, message: Message) -> str:
        return f"echo:{message.content}"

async with Syndicate("app") as system:
    echo = await system.create_actor(Echo)
    print(await system.ask("hi", echo))
"""

from spark._version import __version__
from spark.core import *  # noqa: F403 - the public surface of the runtime
from spark.core import __all__ as _core_all

__all__ = ["__version__", *_core_all]
