"""Randomized fault injection into supervision trees (hypothesis).

Each example builds a random tree (depth <= 3, random strategies per child), subscribes a
monitor to every actor that ever starts, then crashes or stops random live actors. After the
tree settles it checks the invariants:

* every actor that died produced exactly one ActorExited notice; live ones produced none;
* the registry is a tree: every registered actor's parent is registered and lists it;
* no actor restarted (for its own failures) more often than its strategy's max_restarts;
* after shutdown no actor is registered and no task is left behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark import (
    Actor,
    ActorExited,
    ActorFailed,
    ActorSpec,
    MessageDeliveryError,
    RuntimeEvent,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message

MAX_RESTARTS = 3


@dataclass(frozen=True)
class Plan:
    strategy: SupervisorStrategy
    children: tuple[Plan, ...] = field(default=())


strategies = st.sampled_from(
    [
        SupervisorStrategy.stop(),
        SupervisorStrategy.resume(),
        SupervisorStrategy.escalate(),
        SupervisorStrategy.restart(max_restarts=MAX_RESTARTS, period_seconds=60),
        SupervisorStrategy.restart(
            max_restarts=MAX_RESTARTS, period_seconds=60, scope="one_for_all"
        ),
        SupervisorStrategy.restart(
            max_restarts=MAX_RESTARTS, period_seconds=60, scope="rest_for_one"
        ),
    ]
)
plans = st.recursive(
    strategies.map(Plan),
    lambda inner: st.builds(Plan, strategies, st.lists(inner, max_size=3).map(tuple)),
    max_leaves=8,
)
operations = st.lists(
    st.tuples(st.sampled_from(["crash", "stop"]), st.integers(min_value=0, max_value=1000)),
    min_size=1,
    max_size=12,
)


class TreeNode(Actor):
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    async def pre_start(self) -> None:
        for child in self.plan.children:
            await self.create_actor_from_spec(
                ActorSpec(TreeNode, (child,), supervisor_strategy=child.strategy)
            )

    def process(self, message: Message) -> Any:
        if message.content == "crash":
            raise RuntimeError("injected fault")
        return "ok"


async def settle(system: Syndicate) -> None:
    for _ in range(3):  # a stop can trigger link/parent work after the first drain
        assert await system._drain(timeout=10)
        await asyncio.sleep(0)


async def scenario(plan: Plan, ops: list[tuple[str, int]]) -> None:
    before = set(asyncio.all_tasks())
    system = Syndicate("faults")
    await system.start()
    endpoint = system.endpoint()
    started: list[Any] = []

    def watch(event: RuntimeEvent) -> None:
        assert event.actor is not None
        started.append(event.actor)
        system._monitor(event.actor, endpoint.address)

    system.subscribe(watch, kinds=["actor_started"])
    await system.create_actor_from_spec(
        ActorSpec(TreeNode, (plan,), supervisor_strategy=plan.strategy)
    )
    await settle(system)
    for action, pick in ops:
        live = sorted(system._cells.values(), key=lambda cell: cell.address.actor_id)
        if not live:
            break
        target = live[pick % len(live)].address
        if action == "crash":
            try:
                await system.ask("crash", target, timeout=5)
            except (ActorFailed, MessageDeliveryError):
                pass
        else:
            await system.stop(target)
        await settle(system)

    # 1. exactly one notice per death, none for the living
    notices: Counter[Any] = Counter()
    while len(endpoint._inbox):
        notice = (await endpoint.receive(timeout=1)).content
        assert isinstance(notice, ActorExited)
        notices[notice.actor] += 1
    live_addresses = {cell.address for cell in system._cells.values()}
    for address in started:
        expected = 0 if address in live_addresses else 1
        assert notices[address] == expected, (address, notices[address], expected)
    # 2. the registry is a tree
    for cell in system._cells.values():
        if cell.parent is not None:
            assert cell.parent.address in live_addresses
            assert cell in (cell.parent.children or {})
        else:
            assert cell in system.top_level
    # 3. restart intensity: own-failure restarts never exceed the limit
    restarts = Counter(
        event.actor
        for event in system.events
        if event.kind == "supervision_decision" and event.fields["directive"] == "restart"
    )
    assert all(count <= MAX_RESTARTS for count in restarts.values()), restarts
    # 4. nothing left after shutdown
    await system.shutdown()
    assert system._cells == {}
    await asyncio.sleep(0)
    leftover = {task for task in asyncio.all_tasks() - before if not task.done()}
    leftover.discard(asyncio.current_task())  # type: ignore[arg-type]
    assert leftover == set()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(plan=plans, ops=operations)
def test_random_faults_keep_the_supervision_invariants(
    plan: Plan, ops: list[tuple[str, int]]
) -> None:
    asyncio.run(scenario(plan, ops))
