"""Workflow state: one mapping per run, copied from the workflow's initial state.

Every run gets its own deep copy of ``Workflow(initial_state=...)``, so concurrent runs never see
each other's writes. Nodes read and write it as ``message.state``; conditions read it as
``state``; ``RunResult.state`` hands it back when the run ends.

It lives in memory for the duration of one run. It is not a checkpoint: nothing is persisted, a
crashed run is not resumed and a node is not replayed. Use persistent actors
(``spark.persistence``) for state that must survive failures.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["freeze_initial_state", "fresh_state"]


def freeze_initial_state(initial_state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Copy the template once (later changes to the caller's dict do not leak into runs)."""
    if initial_state is None:
        return MappingProxyType({})
    if not isinstance(initial_state, Mapping):
        raise TypeError(f"initial_state must be a mapping or None, got {initial_state!r}")
    try:
        template = copy.deepcopy(dict(initial_state))
    except Exception as error:
        raise TypeError(
            "initial_state must be deep-copyable (each run gets its own copy);"
            f" copying it failed with {error!r}"
        ) from error
    return MappingProxyType(template)


def fresh_state(template: Mapping[str, Any]) -> dict[str, Any]:
    """The state mapping of a new run: a deep copy of the template (an empty dict if none)."""
    if not template:
        return {}
    return copy.deepcopy(dict(template))
