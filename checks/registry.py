"""Which module checks which claim, and how to run a claim or one of its cases (plain top-level
functions, so Dask can ship them to worker processes). Modules are imported only when used."""

from __future__ import annotations

import importlib

from checks.harness import Budget, CaseResult, CheckResult, ClaimCheck, run_case

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


def _module(claim_id: str):
    if claim_id not in MODULES:
        raise ValueError(f"unknown claim id {claim_id!r}; known: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[claim_id])


def check_of(claim_id: str) -> ClaimCheck:
    """The claim's ClaimCheck: its plans and its table of cases."""
    return _module(claim_id).CHECK


def run_check(claim_id: str, seed: int, budget: str) -> CheckResult:
    """Run one claim check (every case of its table at ``budget``, from the root ``seed``)."""
    return _module(claim_id).run(seed=seed, budget=budget)


def run_one_case(claim_id: str, case_name: str, seed: int, budget: str) -> CaseResult:
    """Run one case of a harness check (one Dask task)."""
    check = check_of(claim_id)
    budget = Budget.parse(budget)
    spec = next(s for s in check.cases(budget) if s.name == case_name)
    return run_case(check, spec, check.plans[budget], seed)
