"""Thread and process execution of stateless actors, and ``Troupe`` pools.

``ActorSpec(MyActor, execution="thread" | "process", stateless=True)`` runs ``process()`` (a
plain ``def``) off the event loop; ``Troupe`` puts one address in front of a pool of workers.
See the "Execution and pools" section of ``docs/actor_overview.md``.

The backends (thread pool, worker processes) are imported on first use, so ``import spark``
does not pay for ``multiprocessing``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from spark.execution.context import WorkerContext, worker_context
from spark.execution.errors import WorkerDiedError, WorkerRestrictionError
from spark.execution.messages import (
    ROUTINGS,
    UNCHANGED,
    GetTroupeStatus,
    TroupeStatus,
    UpdateTroupeSettings,
)
from spark.execution.troupe import TROUPE_FULL, Troupe

if TYPE_CHECKING:
    from spark.execution.backends import (
        ProcessBackend,
        ProcessPoolStatistics,
        ThreadBackend,
        ThreadPoolStatistics,
        configure_execution,
    )

__all__ = [
    "ROUTINGS",
    "TROUPE_FULL",
    "UNCHANGED",
    "GetTroupeStatus",
    "ProcessBackend",
    "ProcessPoolStatistics",
    "ThreadBackend",
    "ThreadPoolStatistics",
    "Troupe",
    "TroupeStatus",
    "UpdateTroupeSettings",
    "WorkerContext",
    "WorkerDiedError",
    "WorkerRestrictionError",
    "configure_execution",
    "worker_context",
]

_LAZY = frozenset(
    {
        "ProcessBackend",
        "ProcessPoolStatistics",
        "ThreadBackend",
        "ThreadPoolStatistics",
        "configure_execution",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'spark.execution' has no attribute {name!r}")
    value = getattr(importlib.import_module("spark.execution.backends"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
