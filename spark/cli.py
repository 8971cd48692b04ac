"""The ``spark`` command."""

from __future__ import annotations

import argparse
import sys

from spark._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spark", description="Spark: an async-first actor framework for Python."
    )
    parser.add_argument("--version", action="version", version=f"spark {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
