"""Layering rules of DESIGN.md §2, checked on the source (AST) and at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPARK = ROOT / "spark"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


# Each package may import the standard library, itself, and the layers it sits on - never a
# sibling and never upwards (the core knows nothing of execution, persistence or workflow).
ALLOWED = {
    "core": ("spark.core",),
    "execution": ("spark.core", "spark.execution"),
    "persistence": ("spark.core", "spark.persistence"),
    "workflow": ("spark.core", "spark.workflow"),
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_standard_library_and_the_layers_below(package: str) -> None:
    allowed_prefixes = ALLOWED[package]
    for path in (SPARK / package).rglob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top == "spark":
                assert module.startswith(allowed_prefixes), f"{path.name} imports {module}"
            else:
                assert (
                    top in sys.stdlib_module_names or top == "__future__"
                ), f"{path.name} imports third-party {module}"


def test_optional_dependencies_are_confined_to_their_module() -> None:
    confined = {
        "sqlite3": {"spark/persistence/sqlite.py"},
        "cbor2": {"spark/remote/codec/cbor.py"},
        "websockets": {"spark/remote/websocket.py", "spark/remote/relay.py"},
    }
    for path in SPARK.rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in confined:
                assert relative in confined[top], f"{relative} imports {top}"


def test_import_spark_pulls_no_optional_dependency() -> None:
    code = (
        "import sys, spark; "
        "bad = [m for m in ('websockets', 'cbor2', 'sqlite3') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
