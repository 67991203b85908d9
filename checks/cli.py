"""`python -m checks` / `sgm-checks`: run the claim checks and write the report (the main job).

Everything that can be refused is refused before any check runs: bad options, missing optional
dependencies, an output path that is a file, a non-empty folder without our manifest, a folder
that cannot be written, an unreachable Dask scheduler or one without workers. The report is
written into a staging folder and moved into place only when every check has finished; the tool
removes only files it wrote itself (see :mod:`checks.output`). A partial run (``--only``) replaces
its claims' pages and the summary and keeps the other claims' pages.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from checks.output import OutputError, ReportFolder
from checks.registry import MODULES, check_of, run_check, run_one_case

# How long to wait for an existing Dask scheduler to answer before giving up with a clear message.
SCHEDULER_TIMEOUT_SECONDS = 10
# The local cluster's HTTP server (metrics, and the dashboard when bokeh is installed): a free port
# on the loopback interface. Without an address Dask takes the fixed port 8787 and, when another
# cluster holds it, warns and moves elsewhere; two reports at once should not collide.
EPHEMERAL_HTTP = "127.0.0.1:0"
# Default wait for the first worker of an existing Dask scheduler (--worker-timeout): long enough
# for workers started together with the scheduler to register, short enough not to look hung.
WORKER_TIMEOUT_SECONDS = 60.0

# The page and record --sensitivity writes beside REPORT.md.
SENSITIVITY_PAGE = "SENSITIVITY.md"
SENSITIVITY_RECORD = "sensitivity.json"
# The page --benchmarks writes beside REPORT.md.
BENCHMARK_PAGE = "BENCHMARKS.md"

EXIT_OK = 0  # every claim confirmed (and, with --benchmarks, every benchmark row within its bound)
EXIT_NOT_CONFIRMED = 1  # report written; some claim is refuted or inconclusive
EXIT_USAGE = 2  # refused before any work: bad option, missing dependency, unusable --out or scheduler
EXIT_BENCHMARK = 3  # report written; every claim confirmed, but a benchmark row missed its bound
EXIT_CRASH = 4  # a check or the writer raised an error (traceback on stderr); nothing written
EXIT_INTERRUPTED = 130  # SIGINT: nothing written, the previous report left as it was

EPILOG = f"""\
exit status:
  {EXIT_OK}    every claim confirmed (and, with --benchmarks, every benchmark within its bound)
  {EXIT_NOT_CONFIRMED}    report written; some claim was refuted or is inconclusive
  {EXIT_USAGE}    refused before any check ran: bad option, missing optional dependency, unusable
       --out (an existing file, a non-empty folder without a report manifest, a changed report
       file, no write permission), unreachable scheduler or no worker within --worker-timeout
  {EXIT_BENCHMARK}    report written, every claim confirmed, but a benchmark row missed its bound
  {EXIT_CRASH}    a check or the report writer raised an error (traceback above); nothing written
  {EXIT_INTERRUPTED}  interrupted (SIGINT); the previous report is left unchanged

The tool never removes or overwrites a file it did not write: a report folder carries
manifest.json, the list of the files the report command wrote there.
"""


class UsageError(Exception):
    """A bad option or an unusable environment: one line on stderr, exit status 2, nothing written."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: same status, same one-line form
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m checks", description=__doc__.split("\n")[0],
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="fast", choices=("fast", "full"),
                        help="fast: the CI profile (minutes); full: the complete study")
    parser.add_argument("--seed", type=int, default=0, help="root seed of every check, an integer >= 0 (default 0)")
    parser.add_argument("--only", default=None, help="comma-separated claim ids, e.g. C3,C6 (default: all)")
    parser.add_argument("--out", default="reports", help="report folder (default: reports)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (Dask) (default 1)")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    parser.add_argument("--worker-timeout", type=float, default=WORKER_TIMEOUT_SECONDS,
                        help=f"seconds to wait for a worker of --scheduler (default {WORKER_TIMEOUT_SECONDS:g})")
    parser.add_argument("--benchmarks", action="store_true", help="add the simulator benchmark section")
    parser.add_argument("--sensitivity", action="store_true",
                        help="also run the mutant catalog (python -m checks.mutants) against the claims of this "
                             "run and write SENSITIVITY.md (about 16 times the checks' time, --workers at once)")
    args = parser.parse_args(argv)
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.only is None:
        args.claims = list(MODULES)
    else:
        requested = [c.strip().upper() for c in args.only.split(",") if c.strip()]
        unknown = [c for c in requested if c not in MODULES]
        if unknown or not requested:
            raise UsageError(f"--only: unknown claim id(s) {', '.join(unknown) or '(none given)'}; "
                             f"known: {', '.join(MODULES)}")
        args.claims = list(dict.fromkeys(requested))  # case-insensitive duplicates run once, in order
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if not args.worker_timeout > 0:
        raise UsageError(f"--worker-timeout must be > 0 seconds, got {args.worker_timeout}")
    return args


# -- optional dependencies ------------------------------------------------------------------------

def _missing(modules: list[str]) -> list[str]:
    """The names in ``modules`` that cannot be imported (not installed, or blocked in sys.modules)."""
    missing = []
    for name in modules:
        try:
            found = sys.modules.get(name, False) is not None and importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def install_hint() -> str:
    """The one pip line that installs the report extra, for this installation."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():  # a checkout (editable install or a bare clone)
        return f"pip install -e '{root}[report]'"
    return "pip install 'sgm-manifolds[report]'"


def check_extras(args: argparse.Namespace) -> None:
    """Refuse (before any work) when a module the run needs is not installed."""
    needed = ["matplotlib", "tqdm", "sklearn"]  # plots, progress, the digits data of C3/C5/C7
    if args.workers > 1 or args.scheduler:
        needed.append("distributed")
    missing = _missing(needed)
    if missing:
        raise UsageError(f"missing optional dependencies: {', '.join(missing)}; install them with: "
                         f"{install_hint()}")


# -- running the checks ---------------------------------------------------------------------------

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


def connect(args: argparse.Namespace):
    """(client, cluster) for a Dask run, or (None, None). Refuses an unreachable scheduler, or one
    with no worker within --worker-timeout, before any check is submitted."""
    if not (args.scheduler or args.workers > 1):
        return None, None
    from dask.distributed import Client, LocalCluster

    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout=SCHEDULER_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"--scheduler {args.scheduler}: cannot reach a Dask scheduler there ({exc})") from exc
        try:
            client.wait_for_workers(1, timeout=args.worker_timeout)
        except (TimeoutError, OSError) as exc:
            client.close()
            raise UsageError(f"--scheduler {args.scheduler}: no worker joined within {args.worker_timeout:g} s "
                             f"(start one with: dask worker {args.scheduler}; or raise --worker-timeout)") from exc
        return client, None
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=EPHEMERAL_HTTP)
    return Client(cluster), cluster


def _close(client, cluster, environ: dict[str, str]) -> None:
    """Close a Dask client and local cluster (either may be None), then restore the environment
    variables as they were in ``environ`` (see main)."""
    if client is not None:
        client.close()
    if cluster is not None:
        cluster.close()
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    for name, value in environ.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _run_dask(client, args):
    """Every case of every harness check is one task (a check not on the harness is one task);
    the claims are assembled from their cases' results as they come in."""
    import time as _time

    from dask.distributed import as_completed

    from checks.harness import Budget, finish_claim, runnable

    futures, plans = {}, {}
    for cid in args.claims:
        check = check_of(cid)
        specs = runnable(check, args.budget)
        plans[cid] = (check, specs, {}, _time.perf_counter())
        for spec in specs:
            if spec.reuses is None:
                key = f"case-{cid}-{spec.name}-{args.seed}"
                futures[client.submit(run_one_case, cid, spec.name, args.seed, args.budget, key=key)] = (cid, spec.name)
    results = {}
    with _progress(len(futures)) as bar:
        for future in as_completed(futures):
            cid, name = futures[future]
            if name is None:
                results[cid] = future.result()
            else:
                check, specs, ran, started = plans[cid]
                ran[name] = future.result()
                if len(ran) == sum(s.reuses is None for s in specs):
                    results[cid] = finish_claim(check, seed=args.seed, budget=Budget.parse(args.budget), specs=specs,
                                                ran=ran, elapsed=_time.perf_counter() - started)
            bar.update()
    return results


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).resolve().parent,
                              timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _commit() -> str:
    """The short commit of the code that ran, "+modified" when theory/ or checks/ differ from it."""
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return "none"
    root = Path(__file__).resolve().parent.parent
    changed = _git("status", "--porcelain", "--", str(root / "theory"), str(root / "checks"))
    return commit + ("+modified" if changed else "")


def _versions() -> dict[str, str]:
    """Versions of Python, the package and its scientific dependencies (provenance)."""
    out = {"python": platform.python_version()}
    for dist in ("sgm-manifolds", "numpy", "scipy", "sympy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # running from a bare checkout
            out[dist] = "not installed"
    return out


def _run_info(args, *, wall: float) -> dict:
    info = _versions()
    info.update({"seed": args.seed, "budget": args.budget, "claims run": ", ".join(args.claims),
                 "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
                 "execution": (f"dask scheduler {args.scheduler}" if args.scheduler else
                               f"{args.workers} local process(es)"),
                 "checks wall time (s)": round(wall, 1)})
    return info


def check_kept(kept: dict, args: argparse.Namespace) -> None:
    """Refuse (before any work) a partial run over a report whose kept claims' records the writer
    cannot read: they were written by an older version of the tool."""
    from checks.records import record_problem

    stale = {cid: problem for cid, e in kept.items() if (problem := record_problem(e["record"])) is not None}
    if stale:
        first = next(iter(stale.items()))
        raise OutputError(f"{args.out}: the pages of {', '.join(sorted(stale))} were written by an older version of "
                          f"this tool ({first[0]}.json: {first[1]}), so a run of {', '.join(args.claims)} cannot "
                          f"keep them; run those claims too (--only {','.join(sorted(set(args.claims) | set(stale)))}) "
                          f"or all claims (no --only)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["diagnose"]:
        from checks.diagnose import main as diagnose_main

        return diagnose_main(argv[1:])
    started = time.perf_counter()
    client = cluster = folder = None
    # Dask's nanny writes its pre-spawn variables (OMP_NUM_THREADS=1 and the like) into this process's
    # environment and leaves them there; restored once the cluster is closed, so that what runs after
    # the checks (the benchmarks: torch reads OMP_NUM_THREADS when it is imported) sees the user's.
    environ = dict(os.environ)
    try:
        try:
            args = parse_args(argv)
            check_extras(args)
            folder = ReportFolder.prepare(args.out)
            kept = folder.kept_claims(args.claims)
            check_kept(kept, args)
            client, cluster = connect(args)
        except (UsageError, OutputError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            if folder is not None:
                folder.discard_created()
            return EXIT_USAGE
        try:
            results = _run_dask(client, args) if client is not None else _run_local(args.claims, args.seed,
                                                                                   args.budget)
            ordered = [results[cid] for cid in args.claims]
            _close(client, cluster, environ)
            client = cluster = None
            benchmarks = None
            if args.benchmarks:
                from checks.perf import simulator_ratios

                benchmarks = simulator_ratios()
            mutants = None
            if args.sensitivity:
                from checks.mutants import run_catalog

                mutants = run_catalog(claims=args.claims, seed=args.seed, budget=args.budget, workers=args.workers)
            from theory.claims import CLAIMS
            wall = time.perf_counter() - started
            date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            commit = _commit()
            provenance = {r.claim: {"seed": r.seed, "budget": r.budget, "commit": commit, "date": date}
                          for r in ordered}
            from checks import false_failures
            from checks.writer import write_report

            with folder.staging() as stage:
                extra = []
                if benchmarks is not None:
                    from checks.perf import benchmark_page

                    (stage / BENCHMARK_PAGE).write_text(benchmark_page(benchmarks, _run_info(args, wall=wall)))
                    extra.append(BENCHMARK_PAGE)
                if mutants is not None:
                    from checks.mutants import BY_NAME
                    from checks.records import json_data
                    from checks.writer import sensitivity_page

                    records = [json_data(r.to_dict()) for r in ordered]
                    (stage / SENSITIVITY_PAGE).write_text(sensitivity_page(
                        mutants, records, {name: m.description for name, m in BY_NAME.items()}))
                    (stage / SENSITIVITY_RECORD).write_text(json.dumps(json_data(mutants), indent=1, sort_keys=True,
                                                                       allow_nan=False) + "\n")
                    extra += [SENSITIVITY_PAGE, SENSITIVITY_RECORD]
                written = write_report(ordered, stage, provenance=provenance, kept=kept,
                                       run_info=_run_info(args, wall=wall), claim_order=list(CLAIMS),
                                       benchmarks=BENCHMARK_PAGE if benchmarks is not None else None,
                                       sensitivity=SENSITIVITY_PAGE if mutants is not None else None,
                                       false_failures=false_failures.measured())
                folder.install(stage, written.files + extra, keep=[f for c in kept.values() for f in c["files"]],
                               claims=written.claims)
        except KeyboardInterrupt:
            folder.discard_created()
            print("interrupted: no report written; the previous report is unchanged", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception:
            folder.discard_created()
            traceback.print_exc()
            print("error: a check or the report writer failed (traceback above): no report written; "
                  "the previous report is unchanged", file=sys.stderr)
            return EXIT_CRASH
        except BaseException:
            folder.discard_created()
            raise
    finally:
        _close(client, cluster, environ)
    if args.json:
        from checks.records import json_data

        payload = json_data({"budget": args.budget, "seed": args.seed, "results": [r.to_dict() for r in ordered]})
        sys.stdout.write(json.dumps(payload, indent=1, sort_keys=True, allow_nan=False) + "\n")
    failed = [r.claim for r in ordered if r.verdict.value != "confirmed"]
    missed = [name for name, measured, bound in (benchmarks or []) if not measured <= bound]
    print(f"wrote {Path(args.out) / 'REPORT.md'}: {len(ordered) - len(failed)}/{len(ordered)} claims confirmed"
          + (f"; not confirmed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    if missed:
        print(f"benchmark rows over their bound ({len(missed)}): " + "; ".join(missed), file=sys.stderr)
    if failed:
        return EXIT_NOT_CONFIRMED
    return EXIT_BENCHMARK if missed else EXIT_OK
