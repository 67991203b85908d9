"""`python -m checks` / `sgm-checks`: run the claim checks and write the report (the main job).

Exit status: 0 when every claim is confirmed, 1 when the report was written but some claim is
not confirmed, 2 for a bad option (nothing written).

Options: --budget fast|full, --seed N, --only C3,C6, --out DIR, --json, --workers N,
--scheduler ADDRESS, --benchmarks. With --workers > 1 or --scheduler the checks run as Dask
tasks (a local process cluster, or an existing dask.distributed cluster); otherwise in this
process. The report is written to a temporary folder beside --out and moved into place only when
every check has finished, so a failed run leaves no partial report. Progress bars (tqdm) show on
a terminal and stay silent otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checks.registry import MODULES, run_check

# How long to wait for an existing Dask scheduler before giving up with a clear message.
SCHEDULER_TIMEOUT_SECONDS = 10


class UsageError(Exception):
    """A bad option: reported in one line, exit code 2, nothing written."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m checks", description=__doc__.split("\n")[0])
    parser.add_argument("--budget", default="fast", choices=("fast", "full"),
                        help="fast: the CI profile (minutes); full: the complete study")
    parser.add_argument("--seed", type=int, default=0, help="root seed of every check (default 0)")
    parser.add_argument("--only", default=None, help="comma-separated claim ids, e.g. C3,C6 (default: all)")
    parser.add_argument("--out", default="reports", help="report folder (default: reports)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (Dask) (default 1)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--benchmarks", action="store_true", help="add the simulator benchmark ratios section")
    args = parser.parse_args(argv)
    if args.only is None:
        args.claims = list(MODULES)
    else:
        args.claims = [c.strip().upper() for c in args.only.split(",") if c.strip()]
        unknown = [c for c in args.claims if c not in MODULES]
        if unknown or not args.claims:
            raise UsageError(f"--only: unknown claim id(s) {', '.join(unknown) or '(none given)'}; "
                             f"known: {', '.join(MODULES)}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    return args


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="claim checks", unit="check", disable=None, file=sys.stderr)


def _run_local(claims, seed, budget):
    results = {}
    with _progress(len(claims)) as bar:
        for cid in claims:
            bar.set_postfix_str(cid)
            results[cid] = run_check(cid, seed, budget)
            bar.update()
    return results


def _client(args):
    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        try:
            return Client(args.scheduler, timeout=SCHEDULER_TIMEOUT_SECONDS), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--scheduler {args.scheduler}: cannot reach a Dask scheduler there ({exc})") from exc
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster), cluster


def _run_dask(args):
    from dask.distributed import as_completed

    client, cluster = _client(args)
    try:
        futures = {client.submit(run_check, cid, args.seed, args.budget, key=f"check-{cid}-{args.seed}"): cid
                   for cid in args.claims}
        results = {}
        with _progress(len(futures)) as bar:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _provenance(args, wall: float) -> dict:
    from checks.common import versions

    info = dict(versions())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    info.update({"seed": args.seed, "budget": args.budget, "git commit": commit or "none",
                 "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
                 "execution": (f"dask scheduler {args.scheduler}" if args.scheduler else
                               f"{args.workers} local process(es)"),
                 "wall time (s)": round(wall, 1)})
    return info


def _write_atomically(out: Path, write) -> None:
    """Write into a fresh temporary folder beside ``out``, then swap it in; on error remove it."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = parse_args(argv)
        results = _run_dask(args) if (args.scheduler or args.workers > 1) else _run_local(
            args.claims, args.seed, args.budget)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ordered = [results[cid] for cid in args.claims]
    benchmarks = None
    if args.benchmarks:
        from checks.perf import simulator_ratios

        benchmarks = simulator_ratios()
    provenance = _provenance(args, time.perf_counter() - started)

    from checks.report import write_report

    _write_atomically(Path(args.out), lambda folder: write_report(
        ordered, folder, budget=args.budget, seed=args.seed, provenance=provenance, benchmarks=benchmarks))
    if args.json:
        json.dump({"budget": args.budget, "seed": args.seed, "results": [r.to_dict() for r in ordered]},
                  sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    failed = [r.claim for r in ordered if r.verdict.value != "confirmed"]
    print(f"wrote {Path(args.out) / 'REPORT.md'}: {len(ordered) - len(failed)}/{len(ordered)} claims confirmed"
          + (f"; not confirmed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
