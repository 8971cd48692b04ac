"""Shared fixtures: every test gets a fresh, started syndicate and a leak check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from spark import Syndicate


@pytest.fixture
async def system() -> AsyncIterator[Syndicate]:
    async with Syndicate("test", default_ask_timeout=5.0) as syndicate:
        yield syndicate


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, interval: float = 0.005
) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() >= give_up:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        await asyncio.sleep(interval)
