"""Benchmark configuration: ratios measured in one run (checks.perf), collected and printed.

Every benchmark asserts on a ratio of two timings taken interleaved in the same run, never on an
absolute time. The ratios go into pytest-benchmark's ``extra_info`` (see ``--benchmark-json``) and
into a table printed at the end of the run.
"""

from __future__ import annotations

import pytest

RATIOS: list[tuple[str, float, float, str]] = []


@pytest.fixture
def report_ratio(benchmark):
    """Record (name, measured, bound, note) for the end-of-run table and the JSON output."""

    def record(name: str, measured: float, bound: float, note: str = "") -> None:
        benchmark.extra_info[name] = measured
        benchmark.extra_info[name + " bound"] = bound
        RATIOS.append((name, measured, bound, note))

    return record


def pytest_terminal_summary(terminalreporter):
    if not RATIOS:
        return
    terminalreporter.section("sgm-manifolds performance ratios (measured in this run)")
    for name, measured, bound, note in RATIOS:
        verdict = "ok" if measured <= bound else "OVER"
        terminalreporter.write_line(f"{name:60s} {measured:9.3g}  (bound {bound:g}) {verdict} {note}")
