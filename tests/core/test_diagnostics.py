"""diagnostics() and diagnostics_snapshot(): per-actor and system figures, pending asks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorDiagnostics,
    ActorSpec,
    MailboxPolicy,
    PendingAsk,
    RuntimeDiagnostics,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message
from tests.conftest import wait_until
from tests.core._delivery_helpers import Holder, held_actor

NOWHERE = ActorAddress("nowhere", 1)


async def test_a_blocked_actor_shows_its_depth_and_oldest_age(system: Syndicate) -> None:
    held = await held_actor(system, MailboxPolicy(max_size=3, overflow="block"))
    for value in range(3):
        await system.tell(value, held.address)
    blocked = asyncio.create_task(system.tell("waiting", held.address))
    await wait_until(
        lambda: (system.diagnostics().actor(held.address).oldest_queued_age or 0) >= 0.02
    )
    entry = system.diagnostics().actor(held.address)
    assert isinstance(entry, ActorDiagnostics)
    assert entry.mailbox_depth == 3
    assert entry.mailbox_capacity == 3
    assert entry.overflow == "block"
    assert entry.blocked_senders == 1
    assert entry.busy is True
    assert entry.state == "running"
    assert entry.oldest_queued_age is not None and entry.oldest_queued_age >= 0.02
    later = system.diagnostics().actor(held.address)
    assert later.oldest_queued_age is not None
    assert later.oldest_queued_age >= entry.oldest_queued_age  # it keeps ageing
    held.release.set()
    assert (await blocked).success
    await wait_until(lambda: system.diagnostics().actor(held.address).processed == 5)
    drained = system.diagnostics().actor(held.address)
    assert (drained.mailbox_depth, drained.oldest_queued_age, drained.blocked_senders) == (
        0,
        None,
        0,
    )
    assert drained.busy is False


async def test_pending_asks_show_who_waits_on_whom(system: Syndicate) -> None:
    held = await held_actor(system)

    class Asker(Actor):
        async def process(self, message: Message) -> Any:
            return await self.ask("nested", held.address, timeout=30)

    asker = await system.create_actor(Asker)
    outer = asyncio.create_task(system.ask("go", asker, timeout=30))
    await wait_until(lambda: len(system.diagnostics().pending_asks) == 2)
    await wait_until(lambda: min(a.age for a in system.diagnostics().pending_asks) > 0.01)
    pending = {(ask.asker, ask.target) for ask in system.diagnostics().pending_asks}
    assert pending == {(system.inbox.address, asker), (asker, held.address)}
    ask = system.diagnostics().pending_asks[0]
    assert isinstance(ask, PendingAsk) and ask.stream is False
    held.release.set()
    assert await outer == "nested"
    assert system.diagnostics().pending_asks == ()


class Worker(Actor):
    def process(self, message: Message) -> Any:
        if message.content == "fail":
            raise ValueError("bad input")
        return message.content


async def test_counters_tree_and_identity(system: Syndicate) -> None:
    class Parent(Actor):
        async def pre_start(self) -> None:
            spec = ActorSpec(Worker, supervisor_strategy=SupervisorStrategy.restart())
            await self.create_actor_from_spec(spec)

        def process(self, message: Message) -> Any:
            return self.children

    parent = await system.create_actor(Parent)
    (child,) = await system.ask("children?", parent)
    for value in range(4):
        assert await system.ask(value, child) == value
    await system.tell("fail", child)
    await wait_until(lambda: system.diagnostics().actor(child).restarts == 1)
    assert await system.ask("after restart", child) == "after restart"
    diagnostics = system.diagnostics()
    assert isinstance(diagnostics, RuntimeDiagnostics)
    assert diagnostics.actor_count == 2
    entry = diagnostics.actor(child)
    assert entry.actor_class == "Worker"
    assert entry.parent == parent
    assert diagnostics.actor(parent).children == (child,)
    assert (entry.processed, entry.failures, entry.restarts, entry.incarnation) == (5, 1, 1, 1)
    assert entry.mean_processing_time is not None and 0 < entry.mean_processing_time < 1
    assert diagnostics.dead_letters_by_reason == {"handler failed": 1}
    with pytest.raises(KeyError):
        diagnostics.actor(NOWHERE)


async def test_mean_processing_time_is_none_until_measured(system: Syndicate) -> None:
    idle = await system.create_actor(Worker)
    assert system.diagnostics().actor(idle).mean_processing_time is None
    spec = ActorSpec(Worker, stateless=True, max_concurrency=4)
    concurrent = await system.create_actor_from_spec(spec)
    assert await system.ask("x", concurrent) == "x"
    entry = system.diagnostics().actor(concurrent)
    assert entry.processed == 1 and entry.mean_processing_time is None


async def test_system_figures(system: Syndicate) -> None:
    first = system.diagnostics()
    await system.tell("x", NOWHERE)
    await wait_until(lambda: system.diagnostics().uptime > first.uptime)
    diagnostics = system.diagnostics()
    assert diagnostics.syndicate_id == system.syndicate_id
    assert diagnostics.name == "test"
    assert diagnostics.dead_letter_count == 1
    assert diagnostics.dead_letters_by_reason == {"remote route not found": 1}
    assert diagnostics.late_reply_count == 0
    assert diagnostics.event_counts == {"dead_letter": 1}


async def test_snapshot_is_json_and_has_a_status_text(system: Syndicate) -> None:
    release = asyncio.Event()
    seen: list[Any] = []
    spec = ActorSpec(Holder, (release, seen), mailbox_policy=MailboxPolicy(2, "drop_oldest"))
    address = await system.create_actor_from_spec(spec)
    await system.tell("hold", address)
    await system.tell("queued", address)
    asking = asyncio.create_task(system.ask("pending", address, timeout=30))
    await wait_until(lambda: len(system.diagnostics().pending_asks) == 1)
    await system.tell("x", NOWHERE)

    snapshot = system.diagnostics_snapshot()
    decoded = json.loads(json.dumps(snapshot))
    assert decoded["syndicate_id"] == system.syndicate_id
    assert decoded["actor_count"] == 1
    assert decoded["dead_letters_by_reason"] == {"remote route not found": 1}
    (actor,) = decoded["actors"]
    assert actor["address"] == str(address)
    assert actor["mailbox_depth"] == 2 and actor["mailbox_capacity"] == 2
    assert actor["overflow"] == "drop_oldest"
    (pending,) = decoded["pending_asks"]
    assert (pending["asker"], pending["target"]) == (str(system.inbox.address), str(address))
    assert {"transport_health", "members", "status"} <= decoded.keys()

    status = snapshot["status"]
    assert status.startswith(f"syndicate {system.syndicate_id} (test): up ")
    assert "1 actors, 1 dead letters, 0 late replies, 1 pending asks" in status
    assert "dead letters by reason: remote route not found=1" in status
    assert f"waiting: {system.inbox.address} -> {address}" in status
    assert f"{address} Holder [running, busy] inc=0 queue=2/2 drop_oldest" in status
    assert len(status.splitlines()) == len(system.diagnostics().format_status().splitlines())
    release.set()
    assert await asking == "pending"
