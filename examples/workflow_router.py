"""Conditional routing: a score goes to the "high" or "low" branch, then both meet in a report.

python examples/workflow_router.py --score 95
route=high
result=score 95 (grade A): excellent, ship it
path=grade -> high -> report
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from spark import Syndicate
from spark.core.message import Message
from spark.workflow import Node, Workflow


class Grade(Node):
    def process(self, message: Message) -> dict[str, Any]:
        score = int(message.content)
        grade = "A" if score >= 90 else "B" if score >= 75 else "C"
        return {"score": score, "grade": grade}


class High(Node):
    def process(self, message: Message) -> dict[str, Any]:
        return {**message.content, "route": "high", "verdict": "excellent, ship it"}


class Low(Node):
    def process(self, message: Message) -> dict[str, Any]:
        return {**message.content, "route": "low", "verdict": "needs another pass"}


class Report(Node):
    def process(self, message: Message) -> dict[str, Any]:
        graded = message.content
        text = f"score {graded['score']} (grade {graded['grade']}): {graded['verdict']}"
        return {"route": graded["route"], "text": text}


def build(threshold: int) -> Workflow:
    grade = Grade(name="grade")
    high, low, report = High(name="high"), Low(name="low"), Report(name="report")
    # The threshold lives in the workflow state; the expressions read it as `state`.
    grade.goto(high, expr="$.score >= state.threshold")
    grade.on(expr="$.score < state.threshold") >> low
    [high, low] >> report  # exactly one branch fires, so the report gets a single value
    return Workflow(start=grade, initial_state={"threshold": threshold})


async def main(score: int, threshold: int) -> None:
    workflow = build(threshold)
    async with Syndicate("workflow-router") as system:
        result = await workflow.run_detailed(score, system=system, timeout=5.0)
    print(f"route={result.output['route']}")
    print(f"result={result.output['text']}")
    print(f"path={' -> '.join(result.visited)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Route a score through a workflow with a conditional edge."
    )
    parser.add_argument("--score", type=int, default=95, help="score to route (default: 95)")
    parser.add_argument(
        "--threshold", type=int, default=90, help="scores >= this go high (default: 90)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(main(arguments.score, arguments.threshold))
