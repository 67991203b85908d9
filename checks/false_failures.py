"""`python -m checks.false_failures`: how often a correct implementation fails its own claim checks.

A check that fails on a correct implementation is a bug just as much as one that passes a wrong
one. This command runs claim checks at many root seeds of one budget and records, per run, whether
the verdict came out as it must (every case confirmed, every control refuted), which cases did
not, and how close the closest decision came to its rule (margins in band half-widths, as in
:class:`checks.harness.Decision`).

Usage:
    python -m checks.false_failures --budget fast --seeds 0:20 [--claims C1,C3] [--workers N]

prints one JSON object per run on stdout, as it finishes: {"claim", "budget", "seed", "verdict",
"wrong": [names of the cases and controls not as expected], "min_case_margin",
"min_control_refutation", "seconds", "commit"}. Each run is its own process. Collected runs are
summarized by :func:`summarize`; the report reads the measurement stored in
``checks/false_failures.json`` (:data:`MEASURED`), {"runs": [...]}, a file of such lines
gathered by the maintainers (it is data, not written by this command).

Exit status: 0 when every run came out as it must, 1 otherwise, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

# The measurement the report states (see the module docstring).
MEASURED = Path(__file__).with_name("false_failures.json")


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "none"
    return out.stdout.strip() or "none"


def run_one(claim: str, seed: int, budget: str) -> dict[str, Any]:
    """Run one claim check and say whether it came out as it must (module docstring)."""
    from checks.harness import Verdict
    from checks.registry import run_check

    started = time.perf_counter()
    result = run_check(claim, seed, budget)
    wrong = ([c.name for c in result.main_cases if c.verdict is not Verdict.CONFIRMED]
             + [c.name for c in result.controls if c.verdict is not Verdict.REFUTED])
    case_margins = [d.margin for c in result.main_cases for d in c.decisions if d.margin is not None]
    refutations = [max(-d.margin for d in c.decisions if d.margin is not None and d.verdict is Verdict.REFUTED)
                   for c in result.controls
                   if any(d.margin is not None and d.verdict is Verdict.REFUTED for d in c.decisions)]
    return {"claim": claim, "budget": result.budget.value, "seed": int(seed), "verdict": result.verdict.value,
            "wrong": wrong, "min_case_margin": min(case_margins) if case_margins else None,
            "min_control_refutation": min(refutations) if refutations else None,
            "seconds": round(time.perf_counter() - started, 1), "commit": _commit()}


def summarize(runs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per claim and budget (claims in id order, fast before full): the number of runs and of runs
    with a wrong verdict, the seeds, the closest case margin and the weakest control refutation over
    all runs, and the commits measured."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["claim"], r["budget"]), []).append(r)
    rows = []
    for (claim, budget), rs in sorted(groups.items(), key=lambda kv: (int(kv[0][0][1:]), kv[0][1] != "fast")):
        margins = [r["min_case_margin"] for r in rs if r["min_case_margin"] is not None]
        refutations = [r["min_control_refutation"] for r in rs if r["min_control_refutation"] is not None]
        rows.append({"claim": claim, "budget": budget, "runs": len(rs),
                     "wrong": sum(bool(r["wrong"]) or r["verdict"] != "confirmed" for r in rs),
                     "seeds": sorted(int(r["seed"]) for r in rs),
                     "min_case_margin": min(margins) if margins else None,
                     "min_control_refutation": min(refutations) if refutations else None,
                     "commits": sorted({r["commit"] for r in rs})})
    return rows


def measured() -> list[dict[str, Any]]:
    """:func:`summarize` of the stored measurement (an empty list if there is none)."""
    if not MEASURED.is_file():
        return []
    return summarize(json.loads(MEASURED.read_text())["runs"])


def _seeds(text: str) -> range:
    try:
        start, stop = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:STOP with integers, got {text!r}") from None
    if not 0 <= start < stop:
        raise argparse.ArgumentTypeError(f"expected 0 <= START < STOP, got {text!r}")
    return range(start, stop)


def main(argv: Sequence[str] | None = None) -> int:
    from checks.records import json_data
    from checks.registry import MODULES

    parser = argparse.ArgumentParser(prog="python -m checks.false_failures", description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="fast", choices=("fast", "full"))
    parser.add_argument("--seeds", type=_seeds, default=range(0, 20), help="START:STOP (default 0:20)")
    parser.add_argument("--claims", default=None, help="comma-separated claim ids (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="runs at once, each in its own process")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    claims = list(MODULES) if args.claims is None else [c.strip().upper() for c in args.claims.split(",") if c.strip()]
    bad = [c for c in claims if c not in MODULES]
    if bad or not claims or args.workers < 1:
        print(f"error: unknown claim(s) {bad} (known: {', '.join(MODULES)}), or no claim, or --workers < 1",
              file=sys.stderr)
        return 2
    ok = True
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_one, c, s, args.budget) for s in args.seeds for c in claims]
        for future in as_completed(futures):
            run = future.result()
            ok &= not run["wrong"] and run["verdict"] == "confirmed"
            print(json.dumps(json_data(run), allow_nan=False), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
