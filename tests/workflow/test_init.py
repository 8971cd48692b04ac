"""The public surface of spark.workflow and the layering rule (workflow -> core, never back)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import spark.workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "spark" / "workflow"
CORE = ROOT / "spark" / "core"


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


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


def test_core_never_imports_workflow() -> None:
    for path in CORE.rglob("*.py"):
        assert not any(
            module.startswith("spark.workflow") for module in _imports(path)
        ), f"{path.name} imports spark.workflow"


def test_workflow_imports_only_the_stdlib_and_spark_core() -> None:
    allowed_prefixes = ("spark.core", "spark.workflow")
    for path in WORKFLOW.rglob("*.py"):
        for module in _imports(path):
            top = module.split(".")[0]
            if top == "spark":
                assert module.startswith(allowed_prefixes), f"{path.name} imports {module}"
            else:
                assert (
                    top in sys.stdlib_module_names or top == "__future__"
                ), f"{path.name} imports third-party {module}"


def test_importing_spark_does_not_import_the_workflow_layer() -> None:
    probe = "import sys, spark; print('spark.workflow' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert completed.stdout.strip() == "False"
