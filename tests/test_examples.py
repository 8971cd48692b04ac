"""Every example has --help, is listed in docs/examples.md, and the echo example runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def run_example(name: str, *args: str, timeout: float = 60) -> str:
    """Run ``examples/<name>`` with ``args``; return stdout (fails the test on non-zero exit)."""
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_has_help_and_is_documented(example: Path) -> None:
    assert "usage:" in run_example(example.name, "--help")
    index = (ROOT / "docs" / "examples.md").read_text()
    assert f"examples/{example.name}" in index, f"{example.name} is missing from docs/examples.md"


def test_basic_actor_echo_prints_ask_and_tell() -> None:
    out = run_example("basic_actor_echo.py", "--message", "hello")
    assert out.splitlines() == ["ask=echo:hello", "tell=echo:hello"]


def test_parent_child_supervision_shows_each_decision() -> None:
    out = run_example("parent_child_supervision.py", "--max-restarts", "2")
    assert out.splitlines() == [
        "restart: state before=2 after=0 incarnation=1",
        "resume: state before=2 after=3 incarnation=0",
        "escalate: supervisor restarted (incarnation=1), its worker was replaced",
        "monitor: worker exited: restart limit exceeded (exit code 1)",
    ]
