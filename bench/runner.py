"""The benchmark runner: cases register themselves; each measures a subject and its baseline.

A case is a function returning ``list[Measurement]``; ``measure`` times a callable ``repeat``
times and keeps the median. The runner prints one table: case, subject, median, baseline
median, ratio, the limit the issue sets (``<=L``, ``>=L``, or ``~L``: between 1/L and L), and
whether it holds. Exit status 1 if a limit fails.

The ratio is the subject's median over the baseline's, unless the case measured both in the same
interleaved rounds and gave the per-round ratios (``Measurement.round_ratios``): then it is the
median of those, which cancels the drift between rounds (another process taking a core) that a
ratio of two medians keeps.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CASES", "Measurement", "case", "measure", "measure_command", "run_cases"]


@dataclass
class Measurement:
    """One compared figure: subject against baseline, with the limit on their ratio."""

    case: str
    subject: str
    value: float
    baseline_name: str
    baseline: float
    unit: str = "ms"
    limit: float | None = None
    """The ratio must be at most this (or at least, with ``higher_is_better``; both ways, ``two_sided``)."""
    higher_is_better: bool = False
    two_sided: bool = False
    """The ratio must also be at least ``1 / limit``: the subject is the baseline's equal (a noise floor)."""
    round_ratios: tuple[float, ...] = ()
    """Subject over baseline in each round that measured both; when given, ``ratio`` is their median."""

    @property
    def ratio(self) -> float:
        """The median of ``round_ratios`` when there are any, else ``value / baseline``."""
        if self.round_ratios:
            return statistics.median(self.round_ratios)
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def ok(self) -> bool | None:
        if self.limit is None:
            return None
        if self.two_sided:
            return 1 / self.limit <= self.ratio <= self.limit
        return self.ratio >= self.limit if self.higher_is_better else self.ratio <= self.limit


CASES: dict[str, Callable[[], list[Measurement]]] = {}


def case(name: str) -> Callable[[Callable[[], list[Measurement]]], Callable[[], list[Measurement]]]:
    """Register a benchmark case under ``name``."""

    def decorate(func: Callable[[], list[Measurement]]) -> Callable[[], list[Measurement]]:
        CASES[name] = func
        return func

    return decorate


def measure(func: Callable[[], object], repeat: int = 9, warmup: int = 1) -> float:
    """Median wall time of ``func()`` in milliseconds."""
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def measure_command(argv: list[str], repeat: int = 9, env: dict[str, str] | None = None) -> float:
    """Median wall time of running ``argv`` to completion, in milliseconds (it must exit 0)."""
    return measure(lambda: subprocess.run(argv, check=True, capture_output=True, env=env), repeat=repeat)


def _bound(m: Measurement) -> str:
    """How the ratio is held to the limit: ``<=``, ``>=``, or ``~`` (within a factor of it either way)."""
    return "~" if m.two_sided else ">=" if m.higher_is_better else "<="


def run_cases(names: list[str] | None = None) -> list[Measurement]:
    """Run the named cases (all by default) and print the table; return the measurements."""
    results: list[Measurement] = []
    for name, func in CASES.items():
        if names and name not in names:
            continue
        results.extend(func())
    header = (
        f"{'case':<28} {'subject':<34} {'median':>10} {'baseline':<34} {'median':>10} {'ratio':>7} {'limit':>7}  ok"
    )
    print(header)
    print("-" * len(header))
    for m in results:
        limit = "-" if m.limit is None else f"{_bound(m)}{m.limit:g}"
        ok = {True: "yes", False: "NO", None: "-"}[m.ok]
        print(
            f"{m.case:<28} {m.subject:<34} {m.value:>8.2f}{m.unit:>2} {m.baseline_name:<34} "
            f"{m.baseline:>8.2f}{m.unit:>2} {m.ratio:>7.2f} {limit:>7}  {ok}"
        )
    return results
