"""Durable actors and durable timers.

    from spark import Syndicate
    from spark.persistence import PersistentActor, SQLiteJournal

    async with Syndicate("app", journal=SQLiteJournal("app.db"), owns_journal=True) as system:
        counter = await system.create_actor(Counter, "counter-1")

``SQLiteJournal`` is the embedded durable store (WAL, group commit, one writer thread);
``InMemoryJournal`` keeps everything in the process, for tests. Both implement ``Journal``.
This package is not imported by ``import spark`` (it pulls in ``sqlite3``); import it
explicitly.
"""

from spark.persistence._writer import JournalStatistics
from spark.persistence.actor import PersistentActor
from spark.persistence.journal import DurableTimer, Journal, PersistedEvent, Snapshot
from spark.persistence.memory import InMemoryJournal
from spark.persistence.serializers import JSONSerializer, PickleSerializer, Serializer
from spark.persistence.sqlite import SQLiteJournal
from spark.persistence.timers import TimerId

__all__ = [
    "DurableTimer",
    "InMemoryJournal",
    "JSONSerializer",
    "Journal",
    "JournalStatistics",
    "PersistedEvent",
    "PersistentActor",
    "PickleSerializer",
    "SQLiteJournal",
    "Serializer",
    "Snapshot",
    "TimerId",
]
