"""spark.persistence exposes one import surface, and spark itself does not re-export it."""

from __future__ import annotations

import spark
import spark.persistence as persistence


def test_all_is_complete_and_importable() -> None:
    public = {name for name in vars(persistence) if not name.startswith("_")}
    modules = {"actor", "journal", "memory", "serializers", "sqlite", "timers"}
    assert set(persistence.__all__) == public - modules
    for name in persistence.__all__:
        assert getattr(persistence, name) is not None


def test_spark_does_not_reexport_persistence() -> None:
    for name in ("SQLiteJournal", "InMemoryJournal", "PersistentActor"):
        assert not hasattr(spark, name)
