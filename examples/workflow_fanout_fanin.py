"""Fan-out / fan-in: one topic goes to four researchers at once; a summary joins their findings.

python examples/workflow_fanout_fanin.py --topic phase9
topic=phase9
branches=4
1. risks: phase9 has 2 open risks
2. scope: phase9 covers 6 items
3. dependencies: phase9 waits on 1 team
4. timeline: phase9 needs 3 weeks
summary=4 findings for phase9 in branch order
"""

from __future__ import annotations

import argparse
import asyncio

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow


class Plan(Node):
    def process(self, message: Message) -> str:
        topic = str(message.content).strip().lower()
        message.state["topic"] = topic
        return topic


class Research(Node):
    """One researcher; finishes after the others when ``delay_steps`` is larger."""

    def __init__(self, aspect: str, template: str, delay_steps: int) -> None:
        super().__init__(name=aspect)
        self.aspect = aspect
        self.template = template
        self.delay_steps = delay_steps

    async def process(self, message: Message) -> str:
        for _ in range(self.delay_steps):
            await asyncio.sleep(0)  # simulated I/O: the branches finish in a different order
        message.state["finished"].append(self.aspect)
        return f"{self.aspect}: {self.template.format(topic=message.content)}"


class Summarize(Node):
    def process(self, message: Message) -> list[str]:
        findings: list[str] = message.content  # the fan-in: one list, in branch order
        return [f"{index}. {finding}" for index, finding in enumerate(findings, start=1)]


def build() -> Workflow:
    plan, summary = Plan(name="plan"), Summarize(name="summary")
    risks = Research("risks", "{topic} has 2 open risks", delay_steps=3)
    scope = Research("scope", "{topic} covers 6 items", delay_steps=0)
    dependencies = Research("dependencies", "{topic} waits on 1 team", delay_steps=2)
    timeline = Research("timeline", "{topic} needs 3 weeks", delay_steps=1)
    plan.goto(risks, priority=1)  # higher priority: first branch, first in the joined list
    plan >> [scope, dependencies, timeline]
    [risks, scope, dependencies, timeline] >> summary
    return Workflow(start=plan, initial_state={"finished": []})


async def main(topic: str) -> None:
    workflow = build()
    async with Syndicate("workflow-fanout") as system:
        result = await workflow.run_detailed(topic, system=system, timeout=5.0)
    print(f"topic={result.state['topic']}")
    print(f"branches={len(result.state['finished'])}")
    for line in result.output:
        print(line)
    print(f"summary={len(result.output)} findings for {result.state['topic']} in branch order")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fan a topic out to four researcher nodes and join their findings."
    )
    parser.add_argument("--topic", default="phase9", help="topic to research (default: phase9)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args().topic))
