"""Supervision: decisions, scopes, restart intensity, backoff, escalation, hook failures."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from spark import (
    Actor,
    ActorAddress,
    ActorFailed,
    ActorSpec,
    InvalidActorSpecError,
    MessageDeliveryError,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message
from tests.conftest import wait_until


class Worker(Actor):
    """Counts messages; "crash" raises; "count" reports state and incarnation."""

    log: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, label: str = "w") -> None:
        self.label = label
        self.count = 0

    def pre_start(self) -> None:
        Worker.log.append(("pre_start", self.label))

    def pre_restart(self, error: BaseException) -> None:
        Worker.log.append(("pre_restart", (self.label, str(error))))

    def post_stop(self) -> None:
        Worker.log.append(("post_stop", self.label))

    async def process(self, message: Message) -> Any:
        if message.content == "crash":
            raise RuntimeError(f"{self.label} crashed")
        if message.content == "count":
            return (self.count, self.incarnation)
        self.count += 1
        return self.count


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    Worker.log.clear()


def spec(strategy: SupervisorStrategy | None, label: str = "w", **options: Any) -> ActorSpec:
    return ActorSpec(Worker, (label,), supervisor_strategy=strategy, **options)


async def crash(system: Syndicate, address: ActorAddress) -> None:
    with pytest.raises(ActorFailed):
        await system.ask("crash", address)


def state(system: Syndicate, address: ActorAddress) -> str:
    return system.diagnostics().actor(address).state


async def test_default_decision_is_stop(system: Syndicate) -> None:
    worker = await system.create_actor(Worker)
    await system.monitor(worker)
    await crash(system, worker)
    exited = (await system.receive(timeout=2)).content
    assert exited.actor == worker
    assert exited.reason.startswith("handler failed: RuntimeError")
    assert exited.exit_code == 1
    assert system.dead_letters[0].reason.startswith("handler failed")


async def test_resume_keeps_instance_and_state(system: Syndicate) -> None:
    worker = await system.create_actor_from_spec(spec(SupervisorStrategy.resume()))
    assert await system.ask("a", worker) == 1
    await crash(system, worker)
    assert await system.ask("b", worker) == 2
    assert await system.ask("count", worker) == (2, 0)


async def test_restart_builds_a_fresh_instance_at_the_same_address(system: Syndicate) -> None:
    worker = await system.create_actor_from_spec(spec(SupervisorStrategy.restart()))
    assert await system.ask("a", worker) == 1
    await crash(system, worker)
    assert await system.ask("count", worker) == (0, 1)
    assert ("pre_restart", ("w", "w crashed")) in Worker.log
    assert Worker.log.count(("pre_start", "w")) == 2
    diagnostics = system.diagnostics().actor(worker)
    assert diagnostics.restarts == 1 and diagnostics.incarnation == 1
    kinds = [event.kind for event in system.events]
    assert "actor_restarted" in kinds and "supervision_decision" in kinds


async def test_queued_messages_survive_a_restart(system: Syndicate) -> None:
    gate = asyncio.Event()

    class Slow(Actor):
        async def process(self, message: Message) -> Any:
            if message.content == "crash":
                await gate.wait()
                raise RuntimeError("boom")
            return message.content

    slow = await system.create_actor_from_spec(
        ActorSpec(Slow, supervisor_strategy=SupervisorStrategy.restart())
    )
    failing = asyncio.create_task(system.ask("crash", slow))
    await wait_until(lambda: system.diagnostics().actor(slow).busy)
    queued = [asyncio.create_task(system.ask(i, slow)) for i in range(5)]
    await wait_until(lambda: system.diagnostics().actor(slow).mailbox_depth == 5)
    gate.set()
    with pytest.raises(ActorFailed):
        await failing
    assert await asyncio.gather(*queued) == [0, 1, 2, 3, 4]
    assert system.diagnostics().actor(slow).incarnation == 1


async def test_wakeup_of_an_older_incarnation_is_dead_lettered(system: Syndicate) -> None:
    class Ticker(Actor):
        async def process(self, message: Message) -> Any:
            if message.content == "arm-and-crash":
                self.schedule_after(0, "old tick")
                await asyncio.sleep(0.02)  # the wakeup is queued behind us
                raise RuntimeError("crash with a wakeup queued")
            return message.content

    ticker = await system.create_actor_from_spec(
        ActorSpec(Ticker, supervisor_strategy=SupervisorStrategy.restart())
    )
    with pytest.raises(ActorFailed):
        await system.ask("arm-and-crash", ticker)
    await wait_until(lambda: any(d.reason == "stale incarnation" for d in system.dead_letters))
    assert await system.ask("alive", ticker) == "alive"


async def test_restart_intensity_stops_the_actor(system: Syndicate) -> None:
    worker = await system.create_actor_from_spec(
        spec(SupervisorStrategy.restart(max_restarts=2, period_seconds=60))
    )
    await system.monitor(worker)
    for _ in range(3):
        await crash(system, worker)
    exited = (await system.receive(timeout=2)).content
    assert exited.reason == "restart limit exceeded"
    assert exited.exit_code == 1
    assert system.diagnostics().actor_count == 0


async def test_restart_window_slides(system: Syndicate) -> None:
    period = 0.15
    worker = await system.create_actor_from_spec(
        spec(SupervisorStrategy.restart(max_restarts=2, period_seconds=period))
    )
    await crash(system, worker)
    await crash(system, worker)
    loop = asyncio.get_running_loop()
    resume_at = loop.time() + period * 1.2
    await wait_until(lambda: loop.time() >= resume_at)
    # The two earlier restarts left the window: two more are allowed.
    await crash(system, worker)
    await crash(system, worker)
    assert await system.ask("count", worker) == (0, 4)


async def test_backoff_does_not_block_a_sibling_and_keeps_messages(system: Syndicate) -> None:
    worker = await system.create_actor_from_spec(
        spec(SupervisorStrategy.restart(backoff_seconds=0.3))
    )
    sibling = await system.create_actor(Worker, "sibling")
    loop = asyncio.get_running_loop()
    await crash(system, worker)
    crashed_at = loop.time()
    queued = asyncio.create_task(system.ask("after backoff", worker))
    # The sibling answers at once while the worker backs off.
    assert await system.ask("x", sibling) == 1
    assert loop.time() - crashed_at < 0.3
    assert state(system, worker) == "suspended"
    assert await queued == 1
    assert loop.time() - crashed_at >= 0.25


def test_backoff_grows_and_is_capped() -> None:
    import random

    strategy = SupervisorStrategy.restart(
        backoff_seconds=0.1, backoff_factor=2, max_backoff_seconds=0.5
    )
    rng = random.Random(1)
    assert [strategy.backoff_delay(n, rng) for n in (1, 2, 3, 4, 5)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.5, 0.5]
    )
    jittered = SupervisorStrategy.restart(backoff_seconds=1.0, jitter_ratio=0.5)
    delays = {jittered.backoff_delay(1, rng) for _ in range(50)}
    assert all(0.5 <= delay <= 1.5 for delay in delays) and len(delays) > 1


def test_strategy_validation() -> None:
    with pytest.raises(InvalidActorSpecError, match="scope"):
        SupervisorStrategy.restart(scope="all_for_none")  # type: ignore[arg-type]
    with pytest.raises(InvalidActorSpecError, match="max_restarts"):
        SupervisorStrategy.restart(max_restarts=-1)
    with pytest.raises(InvalidActorSpecError, match="jitter"):
        SupervisorStrategy.restart(jitter_ratio=2)
    with pytest.raises(InvalidActorSpecError, match="directive"):
        SupervisorStrategy("reboot")  # type: ignore[arg-type]


class Supervisor(Actor):
    """Creates three children from specs given at construction and reports their addresses."""

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = None

    def __init__(self, child_specs: list[ActorSpec]) -> None:
        self.child_specs = child_specs
        self.restarted: list[tuple[ActorAddress, int, int, str]] = []
        self.exited: list[tuple[ActorAddress, str]] = []

    async def pre_start(self) -> None:
        for child_spec in self.child_specs:
            await self.create_actor_from_spec(child_spec)

    def on_child_restarted(
        self, child: ActorAddress, old_incarnation: int, new_incarnation: int, reason: str
    ) -> None:
        self.restarted.append((child, old_incarnation, new_incarnation, reason))

    def on_child_exited(self, child: ActorAddress, reason: str) -> None:
        self.exited.append((child, reason))

    def process(self, message: Message) -> Any:
        if message.content == "restarted":
            return list(self.restarted)
        if message.content == "exited":
            return list(self.exited)
        return self.children


def make_supervisor(strategy: SupervisorStrategy) -> type[Supervisor]:
    return type("Sup", (Supervisor,), {"supervisor_strategy": strategy})


async def incarnations(system: Syndicate, children: list[ActorAddress]) -> list[int]:
    return [system.diagnostics().actor(child).incarnation for child in children]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("one_for_one", [0, 1, 0]),
        ("one_for_all", [1, 1, 1]),
        ("rest_for_one", [0, 1, 1]),
    ],
)
async def test_restart_scopes(system: Syndicate, scope: Any, expected: list[int]) -> None:
    sup_class = make_supervisor(SupervisorStrategy.restart(scope=scope))
    specs = [ActorSpec(Worker, (label,)) for label in ("a", "b", "c")]
    sup = await system.create_actor(sup_class, specs)
    children = await system.ask("children", sup)
    await crash(system, children[1])

    async def settled() -> bool:
        return await incarnations(system, children) == expected and all(
            state(system, child) == "running" for child in children
        )

    await wait_until(settled)
    restarted = await system.ask("restarted", sup)
    assert sorted(entry[0].actor_id for entry in restarted) == sorted(
        child.actor_id for child, inc in zip(children, expected, strict=True) if inc
    )
    assert all(entry[1:3] == (0, 1) for entry in restarted)


async def test_child_spec_strategy_wins_over_parent_strategy(system: Syndicate) -> None:
    sup_class = make_supervisor(SupervisorStrategy.stop())
    specs = [spec(SupervisorStrategy.resume(), "a")]
    sup = await system.create_actor(sup_class, specs)
    (child,) = await system.ask("children", sup)
    await crash(system, child)
    assert await system.ask("count", child) == (0, 0)


async def test_parent_strategy_applies_when_child_has_none(system: Syndicate) -> None:
    sup_class = make_supervisor(SupervisorStrategy.restart())
    sup = await system.create_actor(sup_class, [ActorSpec(Worker, ("a",))])
    (child,) = await system.ask("children", sup)
    await crash(system, child)
    assert await system.ask("count", child) == (0, 1)


async def test_child_stop_is_reported_to_the_parent(system: Syndicate) -> None:
    sup = await system.create_actor(make_supervisor(SupervisorStrategy.stop()), [ActorSpec(Worker)])
    (child,) = await system.ask("children", sup)
    await crash(system, child)

    async def reported() -> bool:
        return len(await system.ask("exited", sup)) == 1

    await wait_until(reported)
    ((address, reason),) = await system.ask("exited", sup)
    assert address == child and reason.startswith("handler failed")


class Middle(Actor):
    """Level 2 of the escalation chain: escalates, owns one leaf child."""

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = SupervisorStrategy.escalate()

    async def pre_start(self) -> None:
        await self.create_actor(Worker, "leaf")

    def process(self, message: Message) -> Any:
        return self.children


class Top(Actor):
    """Level 1: its children escalate; the decision for Top comes from its own spec."""

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = SupervisorStrategy.escalate()

    async def pre_start(self) -> None:
        await self.create_actor(Middle)

    def process(self, message: Message) -> Any:
        return self.children


async def test_escalation_through_three_levels_reaches_the_top(system: Syndicate) -> None:
    # Leaf fails; Middle's class strategy (how it supervises Leaf) says escalate; Top's class
    # strategy (how it supervises Middle) says escalate; Top's own spec says escalate too, and
    # at the top level an escalation stops the actor and emits supervision_escalated.
    top = await system.create_actor_from_spec(
        ActorSpec(Top, supervisor_strategy=SupervisorStrategy.escalate())
    )
    (middle,) = await system.ask("children", top)
    (leaf,) = await system.ask("children", middle)
    await system.monitor(top)
    await crash(system, leaf)
    exited = (await system.receive(timeout=2)).content
    assert exited.actor == top
    assert "escalated by" in exited.reason
    assert system.diagnostics().actor_count == 0
    escalations = [e for e in system.events if e.kind == "supervision_escalated"]
    assert [e.actor for e in escalations] == [top]


async def test_escalation_can_end_in_a_restart_of_the_ancestor(system: Syndicate) -> None:
    top = await system.create_actor_from_spec(
        ActorSpec(Top, supervisor_strategy=SupervisorStrategy.restart())
    )
    (middle,) = await system.ask("children", top)
    (leaf,) = await system.ask("children", middle)
    await crash(system, leaf)

    async def rebuilt() -> bool:
        children = await system.ask("children", top)
        return len(children) == 1 and children[0] != middle

    await wait_until(rebuilt)
    assert system.diagnostics().actor(top).incarnation == 1
    assert system.diagnostics().actor_count == 3  # top, a new middle, a new leaf
    with pytest.raises(MessageDeliveryError):
        await system.ask("count", leaf)


async def test_escalation_resumed_by_the_grandparent_resumes_the_child(system: Syndicate) -> None:
    class Resuming(Actor):
        supervisor_strategy: ClassVar[SupervisorStrategy | None] = SupervisorStrategy.resume()

        async def pre_start(self) -> None:
            await self.create_actor(Middle)

        def process(self, message: Message) -> Any:
            return self.children

    root = await system.create_actor(Resuming)
    (middle,) = await system.ask("children", root)
    (leaf,) = await system.ask("children", middle)
    assert await system.ask("x", leaf) == 1
    await crash(system, leaf)
    assert await system.ask("y", leaf) == 2  # same instance, state kept


async def test_failing_lifecycle_hooks_are_recorded_and_never_wedge(system: Syndicate) -> None:
    class Fragile(Actor):
        def pre_restart(self, error: BaseException) -> None:
            raise RuntimeError("pre_restart broke")

        def post_stop(self) -> None:
            raise RuntimeError("post_stop broke")

        def process(self, message: Message) -> Any:
            if message.content == "crash":
                raise RuntimeError("handler broke")
            return self.incarnation

    fragile = await system.create_actor_from_spec(
        ActorSpec(Fragile, supervisor_strategy=SupervisorStrategy.restart())
    )
    with pytest.raises(ActorFailed):
        await system.ask("crash", fragile)
    assert await system.ask("inc", fragile) == 1
    await system.stop(fragile)
    hook_failures = [e.fields["hook"] for e in system.events if e.kind == "lifecycle_hook_failed"]
    assert hook_failures == ["pre_restart", "post_stop"]
    assert system.diagnostics().actor_count == 0


async def test_pre_start_failing_after_restart_counts_against_intensity(
    system: Syndicate,
) -> None:
    starts: list[int] = []

    class Flaky(Actor):
        def pre_start(self) -> None:
            starts.append(1)
            if len(starts) > 1:
                raise RuntimeError("cannot restart")

        def process(self, message: Message) -> Any:
            raise RuntimeError("always fails")

    flaky = await system.create_actor_from_spec(
        ActorSpec(Flaky, supervisor_strategy=SupervisorStrategy.restart(max_restarts=3))
    )
    await system.monitor(flaky)
    with pytest.raises(ActorFailed):
        await system.ask("x", flaky)
    exited = (await system.receive(timeout=2)).content
    assert exited.reason == "restart limit exceeded"
    assert len(starts) == 4  # the first start plus three failed restarts


async def test_a_stray_cancelled_error_is_a_handler_failure_not_a_dead_run_loop(
    system: Syndicate,
) -> None:
    class Unlucky(Actor):
        async def process(self, message: Message) -> Any:
            if message.content == "stray":
                doomed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                doomed.cancel()
                await doomed  # raises CancelledError although nobody cancelled this task
            return message.content

    unlucky = await system.create_actor_from_spec(
        ActorSpec(Unlucky, supervisor_strategy=SupervisorStrategy.resume())
    )
    failing = asyncio.create_task(system.ask("stray", unlucky))
    queued = asyncio.create_task(system.ask("queued behind it", unlucky))
    with pytest.raises(ActorFailed, match="CancelledError"):
        await failing
    assert await queued == "queued behind it"
    assert system.diagnostics().actor(unlucky).failures == 1
