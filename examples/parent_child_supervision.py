"""Supervision in action: restart, resume, escalate, and a monitor.

python examples/parent_child_supervision.py
restart: state before=2 after=0 incarnation=1
resume: state before=2 after=3 incarnation=0
escalate: supervisor restarted (incarnation=1), its worker was replaced
monitor: worker exited: restart limit exceeded (exit code 1)
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, ClassVar

from spark import Actor, ActorAddress, ActorFailed, ActorSpec, SupervisorStrategy, Syndicate
from spark.core.message import Message


class Worker(Actor):
    """Counts "work" messages; "fail" raises, "state" reports (count, incarnation)."""

    def __init__(self) -> None:
        self.count = 0

    def process(self, message: Message) -> Any:
        if message.content == "fail":
            raise RuntimeError("worker failed on purpose")
        if message.content == "state":
            return (self.count, self.incarnation)
        self.count += 1
        return self.count


class Team(Actor):
    """A supervisor whose children escalate to it; it is restarted by its own spec."""

    supervisor_strategy: ClassVar[SupervisorStrategy | None] = SupervisorStrategy.escalate()

    async def pre_start(self) -> None:
        await self.create_actor(Worker)

    def process(self, message: Message) -> Any:
        return self.children


async def fail(system: Syndicate, address: ActorAddress) -> None:
    try:
        await system.ask("fail", address)
    except ActorFailed:
        pass  # the asker learns of the failure at once; supervision takes it from there


async def demo(max_restarts: int) -> None:
    async with Syndicate("supervision-demo") as system:
        # restart: a fresh instance (state reset) at the same address.
        restarting = await system.create_actor_from_spec(
            ActorSpec(Worker, supervisor_strategy=SupervisorStrategy.restart())
        )
        await system.ask("work", restarting)
        before = await system.ask("work", restarting)
        await fail(system, restarting)
        after, incarnation = await system.ask("state", restarting)
        print(f"restart: state before={before} after={after} incarnation={incarnation}")

        # resume: the same instance keeps its state.
        resuming = await system.create_actor_from_spec(
            ActorSpec(Worker, supervisor_strategy=SupervisorStrategy.resume())
        )
        await system.ask("work", resuming)
        before = await system.ask("work", resuming)
        await fail(system, resuming)
        after = await system.ask("work", resuming)
        _, incarnation = await system.ask("state", resuming)
        print(f"resume: state before={before} after={after} incarnation={incarnation}")

        # escalate: the worker's failure becomes the team's; the team's spec restarts it,
        # which replaces its children.
        team = await system.create_actor_from_spec(
            ActorSpec(Team, supervisor_strategy=SupervisorStrategy.restart())
        )
        (worker,) = await system.ask("children", team)
        await fail(system, worker)
        for _ in range(200):
            children = await system.ask("children", team)
            if children and children[0] != worker:
                break
            await asyncio.sleep(0.01)
        team_incarnation = system.diagnostics().actor(team).incarnation
        print(
            f"escalate: supervisor restarted (incarnation={team_incarnation}),"
            f" its worker was {'replaced' if children[0] != worker else 'kept'}"
        )

        # monitor: death watch delivers one ActorExited to the syndicate inbox.
        limited = await system.create_actor_from_spec(
            ActorSpec(
                Worker,
                supervisor_strategy=SupervisorStrategy.restart(
                    max_restarts=max_restarts, period_seconds=60
                ),
            )
        )
        await system.monitor(limited)
        for _ in range(max_restarts + 1):
            await fail(system, limited)
        notice = (await system.receive(timeout=5)).content
        print(f"monitor: worker exited: {notice.reason} (exit code {notice.exit_code})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Show restart, resume, escalate and monitor.")
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=2,
        help="restart intensity of the monitored worker (default: 2)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(demo(parse_args().max_restarts))
