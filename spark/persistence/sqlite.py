"""``SQLiteJournal``: the embedded durable journal (the only module that imports ``sqlite3``).

One SQLite file in WAL mode, written by one dedicated thread with group commit (see
:mod:`spark.persistence._writer`): the event loop never blocks on the file, and an append is
acknowledged only after the transaction holding it committed with the configured
``synchronous`` level. The schema carries a version number so a later release can migrate it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
import weakref
from collections.abc import Sequence
from typing import Any, Final

from spark.core.exceptions import PersistenceError
from spark.persistence._writer import GroupCommitWriter, JournalStatistics
from spark.persistence.journal import (
    DurableTimer,
    PersistedEvent,
    Snapshot,
    check_append,
    sequence_conflict,
    validate_persistence_id,
)
from spark.persistence.serializers import PickleSerializer, Serializer, dump, load

__all__ = ["SCHEMA_VERSION", "SYNCHRONOUS_LEVELS", "SQLiteJournal"]

#: Version of the table layout below; stored in ``schema_version``.
SCHEMA_VERSION: Final = 1
#: Valid ``synchronous=`` values (SQLite's PRAGMA synchronous levels).
SYNCHRONOUS_LEVELS: Final = ("off", "normal", "full", "extra")

_SCHEMA_V1: Final = (
    """CREATE TABLE events (
        persistence_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (persistence_id, sequence)
    ) WITHOUT ROWID""",
    # The highest sequence delete_events_to removed, per id: the highest sequence ever
    # appended is max(this, the highest stored event), so deleting never lowers it.
    """CREATE TABLE event_deletions (
        persistence_id TEXT PRIMARY KEY,
        deleted_to INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE snapshots (
        persistence_id TEXT PRIMARY KEY,
        sequence INTEGER NOT NULL,
        payload BLOB NOT NULL,
        saved_at REAL NOT NULL
    )""",
    """CREATE TABLE timers (
        persistence_id TEXT NOT NULL,
        timer_id TEXT NOT NULL,
        due_at REAL NOT NULL,
        interval REAL,
        missed TEXT NOT NULL,
        payload BLOB NOT NULL,
        PRIMARY KEY (persistence_id, timer_id)
    ) WITHOUT ROWID""",
)

# The highest sequence of each listed id, deleted events included (two index seeks per id).
_HIGHEST: Final = (
    "WITH ids (persistence_id) AS (VALUES {})"
    " SELECT persistence_id, max("
    "coalesce((SELECT max(sequence) FROM events e WHERE e.persistence_id = ids.persistence_id),"
    " 0),"
    " coalesce((SELECT deleted_to FROM event_deletions d"
    " WHERE d.persistence_id = ids.persistence_id), 0)"
    ") FROM ids"
)
#: Bound parameters per statement (SQLite's limit is 32766 since 3.32, 999 before).
_MAX_PARAMETERS: Final = 900
_INSERT_EVENT: Final = "INSERT INTO events (persistence_id, sequence, payload) VALUES (?, ?, ?)"
_READ_EVENTS: Final = (
    "SELECT sequence, payload FROM events WHERE persistence_id = ? AND sequence > ?"
    " ORDER BY sequence LIMIT ?"
)
_LAST_DELETED: Final = "SELECT max(sequence) FROM events WHERE persistence_id = ? AND sequence <= ?"
_MARK_DELETION: Final = (
    "INSERT INTO event_deletions (persistence_id, deleted_to) VALUES (?, ?)"
    " ON CONFLICT (persistence_id) DO UPDATE"
    " SET deleted_to = max(deleted_to, excluded.deleted_to)"
)
_DELETE_EVENTS: Final = "DELETE FROM events WHERE persistence_id = ? AND sequence <= ?"
_SAVE_SNAPSHOT: Final = (
    "INSERT INTO snapshots (persistence_id, sequence, payload, saved_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (persistence_id) DO UPDATE SET sequence = excluded.sequence,"
    " payload = excluded.payload, saved_at = excluded.saved_at"
    " WHERE excluded.sequence >= snapshots.sequence"
)
_LOAD_SNAPSHOT: Final = "SELECT sequence, payload, saved_at FROM snapshots WHERE persistence_id = ?"
_UPSERT_TIMER: Final = (
    "INSERT OR REPLACE INTO timers (persistence_id, timer_id, due_at, interval, missed, payload)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_DELETE_TIMER: Final = "DELETE FROM timers WHERE persistence_id = ? AND timer_id = ?"
_LIST_TIMERS: Final = (
    "SELECT timer_id, due_at, interval, missed, payload FROM timers WHERE persistence_id = ?"
    " ORDER BY due_at, timer_id"
)

#: What to do about the SQLite errors a user can meet, by primary result code.
_HINTS: Final = {
    sqlite3.SQLITE_BUSY: (
        "another connection held the file's write lock for longer than"
        " busy_timeout={busy_timeout:g} s: stop the other writer, or give SQLiteJournal a"
        " larger busy_timeout"
    ),
    sqlite3.SQLITE_LOCKED: (
        "another connection of this process holds a conflicting lock: end its transaction first"
    ),
    sqlite3.SQLITE_FULL: "the disk (or the file's size limit) is full: free space, then retry",
    sqlite3.SQLITE_CANTOPEN: (
        "check that the directory exists and that this process may create files in it"
    ),
    sqlite3.SQLITE_READONLY: (
        "the file or its directory is read-only for this process: fix the permissions or"
        " give SQLiteJournal another path"
    ),
    sqlite3.SQLITE_NOTADB: (
        "the file is not a SQLite database: give SQLiteJournal the path of a journal, or of a"
        " file that does not exist yet"
    ),
    sqlite3.SQLITE_CORRUPT: (
        "the file is damaged: restore it from a backup, or give SQLiteJournal a new path"
    ),
    sqlite3.SQLITE_IOERR: "the operating system reported an I/O error: check the disk",
}


class _SQLiteStore:
    """The connection and the SQL; used only from the writer thread."""

    def __init__(
        self, path: str, synchronous: str, busy_timeout: float, serializer: Serializer
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.serializer = serializer
        self.connection: sqlite3.Connection | None = None
        self.cursor: sqlite3.Cursor | None = None
        # The highest sequence per id as this connection knows it. It is valid while no other
        # connection committed (PRAGMA data_version unchanged) and nothing was rolled back, and
        # spares the conflict check of an append a query.
        self.highest: dict[str, int] = {}
        self.data_version = -1

    # -- Store protocol ------------------------------------------------------------------

    def open(self) -> None:
        # isolation_level=None: the writer issues BEGIN / COMMIT itself.
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, cached_statements=64
        )
        self.connection = connection
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal" and self.path != ":memory:":
            raise PersistenceError(
                f"SQLite journal {self.path}: could not switch to WAL mode (got {mode!r});"
                " put the file on a local file system that supports shared memory"
            )
        connection.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        self.cursor = connection.cursor()
        self.begin()
        try:
            self._migrate(connection)
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row and row[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise PersistenceError(
                f"SQLite journal {self.path} has schema version {version}, but this Spark only"
                f" knows versions up to {SCHEMA_VERSION}; upgrade Spark to open it"
            )
        if version == 0:
            for statement in _SCHEMA_V1:
                connection.execute(statement)
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        # Future layouts: apply the migrations from ``version`` up to SCHEMA_VERSION here.

    def begin(self) -> None:
        cursor = self.cursor
        assert cursor is not None
        # IMMEDIATE takes the write lock up front: another process makes us wait (busy
        # timeout) here instead of failing halfway, and cannot commit before we do, so the
        # cache check below holds for the whole transaction.
        cursor.execute("BEGIN IMMEDIATE")
        version = cursor.execute("PRAGMA data_version").fetchone()[0]
        if version != self.data_version:
            self.highest.clear()  # another connection committed since: the cache may be stale
            self.data_version = version

    def commit(self) -> None:
        assert self.cursor is not None
        self.cursor.execute("COMMIT")

    def rollback(self) -> None:
        self.highest.clear()  # it may hold sequences of rolled-back appends
        connection = self.connection
        if connection is not None and connection.in_transaction:
            connection.execute("ROLLBACK")

    def close(self) -> None:
        connection, self.connection, self.cursor = self.connection, None, None
        if connection is not None:
            connection.close()

    def failure(self, error: Exception, what: str) -> PersistenceError:
        message = f"SQLite journal {self.path}: {what} failed"
        if isinstance(error, sqlite3.Error):
            message += f" (SQLite error: {error})"
            hint = _HINTS.get(getattr(error, "sqlite_errorcode", 0) & 0xFF)
            if hint is not None:
                message += "; " + hint.format(busy_timeout=self.busy_timeout)
        else:
            message += f" (error: {error!r})"
        failure = PersistenceError(message)
        failure.__cause__ = error
        return failure

    def run_batch(self, kind: str, items: list[Any]) -> None:
        if kind != "append":
            raise PersistenceError(f"SQLite journal {self.path}: unknown batch kind {kind!r}")
        self._append(items)

    # -- operations (writer thread) ------------------------------------------------------

    def _append(self, appends: list[tuple[str, int, list[bytes]]]) -> None:
        """Consecutive appends in one statement. A conflict fails them all; the writer then
        retries each alone, so only the conflicting one fails."""
        cursor = self.cursor
        assert cursor is not None
        highest = self.highest
        missing = list({item[0] for item in appends if item[0] not in highest})
        for start in range(0, len(missing), _MAX_PARAMETERS):
            chunk = missing[start : start + _MAX_PARAMETERS]
            query = _HIGHEST.format(", ".join(["(?)"] * len(chunk)))
            highest.update(cursor.execute(query, chunk).fetchall())
        rows = []
        for persistence_id, first_sequence, payloads in appends:
            current = highest[persistence_id]
            if first_sequence <= current:
                raise sequence_conflict(persistence_id, first_sequence, current)
            if len(payloads) == 1:
                rows.append((persistence_id, first_sequence, payloads[0]))
            else:
                rows.extend(
                    (persistence_id, first_sequence + offset, payload)
                    for offset, payload in enumerate(payloads)
                )
            highest[persistence_id] = first_sequence + len(payloads) - 1
        cursor.executemany(_INSERT_EVENT, rows)

    def read_events(
        self, persistence_id: str, after_sequence: int, limit: int | None
    ) -> list[PersistedEvent]:
        assert self.cursor is not None
        rows = self.cursor.execute(
            _READ_EVENTS, (persistence_id, after_sequence, -1 if limit is None else limit)
        ).fetchall()
        serializer, where = self.serializer, f"SQLite journal {self.path}: "
        return [
            PersistedEvent(
                sequence,
                load(serializer, payload, f"event {sequence} of {persistence_id!r}", where),
            )
            for sequence, payload in rows
        ]

    def highest_sequence(self, persistence_id: str) -> int:
        assert self.cursor is not None
        row = self.cursor.execute(_HIGHEST.format("(?)"), (persistence_id,)).fetchone()
        return int(row[1])

    def delete_events_to(self, persistence_id: str, sequence: int) -> int:
        cursor = self.cursor
        assert cursor is not None
        (last_deleted,) = cursor.execute(_LAST_DELETED, (persistence_id, sequence)).fetchone()
        if last_deleted is None:
            return 0
        cursor.execute(_MARK_DELETION, (persistence_id, last_deleted))
        return int(cursor.execute(_DELETE_EVENTS, (persistence_id, sequence)).rowcount)

    def save_snapshot(
        self, persistence_id: str, sequence: int, payload: bytes, saved_at: float
    ) -> None:
        assert self.cursor is not None
        self.cursor.execute(_SAVE_SNAPSHOT, (persistence_id, sequence, payload, saved_at))

    def load_snapshot(self, persistence_id: str) -> Snapshot | None:
        assert self.cursor is not None
        row = self.cursor.execute(_LOAD_SNAPSHOT, (persistence_id,)).fetchone()
        if row is None:
            return None
        sequence, payload, saved_at = row
        state = load(
            self.serializer,
            payload,
            f"the snapshot of {persistence_id!r}",
            f"SQLite journal {self.path}: ",
        )
        return Snapshot(sequence, state, saved_at)

    def upsert_timer(self, persistence_id: str, timer: DurableTimer, payload: bytes) -> None:
        assert self.cursor is not None
        self.cursor.execute(
            _UPSERT_TIMER,
            (persistence_id, timer.timer_id, timer.due_at, timer.interval, timer.missed, payload),
        )

    def delete_timer(self, persistence_id: str, timer_id: str) -> bool:
        assert self.cursor is not None
        return bool(self.cursor.execute(_DELETE_TIMER, (persistence_id, timer_id)).rowcount)

    def list_timers(self, persistence_id: str) -> list[DurableTimer]:
        assert self.cursor is not None
        found = []
        for timer_id, due_at, interval, missed, payload in self.cursor.execute(
            _LIST_TIMERS, (persistence_id,)
        ).fetchall():
            value = load(
                self.serializer,
                payload,
                f"the payload of timer {timer_id!r} of {persistence_id!r}",
                f"SQLite journal {self.path}: ",
            )
            found.append(DurableTimer(timer_id, due_at, value, interval, missed))
        return found


class SQLiteJournal:
    """A durable journal in one SQLite file (WAL mode, group commit, one writer thread).

    * ``synchronous`` - SQLite's durability level: ``"full"`` (default) makes every
      acknowledged commit survive a power loss; ``"normal"`` survives a crash of the process
      (SIGKILL) but may lose the last commits on power loss; ``"off"`` leaves syncing to the OS.
    * ``serializer`` - how values become bytes; :class:`PickleSerializer` by default, which
      trusts the file (loading a pickle can run code).
    * ``busy_timeout`` - seconds to wait for a lock held by another process.
    * ``max_batch`` - the most writes grouped into one transaction (``1`` disables grouping).

    The file is opened by the writer thread on first use; :meth:`close` (or a syndicate created
    with ``owns_journal=True``) finishes queued writes and closes it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "full",
        serializer: Serializer | None = None,
        busy_timeout: float = 5.0,
        max_batch: int = 1024,
    ) -> None:
        if synchronous not in SYNCHRONOUS_LEVELS:
            raise ValueError(
                f"synchronous={synchronous!r} is not one of {', '.join(SYNCHRONOUS_LEVELS)}"
            )
        if not isinstance(busy_timeout, int | float) or busy_timeout < 0:
            raise ValueError(f"busy_timeout must be a number >= 0, got {busy_timeout!r}")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.serializer: Serializer = serializer if serializer is not None else PickleSerializer()
        self._store = _SQLiteStore(self.path, synchronous, float(busy_timeout), self.serializer)
        self._writer = GroupCommitWriter(
            self._store, name=f"spark-journal:{self.path}", max_batch=max_batch
        )
        self._closed_message = f"the SQLiteJournal at {self.path} is closed; open a new one"
        # Forgotten without close(): finish the queued writes and stop the thread anyway.
        weakref.finalize(self, self._writer.close_nowait)

    def __repr__(self) -> str:
        state = "closed" if self._writer.closed else "open"
        return f"<SQLiteJournal {self.path!r} synchronous={self.synchronous} {state}>"

    @property
    def closed(self) -> bool:
        return self._writer.closed

    def statistics(self) -> JournalStatistics:
        """Counters of committed transactions and writes (group-commit efficiency)."""
        return self._writer.statistics()

    # -- helpers -------------------------------------------------------------------------

    def _write(self, operation: Any, what: str) -> asyncio.Future[Any]:
        return self._writer.submit(
            operation, write=True, what=what, closed_message=self._closed_message
        )

    def _read(self, operation: Any, what: str) -> asyncio.Future[Any]:
        return self._writer.submit(
            operation, write=False, what=what, closed_message=self._closed_message
        )

    @staticmethod
    def _failed(error: PersistenceError) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(error)
        return future

    # -- events --------------------------------------------------------------------------

    def append(
        self, persistence_id: str, first_sequence: int, events: Sequence[Any]
    ) -> asyncio.Future[None]:
        check_append(persistence_id, first_sequence, events)
        try:
            payloads = [
                dump(self.serializer, event, f"an event of {persistence_id!r}") for event in events
            ]
        except PersistenceError as failure:
            return self._failed(failure)
        return self._writer.submit(
            None,
            write=True,
            what=("append to", persistence_id),
            closed_message=self._closed_message,
            batch=("append", (persistence_id, first_sequence, payloads)),
        )

    def read_events(
        self, persistence_id: str, after_sequence: int = 0, limit: int | None = None
    ) -> asyncio.Future[list[PersistedEvent]]:
        validate_persistence_id(persistence_id)
        return self._read(
            functools.partial(self._store.read_events, persistence_id, after_sequence, limit),
            f"read events of {persistence_id!r}",
        )

    def highest_sequence(self, persistence_id: str) -> asyncio.Future[int]:
        validate_persistence_id(persistence_id)
        return self._read(
            functools.partial(self._store.highest_sequence, persistence_id),
            f"read the highest sequence of {persistence_id!r}",
        )

    def delete_events_to(self, persistence_id: str, sequence: int) -> asyncio.Future[int]:
        validate_persistence_id(persistence_id)
        return self._write(
            functools.partial(self._store.delete_events_to, persistence_id, sequence),
            f"delete events of {persistence_id!r}",
        )

    # -- snapshots -----------------------------------------------------------------------

    def save_snapshot(self, persistence_id: str, sequence: int, state: Any) -> asyncio.Future[None]:
        validate_persistence_id(persistence_id)
        try:
            payload = dump(self.serializer, state, f"the snapshot of {persistence_id!r}")
        except PersistenceError as failure:
            return self._failed(failure)
        return self._write(
            functools.partial(
                self._store.save_snapshot, persistence_id, sequence, payload, time.time()
            ),
            f"save a snapshot of {persistence_id!r}",
        )

    def load_snapshot(self, persistence_id: str) -> asyncio.Future[Snapshot | None]:
        validate_persistence_id(persistence_id)
        return self._read(
            functools.partial(self._store.load_snapshot, persistence_id),
            f"load the snapshot of {persistence_id!r}",
        )

    # -- durable timers ------------------------------------------------------------------

    def upsert_timer(self, persistence_id: str, timer: DurableTimer) -> asyncio.Future[None]:
        validate_persistence_id(persistence_id)
        try:
            payload = dump(
                self.serializer, timer.payload, f"the payload of timer {timer.timer_id!r}"
            )
        except PersistenceError as failure:
            return self._failed(failure)
        return self._write(
            functools.partial(self._store.upsert_timer, persistence_id, timer, payload),
            f"store timer {timer.timer_id!r} of {persistence_id!r}",
        )

    def delete_timer(self, persistence_id: str, timer_id: str) -> asyncio.Future[bool]:
        validate_persistence_id(persistence_id)
        return self._write(
            functools.partial(self._store.delete_timer, persistence_id, timer_id),
            f"delete timer {timer_id!r} of {persistence_id!r}",
        )

    def list_timers(self, persistence_id: str) -> asyncio.Future[list[DurableTimer]]:
        validate_persistence_id(persistence_id)
        return self._read(
            functools.partial(self._store.list_timers, persistence_id),
            f"list timers of {persistence_id!r}",
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> asyncio.Future[None]:
        """Commit what is queued, close the file and stop the writer thread (idempotent)."""
        return self._writer.close()
