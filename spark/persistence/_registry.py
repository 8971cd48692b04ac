"""Which actor owns which persistence id, per syndicate.

Two live actors writing the same persistence id would interleave their sequence numbers and
corrupt each other's history, so a second one is refused. Ownership belongs to the actor *cell*
(it survives supervised restarts) and ends when the cell stops - however it stops: an orderly
stop, a kill, or a start aborted by a failing ``pre_start`` all run ``_spark_after_stop``,
which releases the id. Until that hook has run, an owner whose cell is already stopped does not
block a new claim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from spark.core._runtime import STOPPED
from spark.core.exceptions import ActorAlreadyExists

if TYPE_CHECKING:
    from spark.core._runtime import ActorCell
    from spark.persistence.actor import PersistentActor

__all__ = ["REGISTRY_KEY", "PersistenceRegistry"]

#: ``syndicate.extension`` key of the registry.
REGISTRY_KEY: Final = "spark.persistence:registry"


class PersistenceRegistry:
    """Live owners of persistence ids in one syndicate (built by ``syndicate.extension``)."""

    def __init__(self, syndicate: Any) -> None:
        self._owners: dict[str, tuple[ActorCell, PersistentActor]] = {}

    def claim(
        self, persistence_id: str, cell: ActorCell, actor: PersistentActor
    ) -> PersistentActor | None:
        """Make ``actor`` (running in ``cell``) the owner; returns the instance it replaces
        (the previous incarnation of the same cell, or a stale owner), if any."""
        current = self._owners.get(persistence_id)
        previous = None
        if current is not None:
            owner_cell, previous = current
            if owner_cell is not cell and owner_cell.state != STOPPED:
                raise ActorAlreadyExists(
                    f"persistence_id {persistence_id!r} is already used by the live actor"
                    f" {owner_cell.address!r}; stop that actor first, or give each actor its"
                    " own persistence_id"
                )
        self._owners[persistence_id] = (cell, actor)
        return previous

    def release(self, persistence_id: str, actor: PersistentActor) -> None:
        current = self._owners.get(persistence_id)
        if current is not None and current[1] is actor:
            del self._owners[persistence_id]

    def close(self) -> None:
        """Syndicate shutdown: every owner is stopped by now; make sure no timer fires."""
        owners, self._owners = self._owners, {}
        for _, actor in owners.values():
            actor._spark_retire()
