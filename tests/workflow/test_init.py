"""The public surface of spark.workflow (layering: tests/test_layering.py)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import spark.workflow

ROOT = Path(__file__).resolve().parents[2]


def test_all_names_resolve() -> None:
    for name in spark.workflow.__all__:
        assert getattr(spark.workflow, name) is not None, name
    assert len(set(spark.workflow.__all__)) == len(spark.workflow.__all__)
    assert {"Node", "Workflow", "WorkflowError", "RunResult", "Expression"} <= set(
        spark.workflow.__all__
    )


def test_public_classes_of_the_modules_are_exported() -> None:
    modules = ("edges", "expression", "node", "result", "workflow")
    internal = {"make_condition", "connect_many", "Predicate"}
    for module_name in modules:
        module = importlib.import_module(f"spark.workflow.{module_name}")
        for name in module.__all__:
            if name not in internal:
                assert name in spark.workflow.__all__, f"{module_name}.{name} is not exported"


def test_importing_spark_does_not_import_the_workflow_layer() -> None:
    probe = "import sys, spark; print('spark.workflow' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert completed.stdout.strip() == "False"
