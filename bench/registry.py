"""Scenario registry: each scenario module registers implementations of named scenarios.

Every scenario has exactly one baseline implementation measured in the same run; the others are
reported as ratios against it. ``higher_is_better`` says which way the unit points (msg/s up,
µs per round trip down), so the table can say whether a ratio meets its target.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Measure = Callable[[], Awaitable[float]] | Callable[[], float]


@dataclass(frozen=True, slots=True)
class Implementation:
    scenario: str
    impl: str
    unit: str
    measure: Measure
    baseline: bool
    higher_is_better: bool
    target: str | None
    runs: int | None


@dataclass
class Registry:
    implementations: list[Implementation] = field(default_factory=list)

    def scenario(
        self,
        scenario: str,
        *,
        impl: str,
        unit: str,
        baseline: bool = False,
        higher_is_better: bool = True,
        target: str | None = None,
        runs: int | None = None,
    ) -> Callable[[Measure], Measure]:
        """Register ``measure`` (sync or async, returns one figure in ``unit``).

        ``target`` is a human-readable goal shown in the table (e.g. ``">= 0.4x"``); ``runs``
        overrides the default repetition count for slow scenarios.
        """

        def register(measure: Measure) -> Measure:
            self.implementations.append(
                Implementation(
                    scenario, impl, unit, measure, baseline, higher_is_better, target, runs
                )
            )
            return measure

        return register


REGISTRY = Registry()
scenario = REGISTRY.scenario
