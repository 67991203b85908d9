"""Which module checks which claim. Modules are imported only when their check runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from checks.common import CheckResult

MODULES: dict[str, str] = {
    "C1": "checks.c1_prior",
    "C2": "checks.c2_manifold",
    "C3": "checks.c3_memorization",
    "C4": "checks.c4_bounded",
    "C5": "checks.c5_dimension",
    "C6": "checks.c6_boundary",
    "C7": "checks.c7_generalization",
    "C8": "checks.c8_learned",
}


def runner(claim_id: str) -> Callable[..., CheckResult]:
    """The ``run(*, seed, budget)`` function of the check for ``claim_id``."""
    if claim_id not in MODULES:
        raise ValueError(f"unknown claim id {claim_id!r}; known: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[claim_id]).run


def run_check(claim_id: str, seed: int, budget: str) -> CheckResult:
    """Run one check (a plain top-level function, so Dask can ship it to a worker process)."""
    return runner(claim_id)(seed=seed, budget=budget)
