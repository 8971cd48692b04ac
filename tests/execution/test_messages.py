"""Typed Troupe control messages (spark/execution/messages.py)."""

from __future__ import annotations

import dataclasses

import pytest

from spark.execution import UNCHANGED, GetTroupeStatus, UpdateTroupeSettings


def test_update_defaults_to_unchanged_and_is_frozen() -> None:
    update = UpdateTroupeSettings(max_count=3)
    assert update.max_count == 3 and update.idle_count is UNCHANGED
    assert repr(UNCHANGED) == "UNCHANGED"
    with pytest.raises(dataclasses.FrozenInstanceError):
        update.max_count = 4  # type: ignore[misc]
    assert GetTroupeStatus() == GetTroupeStatus()


@pytest.mark.parametrize(
    ("fields", "error", "match"),
    [
        ({"max_count": 0}, ValueError, "max_count must be >= 1"),
        ({"max_count": True}, TypeError, "max_count must be an int"),
        ({"idle_count": -1}, ValueError, "idle_count must be >= 0"),
        ({"max_count": 1, "idle_count": 2}, ValueError, "exceeds max_count"),
        ({"max_pending": 1.5}, TypeError, "max_pending must be an int"),
        ({"routing": "fastest"}, ValueError, "not one of least_busy, round_robin"),
        ({"idle_timeout": float("inf")}, ValueError, "finite number > 0"),
        ({"idle_timeout": "soon"}, TypeError, "number of seconds"),
    ],
)
def test_invalid_updates_are_refused_at_construction(
    fields: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        UpdateTroupeSettings(**fields)  # type: ignore[arg-type]


def test_max_pending_none_means_unbounded_not_unchanged() -> None:
    assert UpdateTroupeSettings(max_pending=None).max_pending is None
