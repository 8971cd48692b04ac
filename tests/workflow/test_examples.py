"""The workflow examples run with real arguments and print what their docstrings promise."""

from __future__ import annotations

from tests.test_examples import run_example


def test_workflow_router_high_and_low() -> None:
    assert run_example("workflow_router.py", "--score", "95").splitlines() == [
        "route=high",
        "result=score 95 (grade A): excellent, ship it",
        "path=grade -> high -> report",
    ]
    low = run_example("workflow_router.py", "--score", "95", "--threshold", "96")
    assert low.splitlines()[0] == "route=low"


def test_workflow_fanout_fanin() -> None:
    assert run_example("workflow_fanout_fanin.py", "--topic", "phase9").splitlines() == [
        "topic=phase9",
        "branches=4",
        "1. risks: phase9 has 2 open risks",
        "2. scope: phase9 covers 6 items",
        "3. dependencies: phase9 waits on 1 team",
        "4. timeline: phase9 needs 3 weeks",
        "summary=4 findings for phase9 in branch order",
    ]
