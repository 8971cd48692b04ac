"""The public surface of spark.execution (spark/execution/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

import spark
import spark.execution


def test_every_exported_name_resolves() -> None:
    for name in spark.execution.__all__:
        assert getattr(spark.execution, name) is not None, name
    assert set(spark.execution.__all__) <= set(dir(spark.execution))


def test_troupe_and_its_messages_are_reexported_from_spark() -> None:
    for name in ("Troupe", "GetTroupeStatus", "TroupeStatus", "UpdateTroupeSettings"):
        assert getattr(spark, name) is getattr(spark.execution, name)
        assert name in spark.__all__


def test_import_spark_does_not_load_the_process_machinery() -> None:
    code = "import sys, spark; print('multiprocessing.connection' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
