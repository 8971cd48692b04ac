"""Layering rules of DESIGN.md §2, checked on the source (AST) and at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def test_core_imports_only_the_standard_library_and_itself() -> None:
    allowed_prefixes = ("spark.core",)
    for path in (SPARK / "core").rglob("*.py"):
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
