"""SQLiteJournal specifics: WAL, schema versioning, group commit, errors, threads."""

from __future__ import annotations

import ast
import asyncio
import gc
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from spark import PersistenceError
from spark.persistence import JSONSerializer, PickleSerializer, SQLiteJournal
from spark.persistence.sqlite import SCHEMA_VERSION
from tests.conftest import wait_until
from tests.persistence.conftest import hold_writer

ROOT = Path(__file__).resolve().parents[2]


def _pragma(journal: SQLiteJournal, name: str) -> Any:
    store = journal._store

    def read() -> Any:
        assert store.connection is not None
        return store.connection.execute(f"PRAGMA {name}").fetchone()[0]

    return journal._read(read, f"read PRAGMA {name}")


@pytest.mark.parametrize(("level", "value"), [("off", 0), ("normal", 1), ("full", 2), ("extra", 3)])
async def test_wal_mode_and_synchronous_level(tmp_path: Path, level: str, value: int) -> None:
    journal = SQLiteJournal(tmp_path / "j.db", synchronous=level)
    try:
        assert await _pragma(journal, "synchronous") == value
        assert await _pragma(journal, "journal_mode") == "wal"
    finally:
        await journal.close()


async def test_schema_is_versioned_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = SQLiteJournal(path)
    await journal.append("a", 1, ["one"])
    await journal.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
    journal = SQLiteJournal(path)
    try:
        assert [e.event for e in await journal.read_events("a")] == ["one"]
    finally:
        await journal.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    connection.execute("INSERT INTO schema_version VALUES (99)")
    connection.commit()
    connection.close()
    journal = SQLiteJournal(path)
    with pytest.raises(PersistenceError, match=r"schema version 99.*upgrade Spark"):
        await journal.highest_sequence("a")
    await journal.close()


async def test_open_failure_is_a_persistence_error(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "missing-dir" / "j.db")
    with pytest.raises(PersistenceError, match="missing-dir") as caught:
        await journal.append("a", 1, ["x"])
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert "check that the directory exists" in str(caught.value)
    with pytest.raises(PersistenceError):
        await journal.read_events("a")
    await journal.close()


async def test_a_file_that_is_not_a_journal_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database " * 100)
    journal = SQLiteJournal(path)
    try:
        with pytest.raises(PersistenceError, match="not a database") as caught:
            await journal.highest_sequence("a")
        assert "give SQLiteJournal the path of a journal" in str(caught.value)
    finally:
        await journal.close()
    assert path.read_bytes() == b"not a database " * 100  # left untouched


async def test_a_full_disk_fails_the_write_and_the_journal_recovers(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    store = journal._store

    def limit_pages(pages: int) -> Any:
        assert store.connection is not None
        return lambda: store.connection.execute(f"PRAGMA max_page_count={pages}").fetchone()

    try:
        await journal.append("a", 1, ["small"])
        await journal._read(limit_pages(1), "simulate a full disk")
        with pytest.raises(PersistenceError, match="is full: free space") as caught:
            await journal.append("a", 2, [b"x" * 100_000])
        assert isinstance(caught.value.__cause__, sqlite3.Error)
        await journal._read(limit_pages(1_000_000), "free space")
        await journal.append("a", 2, ["after"])  # the writer thread is not wedged
        assert [e.event for e in await journal.read_events("a")] == ["small", "after"]
    finally:
        await journal.close()


class _Escape(BaseException):
    """Not an Exception: nothing in the writer thread may catch it on the way."""


class _EscapingSerializer(PickleSerializer):
    def loads(self, data: bytes) -> Any:
        raise _Escape("loads escaped")


async def test_a_crashed_writer_fails_what_it_was_serving_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashes: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_type))
    journal = SQLiteJournal(tmp_path / "j.db", serializer=_EscapingSerializer())
    await journal.append("a", 1, ["stored"])
    gate, held = hold_writer(journal)
    reading = journal.read_events("a")  # served in the same batch as the next append
    writing = journal.append("a", 2, ["after"])
    gate.set()
    await held
    for pending in (reading, writing):
        with pytest.raises(PersistenceError, match="crashed: _Escape.*open a new one"):
            await asyncio.wait_for(pending, 5)
    assert journal.closed
    with pytest.raises(PersistenceError, match="crashed"):
        await asyncio.wait_for(journal.close(), 5)
    thread = journal._writer._thread
    assert thread is not None
    await wait_until(lambda: not thread.is_alive())
    assert crashes == [_Escape]  # the crash is not hidden either


def test_options_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous='fast'"):
        SQLiteJournal(tmp_path / "j.db", synchronous="fast")
    with pytest.raises(ValueError, match="max_batch"):
        SQLiteJournal(tmp_path / "j.db", max_batch=0)
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteJournal(tmp_path / "j.db", busy_timeout=-1)


async def test_append_never_runs_on_the_event_loop(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    try:
        pending = journal.append("a", 1, ["x"])
        # Only the writer thread can resolve it, through the loop we are holding right now.
        assert not pending.done()
        await pending
    finally:
        await journal.close()


async def test_acknowledged_means_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = SQLiteJournal(path)
    try:
        for sequence in range(1, 6):
            await journal.append("a", sequence, [sequence])
            with sqlite3.connect(path) as observer:  # another connection sees committed data only
                (count,) = observer.execute("SELECT count(*) FROM events").fetchone()
            assert count == sequence
    finally:
        await journal.close()


async def test_concurrent_appends_share_transactions(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    try:
        await asyncio.gather(*(journal.append(f"id-{n}", 1, ["x"]) for n in range(200)))
        stats = journal.statistics()
        assert stats.writes == 200
        assert stats.transactions < 200
        assert stats.largest_batch > 1
        assert stats.writes_per_transaction > 1
    finally:
        await journal.close()


async def test_max_batch_one_commits_each_write_alone(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db", max_batch=1)
    try:
        await asyncio.gather(*(journal.append(f"id-{n}", 1, ["x"]) for n in range(20)))
        stats = journal.statistics()
        assert (stats.transactions, stats.writes, stats.largest_batch) == (20, 20, 1)
    finally:
        await journal.close()


async def test_a_failing_write_in_a_group_fails_alone(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    try:
        await journal.append("taken", 1, ["first"])
        writes = [journal.append(f"id-{n}", 1, [n]) for n in range(10)]
        writes.insert(5, journal.append("taken", 1, ["clash"]))
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(failures) == 1 and isinstance(failures[0], PersistenceError)
        for n in range(10):
            assert [e.event for e in await journal.read_events(f"id-{n}")] == [n]
        assert journal.statistics().failed_writes == 1
    finally:
        await journal.close()


def _count_begins(journal: SQLiteJournal) -> list[int]:
    store = journal._store
    begins = [0]
    begin = store.begin

    def counting_begin() -> None:
        begins[0] += 1
        begin()

    store.begin = counting_begin  # type: ignore[method-assign]
    return begins


async def test_writes_arriving_during_a_commit_share_the_next_transaction(
    tmp_path: Path,
) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    try:
        await journal.highest_sequence("warm-up")
        store = journal._store
        committing, release = threading.Event(), threading.Event()
        commit = store.commit

        def slow_commit() -> None:
            committing.set()
            release.wait(10)
            commit()

        store.commit = slow_commit  # type: ignore[method-assign]
        first = journal.append("first", 1, ["x"])
        await asyncio.to_thread(committing.wait, 10)
        arriving = [journal.append(f"id-{n}", 1, [n]) for n in range(50)]
        assert not first.done()  # not acknowledged before its commit returned
        release.set()
        await first
        await asyncio.gather(*arriving)
        stats = journal.statistics()
        assert (stats.transactions, stats.writes, stats.largest_batch) == (2, 51, 50)
    finally:
        await journal.close()


async def test_a_locked_file_fails_a_group_at_once_not_once_per_write(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = SQLiteJournal(path, busy_timeout=0.05)
    await journal.highest_sequence("warm-up")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        begins = _count_begins(journal)
        gate, held = hold_writer(journal)
        writes = [journal.append(f"id-{n}", 1, [n]) for n in range(10)]
        gate.set()
        await held
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        assert all(isinstance(outcome, PersistenceError) for outcome in outcomes)
        assert "database is locked" in str(outcomes[3]) and "'id-3'" in str(outcomes[3])
        assert "larger busy_timeout" in str(outcomes[3])  # says what to do
        assert begins[0] == 1  # one wait for the lock, not one per write
        assert journal.statistics().failed_writes == 10
        other.execute("ROLLBACK")
        await journal.append("id-0", 1, ["after the lock was released"])
    finally:
        other.close()
        await journal.close()


async def test_a_second_writer_of_the_same_id_is_detected(tmp_path: Path) -> None:
    first = SQLiteJournal(tmp_path / "j.db")
    second = SQLiteJournal(tmp_path / "j.db")
    try:
        await first.append("a", 1, ["from first"])
        with pytest.raises(PersistenceError, match="Another writer") as caught:
            await second.append("a", 1, ["from second"])
        assert "keep one live actor per persistence_id" in str(caught.value)
    finally:
        await first.close()
        await second.close()


async def test_writes_of_another_connection_invalidate_what_a_journal_knows(
    tmp_path: Path,
) -> None:
    first = SQLiteJournal(tmp_path / "j.db")
    second = SQLiteJournal(tmp_path / "j.db")
    try:
        await first.append("a", 1, ["first knows a=1"])
        await second.append("a", 2, ["second moved on"])
        with pytest.raises(PersistenceError, match="already holds sequence 2"):
            await first.append("a", 2, ["stale"])
        await first.append("a", 3, ["caught up"])
        assert [e.sequence for e in await second.read_events("a")] == [1, 2, 3]
    finally:
        await first.close()
        await second.close()


async def test_close_finishes_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = SQLiteJournal(path)
    writes = [journal.append("a", n, [n]) for n in range(1, 51)]
    await journal.close()
    assert all(write.done() and write.exception() is None for write in writes)
    assert journal.closed
    reopened = SQLiteJournal(path)
    try:
        assert await reopened.highest_sequence("a") == 50
    finally:
        await reopened.close()


async def test_a_forgotten_journal_stops_its_thread(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    await journal.append("a", 1, ["written"])
    thread = journal._writer._thread
    assert thread is not None and thread.is_alive()
    del journal
    gc.collect()
    await wait_until(lambda: not thread.is_alive())
    reopened = SQLiteJournal(tmp_path / "j.db")
    try:
        assert await reopened.highest_sequence("a") == 1
    finally:
        await reopened.close()


async def test_a_cancelled_append_may_still_be_stored(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")
    try:
        cancelled = journal.append("a", 1, ["maybe"])
        cancelled.cancel()
        await journal.append("a", 2, ["after"])
        assert [e.event for e in await journal.read_events("a")] == ["maybe", "after"]
    finally:
        await journal.close()


def test_one_journal_serves_successive_event_loops(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db")

    async def append(sequence: int, event: str) -> None:
        await journal.append("a", sequence, [event])

    asyncio.run(append(1, "first loop"))
    asyncio.run(append(2, "second loop"))

    async def finish() -> list[Any]:
        events = await journal.read_events("a")
        await journal.close()
        return [e.event for e in events]

    assert asyncio.run(finish()) == ["first loop", "second loop"]


async def test_json_serializer(tmp_path: Path) -> None:
    journal = SQLiteJournal(tmp_path / "j.db", serializer=JSONSerializer())
    try:
        await journal.append("a", 1, [{"amount": 3, "tags": ["x"]}])
        assert (await journal.read_events("a"))[0].event == {"amount": 3, "tags": ["x"]}
        with pytest.raises(PersistenceError, match="JSONSerializer"):
            await journal.append("a", 2, [object()])
    finally:
        await journal.close()


async def test_corrupt_payload_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = SQLiteJournal(path)
    await journal.append("a", 1, ["fine"])
    await journal.close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE events SET payload = x'00ff' WHERE sequence = 1")
    journal = SQLiteJournal(path)
    try:
        with pytest.raises(PersistenceError, match="cannot deserialize event 1 of 'a'"):
            await journal.read_events("a")
    finally:
        await journal.close()


def test_import_spark_does_not_import_sqlite3() -> None:
    code = "import sys, spark; assert 'sqlite3' not in sys.modules, 'sqlite3 imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_only_the_sqlite_journal_imports_sqlite3() -> None:
    importers = []
    for path in (ROOT / "spark").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "sqlite3" for name in names):
                importers.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(importers)) == ["spark/persistence/sqlite.py"]
