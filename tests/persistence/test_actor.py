"""PersistentActor: recovery, snapshots, deletion, identity, errors - on every journal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from spark import (
    ActorAlreadyExists,
    ActorFailed,
    ActorSpec,
    InvalidActorSpecError,
    PersistenceError,
    SupervisorStrategy,
    Syndicate,
)
from spark.core.message import Message
from spark.persistence import InMemoryJournal, Journal, PersistentActor, SQLiteJournal
from spark.persistence._registry import REGISTRY_KEY, PersistenceRegistry
from tests.conftest import wait_until
from tests.persistence.conftest import hold_writer


class Account(PersistentActor):
    def __init__(self, persistence_id: str, **options: Any) -> None:
        super().__init__(persistence_id, **options)
        self.balance = 0
        self.history: list[int] = []
        self.recovered_with: tuple[int, int] | None = None

    def apply_event(self, event: int) -> None:
        self.balance += event
        self.history.append(event)

    def snapshot_state(self) -> dict[str, Any]:
        return {"balance": self.balance, "history": self.history}

    def apply_snapshot(self, state: dict[str, Any]) -> None:
        self.balance = state["balance"]
        self.history = list(state["history"])

    def on_recovered(self) -> None:
        self.recovered_with = (self.balance, self.last_sequence)

    async def process(self, message: Message) -> Any:
        match message.content:
            case int(amount):
                await self.persist(amount)
                return self.balance
            case ("many", list(amounts)):
                return await self.persist_all(amounts)
            case "snapshot":
                return await self.save_snapshot()
            case ("delete_to", int(sequence)):
                return await self.delete_events_to(sequence)
            case "state":
                return self.balance, self.history, self.last_sequence, self.recovered_with
            case "unpicklable":
                try:
                    await self.persist(threading.Lock())
                except PersistenceError as error:
                    return f"refused: {error}"
            case "boom":
                raise RuntimeError("boom")
        return None


MakeSyndicate = Callable[..., Syndicate]


async def test_state_is_replayed_after_a_restart_of_the_syndicate(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        for amount in (1, 2, 3, 4, 5):
            await system.ask(amount, account)
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask("state", account) == (15, [1, 2, 3, 4, 5], 5, (15, 5))
        assert await system.ask(10, account) == 25
        recovered = [e for e in system.events if e.kind == "journal_recovered"]
        assert recovered[0].fields["events_replayed"] == 5
        assert recovered[0].fields["persistence_id"] == "acct"


async def test_a_supervised_restart_recovers_before_pre_start(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        spec = ActorSpec(Account, ("acct",), supervisor_strategy=SupervisorStrategy.restart())
        account = await system.create_actor_from_spec(spec)
        await system.ask(7, account)
        with pytest.raises(ActorFailed):
            await system.ask("boom", account)
        assert await system.ask("state", account) == (7, [7], 1, (7, 1))
        assert await system.ask(1, account) == 8
        assert [
            e.fields["incarnation"] for e in system.events if e.kind == "journal_recovered"
        ] == [
            0,
            1,
        ]


async def test_recovery_uses_the_snapshot_then_later_events(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        for amount in (1, 2, 3):
            await system.ask(amount, account)
        assert await system.ask("snapshot", account) == 3
        await system.ask(4, account)
        saved = [e for e in system.events if e.kind == "journal_snapshot_saved"]
        assert saved[0].fields["sequence"] == 3
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask("state", account) == (10, [1, 2, 3, 4], 4, (10, 4))
        (recovered,) = [e for e in system.events if e.kind == "journal_recovered"]
        assert recovered.fields["snapshot_sequence"] == 3
        assert recovered.fields["events_replayed"] == 1


async def test_retain_events_false_deletes_what_the_snapshot_covers(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct", retain_events=False)
        for amount in (1, 2, 3):
            await system.ask(amount, account)
        await system.ask("snapshot", account)
        await system.ask(4, account)
        journal = system.journal
        assert [e.sequence for e in await journal.read_events("acct")] == [4]
        saved = [e for e in system.events if e.kind == "journal_snapshot_saved"]
        assert saved[0].fields["events_deleted"] == 3
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask("state", account) == (10, [1, 2, 3, 4], 4, (10, 4))
        assert await system.ask(5, account) == 15  # sequences continue after the deleted ones


async def test_explicit_delete_events_to(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        for amount in (1, 2, 3):
            await system.ask(amount, account)
        await system.ask("snapshot", account)
        assert await system.ask(("delete_to", 2), account) == 2
        assert [e.sequence for e in await system.journal.read_events("acct")] == [3]
        with pytest.raises(ActorFailed, match="last persisted event is 3"):
            await system.ask(("delete_to", 9), account)


async def test_events_a_snapshot_does_not_cover_cannot_be_deleted(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        spec = ActorSpec(Account, ("acct",), supervisor_strategy=SupervisorStrategy.resume())
        account = await system.create_actor_from_spec(spec)
        for amount in (1, 2, 3):
            await system.ask(amount, account)
        with pytest.raises(ActorFailed, match=r"snapshot covers events up to 0 only"):
            await system.ask(("delete_to", 3), account)
        await system.ask("snapshot", account)
        await system.ask(4, account)
        with pytest.raises(ActorFailed, match=r"save_snapshot\(\) first"):
            await system.ask(("delete_to", 4), account)
        assert [e.sequence for e in await system.journal.read_events("acct")] == [1, 2, 3, 4]
        assert await system.ask(("delete_to", 3), account) == 3
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask("state", account) == (10, [1, 2, 3, 4], 4, (10, 4))


async def test_persist_all_is_atomic_and_applied_in_order(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask(("many", [1, 2, 3]), account) == 3
        assert await system.ask(("many", []), account) == 3
        assert await system.ask("state", account) == (6, [1, 2, 3], 3, (0, 0))


async def test_snapshot_every_saves_snapshots_automatically(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct", snapshot_every=2)
        for amount in (1, 2, 3, 4, 5):
            await system.ask(amount, account)
        snapshot = await system.journal.load_snapshot("acct")
        assert snapshot is not None and snapshot.sequence == 4
        assert snapshot.state == {"balance": 10, "history": [1, 2, 3, 4]}


async def test_a_failed_persist_applies_nothing_and_keeps_the_sequence(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        await system.ask(1, account)
        reply = await system.ask("unpicklable", account)
        assert reply.startswith("refused: cannot serialize")
        await system.ask(2, account)
        assert await system.ask("state", account) == (3, [1, 2], 2, (0, 0))
        assert [e.sequence for e in await system.journal.read_events("acct")] == [1, 2]


async def test_journal_appended_events_only_when_tracing(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "quiet")
        await system.ask(1, account)
        assert not [e for e in system.events if e.kind == "journal_appended"]
    async with make_syndicate(trace_messages=True) as system:
        account = await system.create_actor(Account, "traced")
        await system.ask(1, account)
        await system.ask(("many", [2, 3]), account)
        appended = [e.fields for e in system.events if e.kind == "journal_appended"]
        assert appended == [
            {"persistence_id": "traced", "sequence": 1, "events": 1},
            {"persistence_id": "traced", "sequence": 3, "events": 2},
        ]


async def test_recovery_reads_long_histories_in_pages(
    make_syndicate: MakeSyndicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("spark.persistence.actor.RECOVERY_PAGE", 3)
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        await system.ask(("many", list(range(1, 11))), account)
    async with make_syndicate() as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask("state", account) == (55, list(range(1, 11)), 10, (55, 10))


async def test_async_hooks_are_awaited(make_syndicate: MakeSyndicate) -> None:
    class AsyncAccount(Account):
        async def apply_event(self, event: int) -> None:  # type: ignore[override]
            self.balance += event
            self.history.append(event)

        async def on_recovered(self) -> None:  # type: ignore[override]
            self.recovered_with = (self.balance, -1)

    async with make_syndicate() as system:
        account = await system.create_actor(AsyncAccount, "acct")
        await system.ask(2, account)
    async with make_syndicate() as system:
        account = await system.create_actor(AsyncAccount, "acct")
        assert await system.ask("state", account) == (2, [2], 1, (2, -1))


# -- identity --------------------------------------------------------------------------------


async def test_two_live_actors_with_one_persistence_id_are_refused(
    make_syndicate: MakeSyndicate,
) -> None:
    async with make_syndicate() as system:
        first = await system.create_actor(Account, "acct")
        await system.ask(5, first)
        with pytest.raises(ActorAlreadyExists, match="'acct' is already used"):
            await system.create_actor(Account, "acct")
        assert await system.ask(1, first) == 6  # the first one is untouched
        other = await system.create_actor(Account, "other")
        assert await system.ask(1, other) == 1
        await system.stop(first)
        again = await system.create_actor(Account, "acct")
        assert await system.ask("state", again) == (6, [5, 1], 2, (6, 2))


async def test_a_failed_pre_start_releases_the_persistence_id(
    make_syndicate: MakeSyndicate,
) -> None:
    class BrokenStart(Account):
        def pre_start(self) -> None:
            raise RuntimeError("no start today")

    async with make_syndicate() as system:
        with pytest.raises(RuntimeError, match="no start today"):
            await system.create_actor(BrokenStart, "acct")
        registry = system.extension(REGISTRY_KEY, PersistenceRegistry)
        await wait_until(lambda: "acct" not in registry._owners)
        account = await system.create_actor(Account, "acct")
        assert await system.ask(1, account) == 1


async def test_an_actor_stopped_by_a_failed_restart_releases_its_id(
    make_syndicate: MakeSyndicate,
) -> None:
    class FailsAfterRestart(Account):
        def pre_start(self) -> None:
            if self.incarnation > 0:
                raise RuntimeError("cannot restart")

    async with make_syndicate() as system:
        spec = ActorSpec(
            FailsAfterRestart,
            ("acct",),
            supervisor_strategy=SupervisorStrategy.restart(max_restarts=1),
        )
        account = await system.create_actor_from_spec(spec)
        await system.monitor(account)
        with pytest.raises(ActorFailed):
            await system.ask("boom", account)
        exited = await system.receive(timeout=5)
        assert exited.content.actor == account
        replacement = await system.create_actor(Account, "acct")
        assert await system.ask(0, replacement) == 0


async def test_the_syndicate_closes_only_a_journal_it_owns(journal: Journal) -> None:
    async with Syndicate("borrower", journal=journal) as system:
        account = await system.create_actor(Account, "acct")
        await system.ask(1, account)
    await journal.append("acct", 2, [2])  # still open: the syndicate did not own it
    async with Syndicate("owner", journal=journal, owns_journal=True) as system:
        account = await system.create_actor(Account, "acct")
        assert await system.ask(3, account) == 6
    with pytest.raises(PersistenceError, match="closed"):
        await journal.append("acct", 4, [4])


async def test_persistence_ids_are_per_syndicate(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        await system.create_actor(Account, "acct")
        async with Syndicate("other", journal=system.journal) as other:
            await other.create_actor(Account, "elsewhere")


# -- configuration errors --------------------------------------------------------------------


async def test_a_syndicate_without_journal_says_what_to_do(system: Syndicate) -> None:
    with pytest.raises(PersistenceError, match=r"needs a journal.*Syndicate\(journal="):
        await system.create_actor(Account, "acct")
    assert system.diagnostics().actor_count == 0


async def test_forgetting_super_init_is_explained(make_syndicate: MakeSyndicate) -> None:
    class Forgetful(PersistentActor):
        def __init__(self) -> None:
            self.value = 0

        def process(self, message: Message) -> None:
            return None

    async with make_syndicate() as system:
        with pytest.raises(PersistenceError, match=r"super\(\).__init__\(persistence_id\)"):
            await system.create_actor(Forgetful)


async def test_concurrent_specs_are_refused(make_syndicate: MakeSyndicate) -> None:
    async with make_syndicate() as system:
        spec = ActorSpec(Account, ("acct",), stateless=True, max_concurrency=4)
        with pytest.raises(InvalidActorSpecError, match="one message at a time"):
            await system.create_actor_from_spec(spec)


def test_constructor_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="persistence_id"):
        Account("")
    with pytest.raises(ValueError, match="snapshot_every"):
        Account("acct", snapshot_every=0)


async def test_a_broken_event_fails_recovery_with_its_position(
    make_syndicate: MakeSyndicate,
) -> None:
    class Picky(Account):
        def apply_event(self, event: int) -> None:
            if self.recovering and event == 2:
                raise ValueError("bad event")
            super().apply_event(event)

    async with make_syndicate() as system:
        account = await system.create_actor(Picky, "acct")
        await system.ask(("many", [1, 2, 3]), account)
    async with make_syndicate() as system:
        with pytest.raises(PersistenceError, match=r"apply_event raised .*bad event.* event 2"):
            await system.create_actor(Picky, "acct")


async def test_persist_is_refused_while_recovering(make_syndicate: MakeSyndicate) -> None:
    class Sneaky(Account):
        def apply_snapshot(self, state: dict[str, Any]) -> None:
            self.schedule_after(1, durable=True)

    async with make_syndicate() as system:
        account = await system.create_actor(Sneaky, "acct")
        await system.ask(1, account)
        await system.ask("snapshot", account)
    async with make_syndicate() as system:
        with pytest.raises(PersistenceError, match="not recovered yet"):
            await system.create_actor(Sneaky, "acct")


async def test_on_recovered_may_persist(make_syndicate: MakeSyndicate) -> None:
    class Greeter(Account):
        async def on_recovered(self) -> None:  # type: ignore[override]
            await self.persist(100)

    async with make_syndicate() as system:
        account = await system.create_actor(Greeter, "acct")
        assert await system.ask(0, account) == 100
        await system.stop(account)
        account = await system.create_actor(Greeter, "acct")
        assert await system.ask(0, account) == 200


class StallingJournal(InMemoryJournal):
    """Appends hang while ``stalled`` is set (a disk that stopped answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = False
        self.hanging: list[asyncio.Future[None]] = []

    def append(self, persistence_id: str, first_sequence: int, events: Any) -> Any:
        if self.stalled:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.hanging.append(future)
            return future
        return super().append(persistence_id, first_sequence, events)


async def test_an_actor_killed_inside_persist_frees_its_id_and_recovers() -> None:
    journal = StallingJournal()
    async with Syndicate("stall", journal=journal, stop_timeout=0.1) as system:
        account = await system.create_actor(Account, "acct")
        await system.ask(1, account)
        journal.stalled = True
        await system.tell(2, account)
        await wait_until(lambda: bool(journal.hanging))
        await system.stop(account)  # the handler never returns: the actor is killed
        assert journal.hanging[0].cancelled()
        registry = system.extension(REGISTRY_KEY, PersistenceRegistry)
        # the core runs _spark_after_stop after a kill too: the id is released, not just stale
        await wait_until(lambda: "acct" not in registry._owners)
        journal.stalled = False
        again = await system.create_actor(Account, "acct")
        assert await system.ask("state", again) == (1, [1], 1, (1, 1))
        assert await system.ask(5, again) == 6


# -- a persist cancelled at its await point -------------------------------------------------


class LateAckJournal(InMemoryJournal):
    """Stores an append at once (or drops it, with ``lose=True``) but acknowledges it only when
    the test says so: a commit whose acknowledgement comes after the caller gave up."""

    def __init__(self) -> None:
        super().__init__()
        self.late = False
        self.lose = False
        self.waiting: list[asyncio.Future[None]] = []

    def append(self, persistence_id: str, first_sequence: int, events: Any) -> Any:
        if not self.late:
            return super().append(persistence_id, first_sequence, events)
        if not self.lose:
            super().append(persistence_id, first_sequence, events)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        return future


class Impatient(Account):
    async def process(self, message: Message) -> Any:
        match message.content:
            case ("impatient", list(amounts)):
                try:  # the acknowledgement never comes in time
                    if len(amounts) == 1:
                        await asyncio.wait_for(self.persist(amounts[0]), 0.01)
                    else:
                        await asyncio.wait_for(self.persist_all(amounts), 0.01)
                except TimeoutError:
                    return "timed out", self.balance, self.last_sequence
        return await super().process(message)


@pytest.mark.parametrize("batch", [[10], [10, 20]])
async def test_a_cancelled_persist_that_was_stored_is_applied_by_the_next_write(
    batch: list[int],
) -> None:
    journal = LateAckJournal()
    async with Syndicate("late", journal=journal) as system:
        account = await system.create_actor(Impatient, "acct")
        await system.ask(1, account)
        journal.late = True
        assert await system.ask(("impatient", batch), account) == ("timed out", 1, 1)
        journal.late = False
        # Stored after all: the next persist applies it first, so the state matches the journal.
        total = 1 + sum(batch) + 100
        assert await system.ask(100, account) == total
        stored = [e.event for e in await journal.read_events("acct")]
        assert stored == [1, *batch, 100]
        assert await system.ask("state", account) == (total, stored, len(stored), (0, 0))
        await system.stop(account)
        again = await system.create_actor(Account, "acct")
        assert await system.ask("state", again) == (
            total,
            stored,
            len(stored),
            (total, len(stored)),
        )


async def test_a_cancelled_persist_queued_in_the_sqlite_writer_is_applied_later(
    tmp_path: Path,
) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    async with Syndicate("queued", journal=journal, owns_journal=True) as system:
        account = await system.create_actor(Impatient, "acct")
        await system.ask(1, account)
        gate, held = hold_writer(journal)  # the append waits in the writer's queue
        assert await system.ask(("impatient", [10]), account) == ("timed out", 1, 1)
        gate.set()
        await held
        assert await system.ask(100, account) == 111  # committed after all: applied first
        assert [e.event for e in await journal.read_events("acct")] == [1, 10, 100]


async def test_a_cancelled_persist_that_was_not_stored_gives_its_sequence_back() -> None:
    journal = LateAckJournal()
    async with Syndicate("lost", journal=journal) as system:
        account = await system.create_actor(Impatient, "acct")
        await system.ask(1, account)
        journal.late = journal.lose = True
        assert await system.ask(("impatient", [10]), account) == ("timed out", 1, 1)
        journal.late = journal.lose = False
        assert await system.ask(100, account) == 101
        assert [(e.sequence, e.event) for e in await journal.read_events("acct")] == [
            (1, 1),
            (2, 100),
        ]


async def test_a_snapshot_after_a_cancelled_persist_includes_the_stored_event() -> None:
    journal = LateAckJournal()
    async with Syndicate("snap", journal=journal) as system:
        account = await system.create_actor(Impatient, "acct", retain_events=False)
        await system.ask(1, account)
        journal.late = True
        await system.ask(("impatient", [10]), account)
        journal.late = False
        assert await system.ask("snapshot", account) == 2
        snapshot = await journal.load_snapshot("acct")
        assert snapshot is not None and snapshot.state == {"balance": 11, "history": [1, 10]}


# -- automatic snapshots ---------------------------------------------------------------------


async def test_a_failing_automatic_snapshot_does_not_fail_persist(
    make_syndicate: MakeSyndicate, caplog: pytest.LogCaptureFixture
) -> None:
    class Locked(Account):
        """Its state cannot be serialized while it holds a lock."""

        lock: threading.Lock | None = None

        def snapshot_state(self) -> dict[str, Any]:
            return {**super().snapshot_state(), "lock": self.lock}

        def apply_snapshot(self, state: dict[str, Any]) -> None:
            super().apply_snapshot(state)

        async def process(self, message: Message) -> Any:
            if message.content in ("lock", "unlock"):
                self.lock = threading.Lock() if message.content == "lock" else None
                return message.content
            return await super().process(message)

    async with make_syndicate() as system:
        account = await system.create_actor(Locked, "acct", snapshot_every=2, retain_events=False)
        await system.ask("lock", account)
        assert await system.ask(1, account) == 1
        assert await system.ask(2, account) == 3  # the snapshot fails, the event is in
        assert "Locked 'acct' at sequence 2 failed (the events are kept" in caplog.text
        assert await system.journal.load_snapshot("acct") is None
        assert [e.event for e in await system.journal.read_events("acct")] == [1, 2]
        await system.ask("unlock", account)
        assert await system.ask(3, account) == 6  # no new attempt before 2 more events
        assert await system.journal.load_snapshot("acct") is None
        assert await system.ask(4, account) == 10
        snapshot = await system.journal.load_snapshot("acct")
        assert snapshot is not None and snapshot.sequence == 4
        assert await system.journal.read_events("acct") == []


def test_snapshot_every_needs_the_snapshot_methods() -> None:
    class NoSnapshots(PersistentActor):
        def apply_event(self, event: Any) -> None:
            return None

    with pytest.raises(TypeError, match=r"snapshot_every=5 .* snapshot_state and apply_snapshot"):
        NoSnapshots("x", snapshot_every=5)
    NoSnapshots("x")  # without snapshot_every it needs neither
