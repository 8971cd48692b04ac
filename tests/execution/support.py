"""Helpers shared by the execution tests."""

from __future__ import annotations

import os
import threading
from typing import Any

from spark import Syndicate


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def spark_threads() -> list[str]:
    """Names of live threads started by Spark's execution layer."""
    return [t.name for t in threading.enumerate() if t.name.startswith("spark-")]


def process_backend(system: Syndicate) -> Any:
    from spark.execution import ProcessBackend

    backend = system.extension("execution:process", ProcessBackend)
    assert isinstance(backend, ProcessBackend)
    return backend


def open_fds() -> int:
    """How many file descriptors this process holds (pipes to workers among them)."""
    return len(os.listdir("/proc/self/fd"))
