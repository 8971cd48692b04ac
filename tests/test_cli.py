from __future__ import annotations

import subprocess
import sys

import spark


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "spark.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"spark {spark.__version__}"
