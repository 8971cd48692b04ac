"""Monitors (death watch) and links with trap_exits: the full matrix."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorExited,
    ActorFailed,
    ActorNotFound,
    Syndicate,
)
from spark.core.message import Message
from tests.conftest import wait_until


class Peer(Actor):
    """Records ActorExited notices; "crash" raises (default strategy: stop, exit code 1)."""

    def __init__(self) -> None:
        self.notices: list[ActorExited] = []

    async def process(self, message: Message) -> Any:
        content = message.content
        if isinstance(content, ActorExited):
            self.notices.append(content)
            return None
        if content == "crash":
            raise RuntimeError("peer crashed")
        if content == "notices":
            return list(self.notices)
        if isinstance(content, tuple) and content[0] == "monitor":
            await self.monitor(content[1])
            return "watching"
        if isinstance(content, tuple) and content[0] == "demonitor":
            self.demonitor(content[1])
            return "not watching"
        if isinstance(content, tuple) and content[0] == "link":
            await self.link(content[1])
            return "linked"
        return content


class Trapper(Peer):
    trap_exits: ClassVar[bool] = True


async def exit_of(system: Syndicate, address: ActorAddress, how: str) -> None:
    if how == "normal":
        await system.stop(address)
    else:
        with pytest.raises(ActorFailed):
            await system.ask("crash", address)


def alive(system: Syndicate, address: ActorAddress) -> bool:
    return any(entry.address == address for entry in system.diagnostics().actors)


@pytest.mark.parametrize("how", ["normal", "abnormal"])
@pytest.mark.parametrize("trapping", [False, True])
async def test_link_matrix(system: Syndicate, how: str, trapping: bool) -> None:
    dying = await system.create_actor(Peer)
    survivor = await system.create_actor(Trapper if trapping else Peer)
    await system.link(dying, survivor)
    await system.monitor(survivor)
    await exit_of(system, dying, how)
    if trapping:

        async def noticed() -> bool:
            return len(await system.ask("notices", survivor)) == 1

        await wait_until(noticed)
        (notice,) = await system.ask("notices", survivor)
        assert notice.actor == dying
        assert notice.exit_code == (0 if how == "normal" else 1)
        assert alive(system, survivor)
    elif how == "normal":
        assert await system.ask("still here?", survivor) == "still here?"
    else:
        exited = (await system.receive(timeout=2)).content
        assert exited.actor == survivor
        assert exited.reason == "linked actor exited: handler failed: RuntimeError('peer crashed')"
        assert exited.exit_code == 1


async def test_abnormal_exit_propagates_along_a_chain_of_links(system: Syndicate) -> None:
    a, b, c = [await system.create_actor(Peer) for _ in range(3)]
    await system.link(a, b)
    await system.link(b, c)
    await system.monitor(c)
    await exit_of(system, a, "abnormal")
    exited = (await system.receive(timeout=2)).content
    assert exited.actor == c
    assert exited.reason.startswith("linked actor exited: linked actor exited:")
    await wait_until(lambda: system.diagnostics().actor_count == 0)


async def test_unlink_stops_propagation(system: Syndicate) -> None:
    a = await system.create_actor(Peer)
    b = await system.create_actor(Peer)
    await system.link(a, b)
    await system.unlink(a, b)
    await exit_of(system, a, "abnormal")
    assert await system.ask("ok", b) == "ok"


async def test_link_refuses_dead_targets_and_self(system: Syndicate) -> None:
    a = await system.create_actor(Peer)
    b = await system.create_actor(Peer)
    await system.stop(b)
    with pytest.raises(ActorNotFound, match="not a live"):
        await system.link(a, b)
    with pytest.raises(ValueError, match="itself"):
        await system.link(a, a)


async def test_monitor_delivers_exactly_one_notice(system: Syndicate) -> None:
    watched = await system.create_actor(Peer)
    watcher = await system.create_actor(Peer)
    assert await system.ask(("monitor", watched), watcher) == "watching"
    assert await system.ask(("monitor", watched), watcher) == "watching"  # idempotent
    await system.monitor(watched)
    await system.stop(watched, reason="retired")

    async def noticed() -> bool:
        return len(await system.ask("notices", watcher)) >= 1

    await wait_until(noticed)
    assert await system.ask("notices", watcher) == [ActorExited(watched, "retired", 0)]
    assert (await system.receive(timeout=1)).content == ActorExited(watched, "retired", 0)
    await system.create_actor(Peer)  # more activity: still no second notice
    assert await system.ask("notices", watcher) == [ActorExited(watched, "retired", 0)]


async def test_monitoring_a_dead_or_unknown_actor_notifies_at_once(system: Syndicate) -> None:
    gone = await system.create_actor(Peer)
    await system.stop(gone)
    await system.monitor(gone)
    notice = (await system.receive(timeout=1)).content
    assert notice == ActorExited(gone, "not found", 1)
    ghost = ActorAddress(system.syndicate_id, 987654)
    await system.monitor(ghost)
    assert (await system.receive(timeout=1)).content.reason == "not found"


async def test_demonitor_cancels_the_notice(system: Syndicate) -> None:
    watched = await system.create_actor(Peer)
    watcher = await system.create_actor(Peer)
    await system.ask(("monitor", watched), watcher)
    await system.ask(("demonitor", watched), watcher)
    await system.stop(watched)
    await system.ask("sync", watcher)
    assert await system.ask("notices", watcher) == []


async def test_watcher_that_stops_first_leaves_no_dangling_watch(system: Syndicate) -> None:
    watched = await system.create_actor(Peer)
    watcher = await system.create_actor(Peer)
    await system.ask(("monitor", watched), watcher)
    await system.stop(watcher)
    cell = system._cells[watched.actor_id]
    assert not cell.watchers
    await system.stop(watched)


async def test_endpoint_can_monitor(system: Syndicate) -> None:
    watched = await system.create_actor(Peer)
    async with system.endpoint() as endpoint:
        await endpoint.monitor(watched)
        await system.stop(watched)
        notice = (await endpoint.receive(timeout=1)).content
        assert notice.actor == watched
