"""Small nodes shared by the workflow tests."""

from __future__ import annotations

import asyncio
from typing import Any

from spark.core.message import Message
from spark.workflow import Node


class Identity(Node):
    """Passes its input on unchanged."""

    def process(self, message: Message) -> Any:
        return message.content


class Const(Node):
    """Always outputs ``value``."""

    def __init__(self, value: Any, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.value = value

    def process(self, message: Message) -> Any:
        return self.value


class Tag(Node):
    """Appends ``-tag`` to a string input."""

    def __init__(self, tag: str) -> None:  # deliberately no super().__init__()
        self.tag = tag

    def process(self, message: Message) -> str:
        return f"{message.content}-{self.tag}"


class Inc(Node):
    """Adds ``step`` to a number (async on purpose)."""

    def __init__(self, step: int = 1, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.step = step

    async def process(self, message: Message) -> int:
        return int(message.content) + self.step


class Gated(Node):
    """Waits for its gate before answering ``name:input``; records when it finished."""

    def __init__(self, label: str, finished: list[str]) -> None:
        super().__init__(name=label)
        self.label = label
        self.gate = asyncio.Event()
        self.finished = finished

    async def process(self, message: Message) -> str:
        await self.gate.wait()
        self.finished.append(self.label)
        return f"{self.label}:{message.content}"


class Boom(Node):
    """Raises ``RuntimeError('boom')``."""

    def process(self, message: Message) -> Any:
        raise RuntimeError(f"boom on {message.content!r}")


class Collect(Node):
    """Records every input it receives and passes it on."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seen: list[Any] = []

    def process(self, message: Message) -> Any:
        self.seen.append(message.content)
        return message.content
