"""The command line under bad input and faults: exit status, message, and no user file lost.

The checks are replaced by stored results (tests/stored_results.py), so each row runs in a
fraction of a second; one test interrupts a real run with SIGINT in a subprocess. Every row
asserts the exit status, the message on stderr, that no check ran when the run was refused, and
that every file that existed before the run is still there, byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from checks import cli, registry  # noqa: E402
from checks.harness import CheckResult, Decision, Estimate, Expected, Verdict  # noqa: E402
from checks.output import MANIFEST  # noqa: E402
from stored_results import stored_result  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> content)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_survived(before: dict[str, bytes], root: Path) -> None:
    after = snapshot(root)
    for name, content in before.items():
        assert name in after, f"user file {name} was deleted"
        assert after[name] == content, f"user file {name} was changed"


@pytest.fixture
def calls(monkeypatch):
    """Replace the checks by stored results; the list records which claims ran."""
    ran: list[str] = []

    def fake(cid, seed, budget):
        ran.append(cid)
        return stored_result(cid, seed=seed, budget=budget)

    monkeypatch.setattr(cli, "run_check", fake)
    return ran


def run(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:  # --help
        return exc.code


# -- refused before any work ----------------------------------------------------------------------

def _notes(tmp: Path) -> str:
    (tmp / "notes.txt").write_text("my notes\n")
    return "notes.txt"


def _folder_with_files(tmp: Path) -> str:
    (tmp / "mydir" / "sub").mkdir(parents=True)
    (tmp / "mydir" / "a.txt").write_text("keep me")
    (tmp / "mydir" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    return "mydir"


def _cwd_with_files(tmp: Path) -> str:
    (tmp / "thesis.tex").write_text("\\documentclass{article}")
    (tmp / "data.npy").write_bytes(b"\x93NUMPY")
    return "."


def _under_a_file(tmp: Path) -> str:
    _notes(tmp)
    return "notes.txt/report"


def _foreign_manifest(tmp: Path) -> str:
    (tmp / "pkg").mkdir()
    (tmp / "pkg" / MANIFEST).write_text(json.dumps({"name": "someone else's manifest", "files": {}}))
    return "pkg"


def _new(tmp: Path) -> str:
    return "new/nested/report"


@dataclass(frozen=True)
class Refusal:
    """A run that must be refused with exit status 2 before any check runs, leaving tmp as it was."""

    name: str
    setup: Callable[[Path], str]  # creates the user's files, returns the --out argument
    argv: tuple[str, ...]
    message: str


REFUSALS = [
    Refusal("--out is an existing file", _notes, (), "is an existing file, not a folder"),
    Refusal("--out is a folder of the user's", _folder_with_files, (), "holds no report manifest"),
    Refusal("--out . with the user's files", _cwd_with_files, (), "holds no report manifest"),
    Refusal("--out under a file", _under_a_file, (), "cannot create the folder"),
    Refusal("--out holds someone else's manifest.json", _foreign_manifest, (), "holds no report manifest"),
    Refusal("negative seed", _new, ("--seed", "-1"), "--seed must be an integer >= 0, got -1"),
    Refusal("seed not an integer", _new, ("--seed", "x"), "invalid int value: 'x'"),
    Refusal("unknown claim", _new, ("--only", "C9"), "unknown claim id"),
    Refusal("no claim named", _new, ("--only", ","), "unknown claim id"),
    Refusal("unknown budget", _new, ("--budget", "huge"), "invalid choice: 'huge'"),
    Refusal("no workers", _new, ("--workers", "0"), "--workers must be >= 1, got 0"),
    Refusal("no worker timeout", _new, ("--worker-timeout", "0"), "--worker-timeout must be > 0"),
]


@pytest.mark.parametrize("row", REFUSALS, ids=[r.name for r in REFUSALS])
def test_refused_before_any_work(row, tmp_path, monkeypatch, capsys, calls):
    monkeypatch.chdir(tmp_path)
    out = row.setup(tmp_path)
    before = snapshot(tmp_path)
    entries = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert run(["--out", out, *row.argv]) == cli.EXIT_USAGE
    assert row.message in capsys.readouterr().err
    assert calls == []
    assert snapshot(tmp_path) == before
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == entries  # no folder left behind


def test_a_partial_run_over_an_older_report_format_is_refused_before_any_work(tmp_path, capsys, calls):
    """A report whose C1 record was written by an older version (no typed decisions): --only C2 cannot
    keep C1's pages, so it is refused with exit 2 before any check runs, every file unchanged."""
    import hashlib

    out = tmp_path / "rep"
    assert run(["--out", str(out), "--only", "C1,C2"]) == cli.EXIT_OK
    record = json.loads((out / "C1.json").read_text())
    for case in record["cases"]:
        del case["decisions"]  # the shape of the records before the claim harness
    (out / "C1.json").write_text(json.dumps(record))
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"]["C1.json"] = hashlib.sha256((out / "C1.json").read_bytes()).hexdigest()
    (out / MANIFEST).write_text(json.dumps(manifest))
    calls.clear()
    capsys.readouterr()
    before = snapshot(tmp_path)
    assert run(["--out", str(out), "--only", "C2"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "the pages of C1 were written by an older version" in err and "--only C1,C2" in err, err
    assert calls == [] and snapshot(tmp_path) == before


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write to a read-only folder")
def test_unwritable_folder_is_refused_before_any_work(tmp_path, capsys, calls):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert run(["--out", str(out)]) == cli.EXIT_USAGE
    finally:
        out.chmod(0o755)
    assert "not writable" in capsys.readouterr().err and calls == [] and not list(out.iterdir())


def test_a_report_file_changed_by_the_user_is_refused(tmp_path, capsys, calls):
    out = tmp_path / "rep"
    assert run(["--out", str(out)]) == cli.EXIT_OK
    (out / "C1.md").write_text("my edits to the C1 page")
    before, calls[:] = snapshot(tmp_path), []
    assert run(["--out", str(out)]) == cli.EXIT_USAGE
    assert "changed since the report command wrote them (C1.md)" in capsys.readouterr().err
    assert calls == [] and snapshot(tmp_path) == before


def test_missing_optional_dependency_names_the_install_line(tmp_path, monkeypatch, capsys, calls):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails, as when it is not installed
    assert run(["--out", str(tmp_path / "rep")]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "missing optional dependencies: tqdm" in err and "pip install" in err and "[report]" in err
    assert calls == [] and not list(tmp_path.iterdir())


def test_scheduler_without_workers_is_refused_within_the_timeout(tmp_path, capsys, calls):
    distributed = pytest.importorskip("distributed")
    # An ephemeral HTTP port: the default 8787 may be held by another cluster on the machine (a
    # report run beside the suite), and Dask's warning about it is an error under filterwarnings.
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=cli.EPHEMERAL_HTTP) as cluster:
        started = time.perf_counter()
        code = run(["--out", str(tmp_path / "rep"), "--scheduler", cluster.scheduler_address,
                    "--worker-timeout", "1"])
        elapsed = time.perf_counter() - started
    assert code == cli.EXIT_USAGE
    assert "no worker joined within 1 s" in capsys.readouterr().err
    assert elapsed < 30 and calls == [] and not list(tmp_path.iterdir())


def test_unreachable_scheduler_is_refused(tmp_path, capsys, monkeypatch, calls):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_SECONDS", 2)
    assert run(["--out", str(tmp_path / "rep"), "--scheduler", "tcp://127.0.0.1:9"]) == cli.EXIT_USAGE
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err
    assert calls == [] and not list(tmp_path.iterdir())


def test_help_states_the_exit_codes(capsys):
    assert run(["--help"]) == 0
    text = capsys.readouterr().out
    for code in (cli.EXIT_OK, cli.EXIT_NOT_CONFIRMED, cli.EXIT_USAGE, cli.EXIT_BENCHMARK, cli.EXIT_INTERRUPTED,
                 cli.EXIT_CRASH):
        assert f"\n  {code} " in text
    assert "manifest.json" in text


# -- runs that write a report ---------------------------------------------------------------------

def test_replacing_a_report_removes_only_its_own_files(tmp_path, calls):
    out = tmp_path / "rep"
    assert run(["--out", str(out)]) == cli.EXIT_OK
    (out / "notes.txt").write_text("the user's file inside the report folder")
    (out / "figs").mkdir()
    (out / "figs" / "mine.png").write_bytes(b"not ours")
    ours = json.loads((out / MANIFEST).read_text())["files"]
    assert "notes.txt" not in ours and "C1.md" in ours
    before = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("rep/C") and "REPORT" not in k
              and MANIFEST not in k}
    assert run(["--out", str(out), "--seed", "5"]) == cli.EXIT_OK
    assert_survived(before, tmp_path)
    assert "seed" in (out / "REPORT.md").read_text()


def test_a_partial_run_keeps_the_other_claims_pages(tmp_path, capsys, calls):
    out = tmp_path / "rep"
    assert run(["--out", str(out), "--seed", "1"]) == cli.EXIT_OK
    others = {name: data for name, data in snapshot(out).items()
              if name.startswith("C") and not name.startswith(("C3", "C6"))}
    calls[:] = []
    assert run(["--out", str(out), "--only", "C3,C6", "--seed", "2"]) == cli.EXIT_OK
    assert calls == ["C3", "C6"]
    assert_survived(others, out)
    report = (out / "REPORT.md").read_text()
    for cid in registry.MODULES:
        assert f"[{cid}]({cid}.md)" in report
    rows = {line.split("|")[1].strip(): line for line in report.splitlines() if line.startswith("| [C")
            and line.count("|") > 8}
    assert "| 2 | fast |" in rows["[C3](C3.md)"] and "| 1 | fast |" in rows["[C1](C1.md)"]
    assert set(json.loads((out / MANIFEST).read_text())["claims"]) == set(registry.MODULES)


def test_only_runs_each_claim_once_whatever_the_case(tmp_path, capsys, calls):
    assert run(["--out", str(tmp_path / "rep"), "--only", "c3, C3,C6", "--json"]) == cli.EXIT_OK
    assert calls == ["C3", "C6"]
    assert [r["claim"] for r in json.loads(capsys.readouterr().out)["results"]] == ["C3", "C6"]


def test_json_output_is_strict_json(tmp_path, capsys, monkeypatch):
    def with_infinity(cid, seed, budget):
        r = stored_result(cid, seed=seed, budget=budget)
        case = type(r.cases[0])(**{**r.cases[0].__dict__, "record": {"gap": float("inf")}})
        return CheckResult(**{**r.__dict__, "cases": (case, *r.cases[1:])})

    monkeypatch.setattr(cli, "run_check", with_infinity)
    assert run(["--out", str(tmp_path / "rep"), "--only", "C5", "--json"]) == cli.EXIT_OK

    def refuse(constant):
        raise ValueError(constant)

    payload = json.loads(capsys.readouterr().out, parse_constant=refuse)
    case = payload["results"][0]["cases"][0]
    assert case["record"] == {"gap": None, "gap_nonfinite": "inf"}
    for name in ("C5.json", MANIFEST):
        json.loads((tmp_path / "rep" / name).read_text(), parse_constant=refuse)


def test_a_refuted_claim_gives_exit_status_one(tmp_path, monkeypatch):
    def refuted(cid, seed, budget):
        r = stored_result(cid, seed=seed, budget=budget)
        d = Decision(test="t", statistic="s", expected=Expected(1.0, "x"), measured=Estimate(2.0), rule="r",
                     verdict=Verdict.REFUTED)
        bad = type(r.cases[0])(**{**r.cases[0].__dict__, "decisions": (d,), "verdict": Verdict.REFUTED})
        return CheckResult(**{**r.__dict__, "cases": (bad,), "verdict": Verdict.REFUTED})

    monkeypatch.setattr(cli, "run_check", refuted)
    assert run(["--out", str(tmp_path / "rep"), "--only", "C2"]) == cli.EXIT_NOT_CONFIRMED
    assert "**refuted**" in (tmp_path / "rep" / "REPORT.md").read_text()


def test_a_benchmark_over_its_bound_gives_exit_status_three(tmp_path, monkeypatch, capsys, calls):
    import checks.perf

    monkeypatch.setattr(checks.perf, "simulator_ratios", lambda: [("fast row", 1.0, 2.0), ("slow row", 3.5, 3.0)])
    assert run(["--out", str(tmp_path / "rep"), "--only", "C1", "--benchmarks"]) == cli.EXIT_BENCHMARK
    assert "benchmark rows over their bound (1): slow row" in capsys.readouterr().err
    assert "| slow row | 3.5 | 3 | **no** |" in (tmp_path / "rep" / "BENCHMARKS.md").read_text()
    assert "[BENCHMARKS.md](BENCHMARKS.md)" in (tmp_path / "rep" / "REPORT.md").read_text()


def test_sensitivity_writes_its_page_and_links_it(tmp_path, monkeypatch, calls):
    """--sensitivity runs the mutant catalog on the run's claims (replaced here by a stored outcome:
    the real catalog is exercised in tests/test_mutants.py) and writes SENSITIVITY.md and its JSON
    record, listed in the manifest and linked from REPORT.md; a surviving bug mutant is shown as such."""
    import checks.mutants

    seen = {}

    def fake_catalog(*, claims, seed, budget, workers):
        seen.update(claims=claims, seed=seed, budget=budget, workers=workers)
        rows = [{"name": "noise-x1.05", "neutral": False, "killed_by": ["C1"], "verdicts": {"C1": "refuted"},
                 "seconds": 1.0},
                {"name": "vp-g2-x1.03", "neutral": False, "killed_by": [], "verdicts": {"C1": "confirmed"},
                 "seconds": 1.0},
                {"name": "neutral-prior-scale", "neutral": True, "killed_by": [], "verdicts": {"C1": "confirmed"},
                 "seconds": 1.0}]
        return checks.mutants.summarize(rows) | {"budget": budget, "seed": seed, "claims": list(claims)}

    monkeypatch.setattr(checks.mutants, "run_catalog", fake_catalog)
    out = tmp_path / "rep"
    assert run(["--out", str(out), "--only", "C1", "--sensitivity", "--seed", "4"]) == cli.EXIT_OK
    assert seen == {"claims": ["C1"], "seed": 4, "budget": "fast", "workers": 1}
    page = (out / cli.SENSITIVITY_PAGE).read_text()
    assert "**1 of 2 bug mutants killed; 1 of 1 neutral mutants kept every claim confirmed.**" in page
    assert "| `vp-g2-x1.03` | VP's g(t)^2 multiplied by 1.03" in page and "| **survived** |" in page
    controls = [c for c in stored_result("C1", seed=4, budget="fast").cases if c.role.value != "case"]
    for c in controls:
        assert f"| C1 | {c.name[:59]}" in page
    assert json.loads((out / cli.SENSITIVITY_RECORD).read_text())["kill_rate"] == 0.5
    assert f"[{cli.SENSITIVITY_PAGE}]({cli.SENSITIVITY_PAGE})" in (out / "REPORT.md").read_text()
    assert {cli.SENSITIVITY_PAGE, cli.SENSITIVITY_RECORD} <= set(json.loads((out / MANIFEST).read_text())["files"])


def test_a_crashing_check_leaves_the_old_report_and_no_new_folder(tmp_path, monkeypatch, capsys, calls):
    out = tmp_path / "rep"
    assert run(["--out", str(out)]) == cli.EXIT_OK
    before = snapshot(tmp_path)

    def boom(cid, seed, budget):
        if cid == "C4":
            raise RuntimeError("simulated crash in C4")
        return stored_result(cid, seed=seed, budget=budget)

    monkeypatch.setattr(cli, "run_check", boom)
    assert run(["--out", str(out)]) == cli.EXIT_CRASH
    assert run(["--out", str(tmp_path / "fresh" / "rep")]) == cli.EXIT_CRASH
    err = capsys.readouterr().err
    assert "simulated crash in C4" in err and "no report written" in err
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "fresh").exists()


def test_sigint_during_a_real_run_keeps_the_old_report(tmp_path):
    """A real check interrupted by SIGINT: exit 130, the old report and the user's file untouched, no
    staging folder left behind. The interrupted run is C1 in the full budget (minutes), so the
    signal arrives long before it could finish, whatever the machine's load."""
    out = tmp_path / "rep"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    first = subprocess.run([sys.executable, "-m", "checks", "--only", "C5", "--out", str(out)], env=env,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    (out / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "checks", "--only", "C1", "--budget", "full", "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5.0)  # past the imports (about 2 s), inside the check
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (cli.EXIT_INTERRUPTED, -signal.SIGINT), err
    if proc.returncode == cli.EXIT_INTERRUPTED:
        assert "interrupted: no report written" in err
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_benchmarks_run_after_the_cluster_is_closed_and_the_environment_restored(tmp_path, monkeypatch, calls):
    """Dask's nanny writes OMP_NUM_THREADS=1 (and the like) into this process's environment and leaves
    it there, and torch, imported by the benchmarks, takes its thread count from it. So the cluster
    is closed and the environment restored before the benchmarks run: here a fake cluster leaves that
    mark (and changes a variable the user had set), and the benchmarks must see neither."""
    import checks.perf

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("SGM_TEST_USER_VARIABLE", "mine")
    events = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def close(self):
            events.append(f"{self.name} closed")

    def fake_connect(args):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["SGM_TEST_USER_VARIABLE"] = "dask's"
        return Fake("client"), Fake("cluster")

    def fake_ratios():
        events.append(("benchmarks", os.environ.get("OMP_NUM_THREADS"), os.environ.get("SGM_TEST_USER_VARIABLE")))
        return [("row", 1.0, 2.0)]

    monkeypatch.setattr(cli, "connect", fake_connect)
    monkeypatch.setattr(cli, "_run_dask", lambda client, args: {cid: cli.run_check(cid, args.seed, args.budget)
                                                                for cid in args.claims})
    monkeypatch.setattr(checks.perf, "simulator_ratios", fake_ratios)
    assert run(["--out", str(tmp_path / "rep"), "--only", "C1", "--benchmarks", "--workers", "2"]) == cli.EXIT_OK
    assert events == ["client closed", "cluster closed", ("benchmarks", None, "mine")]
    assert "OMP_NUM_THREADS" not in os.environ and os.environ["SGM_TEST_USER_VARIABLE"] == "mine"
