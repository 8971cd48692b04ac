"""Fixtures of the persistence tests: every journal-level test runs against every journal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from spark import Syndicate
from spark.persistence import InMemoryJournal, Journal, SQLiteJournal


class JournalKind:
    """Opens a journal and "reopens" it the way a restarted process would."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.path = tmp_path / "journal.db"
        self._memory: InMemoryJournal | None = None
        self.opened: list[Any] = []

    def open(self) -> Journal:
        if self.name == "memory":
            # A process-local journal survives only within the process: reuse the instance.
            if self._memory is None:
                self._memory = InMemoryJournal()
            return self._memory
        journal = SQLiteJournal(self.path)
        self.opened.append(journal)
        return journal

    def syndicate(self, **options: Any) -> Syndicate:
        """A syndicate on (a reopened) journal; SQLite journals are closed with it."""
        return Syndicate(
            "persistence-test",
            journal=self.open(),
            owns_journal=self.name == "sqlite",
            **options,
        )

    async def close_all(self) -> None:
        for journal in self.opened:
            await journal.close()


@pytest.fixture(params=["memory", "sqlite"])
async def journal_kind(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[JournalKind]:
    kind = JournalKind(request.param, tmp_path)
    yield kind
    await kind.close_all()


@pytest.fixture
async def journal(journal_kind: JournalKind) -> AsyncIterator[Journal]:
    yield journal_kind.open()


@pytest.fixture
def make_syndicate(journal_kind: JournalKind) -> Callable[..., Syndicate]:
    return journal_kind.syndicate


def hold_writer(journal: SQLiteJournal) -> tuple[threading.Event, asyncio.Future[Any]]:
    """Keep the writer thread busy until the returned event is set, so that what is submitted
    meanwhile is served as one batch."""
    gate = threading.Event()
    held = journal._read(lambda: gate.wait(10), "hold the writer")
    return gate, held
