"""The Journal contract, run against every journal (InMemoryJournal and SQLiteJournal)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spark import PersistenceError
from spark.persistence import (
    DurableTimer,
    InMemoryJournal,
    Journal,
    PersistedEvent,
    SQLiteJournal,
)


def events_of(items: list[PersistedEvent]) -> list[tuple[int, object]]:
    return [(item.sequence, item.event) for item in items]


async def test_implements_the_protocol(journal: Journal) -> None:
    assert isinstance(journal, Journal)


async def test_append_then_read_in_order(journal: Journal) -> None:
    await journal.append("a", 1, ["one"])
    await journal.append("a", 2, ["two", "three"])
    assert events_of(await journal.read_events("a")) == [(1, "one"), (2, "two"), (3, "three")]
    assert events_of(await journal.read_events("a", 1)) == [(2, "two"), (3, "three")]
    assert events_of(await journal.read_events("a", 1, limit=1)) == [(2, "two")]
    assert await journal.read_events("a", 3) == []
    assert await journal.highest_sequence("a") == 3


async def test_unknown_id_is_empty(journal: Journal) -> None:
    assert await journal.read_events("nobody") == []
    assert await journal.highest_sequence("nobody") == 0
    assert await journal.load_snapshot("nobody") is None
    assert await journal.list_timers("nobody") == []
    assert await journal.delete_events_to("nobody", 10) == 0
    assert await journal.delete_timer("nobody", "t") is False


async def test_ids_are_independent(journal: Journal) -> None:
    await journal.append("a", 1, ["a1"])
    await journal.append("b", 1, ["b1", "b2"])
    assert events_of(await journal.read_events("a")) == [(1, "a1")]
    assert events_of(await journal.read_events("b")) == [(1, "b1"), (2, "b2")]


async def test_structured_events_round_trip(journal: Journal) -> None:
    event = {"kind": "deposit", "amount": 12.5, "tags": ["x", "y"], "nested": {"n": None}}
    await journal.append("acct", 1, [event])
    assert (await journal.read_events("acct"))[0].event == event


async def test_a_taken_sequence_is_refused_atomically(journal: Journal) -> None:
    await journal.append("a", 1, ["one", "two"])
    with pytest.raises(PersistenceError, match="already holds sequence 2"):
        await journal.append("a", 2, ["clash", "would-be-three"])
    assert events_of(await journal.read_events("a")) == [(1, "one"), (2, "two")]
    assert await journal.highest_sequence("a") == 2
    await journal.append("a", 3, ["three"])
    assert await journal.highest_sequence("a") == 3


async def test_deleted_events_still_count_for_the_highest_sequence(journal: Journal) -> None:
    await journal.append("a", 1, ["one", "two", "three"])
    assert await journal.delete_events_to("a", 2) == 2
    assert events_of(await journal.read_events("a")) == [(3, "three")]
    assert await journal.delete_events_to("a", 3) == 1
    assert await journal.read_events("a") == []
    assert await journal.highest_sequence("a") == 3
    with pytest.raises(PersistenceError):
        await journal.append("a", 1, ["reuse"])
    await journal.append("a", 4, ["four"])
    assert events_of(await journal.read_events("a")) == [(4, "four")]


async def test_gaps_are_allowed(journal: Journal) -> None:
    await journal.append("a", 1, ["one"])
    await journal.append("a", 5, ["five"])
    assert events_of(await journal.read_events("a")) == [(1, "one"), (5, "five")]
    assert await journal.highest_sequence("a") == 5


async def test_invalid_arguments_raise_at_once(journal: Journal) -> None:
    with pytest.raises(ValueError, match="first_sequence"):
        journal.append("a", 0, ["x"])
    with pytest.raises(ValueError, match="at least one event"):
        journal.append("a", 1, [])
    with pytest.raises(ValueError, match="persistence_id"):
        journal.append("", 1, ["x"])
    assert await journal.highest_sequence("a") == 0


async def test_unserializable_event_fails_and_stores_nothing(journal: Journal) -> None:
    with pytest.raises(PersistenceError, match="cannot serialize.*another serializer="):
        await journal.append("a", 1, ["fine", threading.Lock()])
    assert await journal.read_events("a") == []
    await journal.append("a", 1, ["fine"])
    assert await journal.highest_sequence("a") == 1


class _Moved:
    """Stands for a class that was renamed after its instances were stored."""


async def test_an_undecodable_value_says_what_to_do(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    await journal.append("a", 1, [_Moved()])
    monkeypatch.delattr(sys.modules[__name__], "_Moved")
    with pytest.raises(PersistenceError, match="cannot deserialize event 1 of 'a'") as caught:
        await journal.read_events("a")
    assert "open the journal with the serializer that wrote it" in str(caught.value)


async def test_stored_values_are_isolated_from_later_mutation(journal: Journal) -> None:
    event = {"items": [1]}
    state = {"total": 1}
    await journal.append("a", 1, [event])
    await journal.save_snapshot("a", 1, state)
    event["items"].append(2)
    state["total"] = 99
    assert (await journal.read_events("a"))[0].event == {"items": [1]}
    snapshot = await journal.load_snapshot("a")
    assert snapshot is not None and snapshot.state == {"total": 1}


async def test_snapshots_keep_the_newest(journal: Journal) -> None:
    await journal.save_snapshot("a", 5, {"total": 5})
    await journal.save_snapshot("a", 3, {"total": 3})  # older: ignored
    snapshot = await journal.load_snapshot("a")
    assert snapshot is not None
    assert (snapshot.sequence, snapshot.state) == (5, {"total": 5})
    assert snapshot.saved_at > 0
    await journal.save_snapshot("a", 8, {"total": 8})
    snapshot = await journal.load_snapshot("a")
    assert snapshot is not None and snapshot.sequence == 8


async def test_timers_upsert_list_delete(journal: Journal) -> None:
    late = DurableTimer("late", 2000.0, {"p": 1})
    early = DurableTimer("early", 1000.0, "x", interval=5.0, missed="coalesce")
    await journal.upsert_timer("a", late)
    await journal.upsert_timer("a", early)
    await journal.upsert_timer("b", DurableTimer("other", 1.0))
    assert await journal.list_timers("a") == [early, late]
    moved = DurableTimer("late", 500.0, {"p": 2}, interval=1.0, missed="catch_up")
    await journal.upsert_timer("a", moved)
    assert await journal.list_timers("a") == [moved, early]
    assert await journal.delete_timer("a", "late") is True
    assert await journal.delete_timer("a", "late") is False
    assert await journal.list_timers("a") == [early]
    assert [t.timer_id for t in await journal.list_timers("b")] == ["other"]


async def test_operations_take_effect_in_call_order(journal: Journal) -> None:
    # Issued without awaiting, then a later write is awaited: the earlier one is in place too.
    first = journal.upsert_timer("a", DurableTimer("t", 1.0, "payload"))
    gone = journal.delete_timer("a", "t")
    again = journal.upsert_timer("a", DurableTimer("t", 2.0, "payload"))
    await journal.append("a", 1, ["after"])
    assert [t.due_at for t in await journal.list_timers("a")] == [2.0]
    await asyncio.gather(first, gone, again)
    assert await gone is True


async def test_concurrent_appends_of_many_ids_all_land(journal: Journal) -> None:
    async def writer(persistence_id: str) -> None:
        for sequence in range(1, 21):
            await journal.append(persistence_id, sequence, [sequence])

    await asyncio.gather(*(writer(f"id-{n}") for n in range(10)))
    for n in range(10):
        assert [e.event for e in await journal.read_events(f"id-{n}")] == list(range(1, 21))


async def test_closed_journal_refuses_everything(journal: Journal) -> None:
    await journal.append("a", 1, ["one"])
    await journal.close()
    await journal.close()  # idempotent
    for operation in (
        lambda: journal.append("a", 2, ["two"]),
        lambda: journal.read_events("a"),
        lambda: journal.highest_sequence("a"),
        lambda: journal.save_snapshot("a", 1, {}),
        lambda: journal.load_snapshot("a"),
        lambda: journal.upsert_timer("a", DurableTimer("t", 1.0)),
        lambda: journal.list_timers("a"),
        lambda: journal.delete_timer("a", "t"),
        lambda: journal.delete_events_to("a", 1),
    ):
        with pytest.raises(PersistenceError, match="closed"):
            await operation()


# -- model-based: any interleaving of appends and deletions matches a plain list -------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.sampled_from("ab"), st.integers(1, 3)),
        st.tuples(st.just("delete"), st.sampled_from("ab"), st.integers(0, 12)),
        st.tuples(st.just("clash"), st.sampled_from("ab"), st.integers(1, 3)),
    ),
    max_size=12,
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_matches_a_simple_model(
    kind: str, tmp_path: Path, operations: list[tuple[str, str, int]]
) -> None:
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "model.db"  # fresh per example

    async def scenario() -> None:
        journal: Journal = InMemoryJournal() if kind == "memory" else SQLiteJournal(path)
        model: dict[str, list[tuple[int, object]]] = {"a": [], "b": []}
        highest = {"a": 0, "b": 0}
        try:
            for operation, persistence_id, amount in operations:
                if operation == "append":
                    first = highest[persistence_id] + 1
                    batch = [f"{persistence_id}{first + n}" for n in range(amount)]
                    await journal.append(persistence_id, first, batch)
                    model[persistence_id] += [(first + n, e) for n, e in enumerate(batch)]
                    highest[persistence_id] += amount
                elif operation == "delete":
                    expected = [row for row in model[persistence_id] if row[0] <= amount]
                    deleted = await journal.delete_events_to(persistence_id, amount)
                    assert deleted == len(expected)
                    model[persistence_id] = [r for r in model[persistence_id] if r[0] > amount]
                elif highest[persistence_id]:
                    with pytest.raises(PersistenceError):
                        await journal.append(
                            persistence_id, min(amount, highest[persistence_id]), ["x"]
                        )
                for name in "ab":
                    assert events_of(await journal.read_events(name)) == model[name]
                    assert await journal.highest_sequence(name) == highest[name]
        finally:
            await journal.close()

    asyncio.run(scenario())
