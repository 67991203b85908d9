"""`python -m checks.mutants`: a catalog of small semantic bugs, and which claim checks catch them.

A verification suite is only as good as the smallest wrong theory or wrong simulator it can refute.
Each :class:`Mutant` changes one formula of the package by a small amount (a variance scaled by
1.01, a noise scale by 1.05, one sign), applied by patching a function in a fresh Python process,
never by editing the working tree. Running a mutant runs the claim checks under it; the claims
that come out not confirmed *kill* it. A *neutral* mutant makes a change that the theory says must
not matter (e.g. a wider prior with the exact score: CLAIMS.md C1); it must leave every claim
confirmed, or a check is failing on something the claim does not say.

Usage:
    python -m checks.mutants --list [--json]
    python -m checks.mutants --budget fast --json [--only a,b] [--claims C1,C3] [--workers N] [--seed S]

JSON: ``--list``: {"mutants": [{"name", "description", "neutral", "target"}]}; a run:
{"mutants": [{"name", "neutral", "killed_by": [claim ids refuted or inconclusive under it],
"crashed": [claim ids that raised under it: no kill], "verdicts": {claim: verdict}, "seconds"}],
"kill_rate": killed bug mutants / bug mutants, "neutral_ok": neutral mutants that kept every claim
confirmed / neutral mutants, "crashed": [mutants under which some claim raised], "budget", "seed"}.
Exit status: 0 when every bug mutant is killed, no neutral one is and no claim crashed; 1 otherwise; 2 for a bad
option.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Mutant:
    """One small change: ``target`` ("module:Class.method" or "module:function") is wrapped by
    ``wrap(original) -> replacement``. ``neutral``: the theory says the change must not matter."""

    name: str
    description: str
    target: str
    wrap: Callable[[Callable], Callable]
    neutral: bool = False

    def owner_and_attribute(self) -> tuple[object, str]:
        """The object holding the target attribute, and the attribute's name (checked to exist)."""
        module_name, _, path = self.target.partition(":")
        owner: object = importlib.import_module(module_name)
        *parents, attribute = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        if not hasattr(owner, attribute):
            raise AttributeError(f"mutant {self.name}: {self.target} does not exist")
        return owner, attribute

    def activate(self) -> None:
        """Patch the target in this process (irreversible: run it in a process of its own)."""
        owner, attribute = self.owner_and_attribute()
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        kind = type(original) if isinstance(original, (staticmethod, classmethod)) else None
        function = original.__func__ if kind else original
        replacement = functools.update_wrapper(self.wrap(function), function)
        setattr(owner, attribute, kind(replacement) if kind else replacement)


# -- the wrappers ---------------------------------------------------------------------------------

def _scale_result(factor: float) -> Callable[[Callable], Callable]:
    def wrap(f):
        def g(*args, **kwargs):
            return factor * f(*args, **kwargs)
        return g
    return wrap


def _scale_argument(index: int, factor: float) -> Callable[[Callable], Callable]:
    """Multiply positional argument ``index`` (0 is self) by ``factor``."""
    def wrap(f):
        def g(*args, **kwargs):
            args = list(args)
            args[index] = factor * args[index]
            return f(*args, **kwargs)
        return g
    return wrap


def _scale_coefficient(position: int, factor: float) -> Callable[[Callable], Callable]:
    """Multiply element ``position`` of a returned tuple by ``factor``."""
    def wrap(f):
        def g(*args, **kwargs):
            out = list(f(*args, **kwargs))
            out[position] = factor * out[position]
            return tuple(out)
        return g
    return wrap


def _scale_radius(factor: float) -> Callable[[Callable], Callable]:
    def wrap(f):
        def g(self, *args, **kwargs):
            return f(dataclasses.replace(self, radius=self.radius * factor), *args, **kwargs)
        return g
    return wrap


def _flip_tangential(f):
    """A sphere's score with its tangential part reflected: s - 2 T_x s (only a vMF law has one)."""
    def g(self, x, alpha, var):
        s = f(self, x, alpha, var)
        return s - 2.0 * self._tangent(x, s) if self.kappa > 0 else s
    return g


def _uniform_logits(f):
    """A point cloud's logits computed as if every weight were equal: the column of log w_i - log w_ref
    zeroed in the atom table the call uses (the float64 one, or the float32 one it is given)."""
    def g(self, x, alpha, var, *, out, shift=None, prec=None):
        prec = self._f64 if prec is None else prec
        plain = prec.atoms.copy()
        plain[:, -3] = 0.0
        return f(self, x, alpha, var, out=out, shift=shift, prec=dataclasses.replace(prec, atoms=plain))
    return g


def _scale_gaussian_covariance(factor: float):
    """A Gaussian constructor (a classmethod's function) whose covariance is multiplied by ``factor``."""
    def wrap(f):
        def g(cls, *args, **kwargs):
            out = f(cls, *args, **kwargs)
            return cls(out.mean, factor * out.cov)
        return g
    return wrap


def _scale_codimension(factor: float):
    """The codimension estimator with its sigma(t)^2 factor multiplied by ``factor``."""
    def wrap(f):
        def g(*args, **kwargs):
            est = f(*args, **kwargs)
            return type(est)(times=est.times, values=factor * est.values, sems=factor * est.sems,
                             limit=factor * est.limit, limit_se=factor * est.limit_se)
        return g
    return wrap


def _scale_rate(delta: float):
    """A BoundaryPrediction whose NumPy rate is shifted by ``delta`` (a wrong prediction)."""
    def wrap(f):
        def g(*args, **kwargs):
            pred = f(*args, **kwargs)
            rate = pred.rate_numpy
            return type(pred)(**{**pred.__dict__, "rate_numpy": lambda x: rate(x) + delta})
        return g
    return wrap


CATALOG: tuple[Mutant, ...] = (
    Mutant("ou-sigma2-x1.01", "OU kernel variance sigma(t)^2 multiplied by 1.01 (the scores and the forward "
           "sampler use it; the simulator's transition does not)", "theory.processes:OU._sigma2",
           _scale_result(1.01)),
    Mutant("noise-x1.05", "the simulator's Gaussian increments scaled by 1.05",
           "theory.simulator:step_coefficients", _scale_coefficient(2, 1.05)),
    Mutant("noise-variance-half", "the simulator's noise variance halved (increments scaled by sqrt(1/2))",
           "theory.simulator:step_coefficients", _scale_coefficient(2, float(np.sqrt(0.5)))),
    Mutant("vmf-direction-flip", "the tangential part of a von Mises-Fisher sphere's score reflected "
           "(it pushes away from the mean direction instead of towards it)",
           "theory.measures.sphere:Sphere._score", _flip_tangential),
    Mutant("posterior-temperature-1.1", "point-cloud posterior weights computed with the kernel variance "
           "multiplied by 1.1", "theory.measures.pointcloud:PointCloud._logits", _scale_argument(3, 1.1)),
    Mutant("pointcloud-weights-ignored", "point-cloud posterior weights computed as if the atoms' weights "
           "were equal", "theory.measures.pointcloud:PointCloud._logits", _uniform_logits),
    Mutant("drift-coefficient-x1.02", "the score's coefficient in every simulator step multiplied by 1.02",
           "theory.simulator:step_coefficients", _scale_coefficient(1, 1.02)),
    Mutant("subspace-score-x0.97", "a Gaussian subspace's score multiplied by 0.97",
           "theory.measures.subspace:Subspace._score", _scale_result(0.97)),
    Mutant("sphere-score-radius-x1.01", "a sphere's score computed as if its radius were 1.01 times larger "
           "(a radius bias of the score the sampler uses)", "theory.measures.sphere:Sphere._score",
           _scale_radius(1.01)),
    Mutant("vp-g2-x1.03", "VP's g(t)^2 multiplied by 1.03 (its alpha and sigma^2 unchanged)",
           "theory.processes:VP._g2", _scale_result(1.03)),
    Mutant("ve-transition-variance-x1.02", "VE's transition variance multiplied by 1.02",
           "theory.processes:VE._transition", _scale_coefficient(1, 1.02)),
    Mutant("mixture-responsibility-temperature", "a mixture's log-joint (log w_j + log p_t^(j)) multiplied "
           "by 0.9 before the softmax", "theory.measures.mixture:Mixture._log_joint", _scale_result(0.9)),
    Mutant("moment-matched-covariance-x1.05", "the moment-matched Gaussian's covariance multiplied by 1.05",
           "theory.priors:Gaussian.moment_matched", _scale_gaussian_covariance(1.05)),
    Mutant("c6-rate-prediction+0.05", "C6's predicted landing rate raised by 0.05",
           "theory.symbolic:boundary_prediction", _scale_rate(0.05)),
    Mutant("codimension-sigma2-x1.02", "the codimension estimator's sigma(t)^2 factor multiplied by 1.02",
           "theory.estimators:codimension", _scale_codimension(1.02)),
    Mutant("neutral-prior-scale", "the simulator's default prior N(0, I) widened to N(0, 1.5^2 I) (with the "
           "exact score the support is unchanged: CLAIMS.md C1)", "theory.priors:Gaussian.reference",
           _scale_gaussian_covariance(1.5**2), neutral=True),
)
BY_NAME = {m.name: m for m in CATALOG}


# -- running --------------------------------------------------------------------------------------

def _child(name: str, claims: Sequence[str], seed: int, budget: str) -> None:
    """In a fresh process: activate the mutant, run the claim checks, print {claim: verdict} as JSON."""
    BY_NAME[name].activate()  # before the checks are imported, so that their imports see the patch
    from checks.registry import run_check

    verdicts = {}
    for cid in claims:
        try:
            verdicts[cid] = run_check(cid, seed, budget).verdict.value
        except Exception as exc:  # a mutant that crashes a check is caught by it
            verdicts[cid] = f"error: {type(exc).__name__}: {exc}"
    print(json.dumps(verdicts))


def run_mutant(mutant: Mutant, *, claims: Sequence[str], seed: int, budget: str) -> dict:
    """Run the claim checks under ``mutant`` in a subprocess; {"name", "neutral", "killed_by", ...}."""
    started = time.perf_counter()
    code = (f"from checks.mutants import _child; _child({mutant.name!r}, {list(claims)!r}, {seed}, {budget!r})")
    env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"mutant {mutant.name}: the checks' process failed:\n{proc.stderr[-2000:]}")
    verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    # A claim that crashed under the mutant did not judge it: the patch no longer fits the code it
    # replaces, so a crash is reported apart and is no kill.
    killed = [cid for cid, v in verdicts.items() if v in ("refuted", "inconclusive")]
    crashed = [cid for cid, v in verdicts.items() if v not in ("refuted", "inconclusive", "confirmed")]
    return {"name": mutant.name, "neutral": mutant.neutral, "killed_by": killed, "crashed": crashed,
            "verdicts": verdicts,
            "seconds": round(time.perf_counter() - started, 1)}


def kept_every_claim(row: dict) -> bool:
    """Whether the claims judged the mutant of ``row`` and none came out not confirmed (a crash is
    no judgment, so it does not count as kept)."""
    return not row["killed_by"] and not row.get("crashed")


def summarize(rows: Sequence[dict]) -> dict:
    bugs = [r for r in rows if not r["neutral"]]
    neutral = [r for r in rows if r["neutral"]]
    return {"mutants": list(rows),
            "kill_rate": (sum(bool(r["killed_by"]) for r in bugs) / len(bugs)) if bugs else None,
            "neutral_ok": (sum(map(kept_every_claim, neutral)) / len(neutral)) if neutral else None,
            "crashed": [r["name"] for r in rows if r.get("crashed")]}


def run_catalog(*, claims: Sequence[str], seed: int, budget: str, workers: int = 1,
                names: Sequence[str] | None = None) -> dict:
    """Run the mutants ``names`` (default: the whole catalog) against the claim checks ``claims``,
    ``workers`` mutants at a time, each in a process of its own; the :func:`summarize` dict plus
    "budget", "seed" and "claims"."""
    names = list(BY_NAME) if names is None else list(names)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(lambda n: run_mutant(BY_NAME[n], claims=claims, seed=seed, budget=budget), names))
    return summarize(rows) | {"budget": budget, "seed": seed, "claims": list(claims)}


def main(argv: list[str] | None = None) -> int:
    from checks.registry import MODULES

    parser = argparse.ArgumentParser(prog="python -m checks.mutants", description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="list the catalog and exit")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument("--budget", default="fast", choices=("fast", "full"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated mutant names (default: all)")
    parser.add_argument("--claims", default=None, help="comma-separated claim ids (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="mutants run at once (default 1)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    if args.list:
        rows = [{"name": m.name, "description": m.description, "neutral": m.neutral, "target": m.target}
                for m in CATALOG]
        if args.json:
            print(json.dumps({"mutants": rows}, indent=1))
        else:
            for r in rows:
                print(f"{r['name']:38s} {'(neutral) ' if r['neutral'] else ''}{r['description']}")
        return 0
    names = list(BY_NAME) if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    claims = list(MODULES) if args.claims is None else [c.strip().upper() for c in args.claims.split(",")]
    bad_claims = [c for c in claims if c not in MODULES]
    if unknown or bad_claims or args.workers < 1 or args.seed < 0:
        print(f"error: unknown mutant(s) {unknown} or claim(s) {bad_claims}, or --workers < 1 or --seed < 0",
              file=sys.stderr)
        return 2
    result = run_catalog(claims=claims, seed=args.seed, budget=args.budget, workers=args.workers, names=names)
    rows = result["mutants"]
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for r in rows:
            status = ("kept every claim" if not r["killed_by"] else "killed by " + ", ".join(r["killed_by"]))
            print(f"{r['name']:38s} {'neutral ' if r['neutral'] else ''}{status}  ({r['seconds']} s)")
        print(f"kill rate {result['kill_rate']}, neutral kept {result['neutral_ok']}")
    ok = (all(r["killed_by"] for r in rows if not r["neutral"]) and not any(r["killed_by"] for r in rows if r["neutral"])
          and not result["crashed"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
