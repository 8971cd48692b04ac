"""Thread and process execution of stateless actors, and ``Troupe`` pools.

``ActorSpec(MyActor, execution="thread" | "process", stateless=True)`` runs ``process()`` (a
plain ``def``) off the event loop; ``Troupe`` puts one address in front of a pool of workers.
See the "Execution and pools" section of ``docs/actor_overview.md``.
"""

from spark.execution.backends import (
    ProcessBackend,
    ProcessPoolStatistics,
    ThreadBackend,
    ThreadPoolStatistics,
    configure_execution,
)
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
