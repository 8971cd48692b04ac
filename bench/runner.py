"""Run the registered scenarios and report medians and ratios to the in-run baseline."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import inspect
import json
import logging
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.registry import REGISTRY, Implementation

RESULTS = Path(__file__).parent / "results"


def _load_scenarios() -> None:
    import bench.scenarios as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"bench.scenarios.{module.name}")


def _measure_once(implementation: Implementation) -> float:
    gc.collect()
    measure = implementation.measure
    if inspect.iscoroutinefunction(measure):
        return float(asyncio.run(measure()))
    return float(measure())  # type: ignore[arg-type]


def run(selected: list[str] | None, runs: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    scenarios: dict[str, list[Implementation]] = {}
    for implementation in REGISTRY.implementations:
        if selected and not any(name in implementation.scenario for name in selected):
            continue
        scenarios.setdefault(implementation.scenario, []).append(implementation)
    for name, implementations in scenarios.items():
        figures: dict[str, list[float]] = {impl.impl: [] for impl in implementations}
        repetitions = max(impl.runs or runs for impl in implementations)
        # Interleave implementations so drifting machine load hits all of them alike.
        for _ in range(repetitions):
            for implementation in implementations:
                figures[implementation.impl].append(_measure_once(implementation))
        baseline = next((impl for impl in implementations if impl.baseline), None)
        baseline_median = statistics.median(figures[baseline.impl]) if baseline else None
        for implementation in implementations:
            values = figures[implementation.impl]
            median = statistics.median(values)
            ratio = None
            if baseline_median:
                ratio = median / baseline_median
            rows.append(
                {
                    "scenario": name,
                    "impl": implementation.impl,
                    "unit": implementation.unit,
                    "median": median,
                    "min": min(values),
                    "max": max(values),
                    "ratio_to_baseline": ratio,
                    "runs": len(values),
                    "baseline": implementation.baseline,
                    "target": implementation.target,
                }
            )
        print_rows([row for row in rows if row["scenario"] == name])
    return rows


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        ratio = (
            "baseline"
            if row["baseline"]
            else ("-" if row["ratio_to_baseline"] is None else f"{row['ratio_to_baseline']:.2f}x")
        )
        target = f"  target {row['target']}" if row["target"] else ""
        print(
            f"{row['scenario']:<28} {row['impl']:<32} {_fmt(row['median']):>12} {row['unit']:<10}"
            f" min {_fmt(row['min']):>10} max {_fmt(row['max']):>10}  {ratio}{target}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="repetitions per implementation")
    parser.add_argument(
        "--only", default="", help="comma-separated substrings of scenario names to run"
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON"
    )
    args = parser.parse_args(argv)
    # Scenarios dead-letter on purpose (overload, crashes); keep their summaries off the table.
    logging.getLogger("spark").setLevel(logging.ERROR)
    _load_scenarios()
    selected = [name for name in args.only.split(",") if name] or None
    print(
        f"python {platform.python_version()} on {platform.machine()},"
        f" {args.runs} runs per implementation (median, min, max)"
    )
    started = time.perf_counter()
    rows = run(selected, args.runs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    keys = ("scenario", "impl", "unit", "median", "min", "max", "ratio_to_baseline")
    args.output.write_text(json.dumps([{k: row[k] for k in keys} for row in rows], indent=2) + "\n")
    print(f"wrote {args.output} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
