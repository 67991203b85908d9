"""The report writer and the command line (issue: reports), on stored results.

The checks themselves are slow; here they are replaced by stored CheckResults with a figure of
every kind, so the structure of the report (tables, links to PNGs that exist, every claim) and
the command line's options and failure modes are tested in seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from checks import cli, registry  # noqa: E402
from checks.common import Case, CheckResult, Verdict, overall, versions  # noqa: E402
from checks.report import write_report  # noqa: E402
from theory.claims import CLAIMS  # noqa: E402

FIGURES = {
    "loglog": {"kind": "loglog", "label": "sphere", "deltas": [1e-1, 1e-2, 1e-3, 1e-4],
               "levels": [0.4, 0.13, 0.04, 0.013], "predicted_slope": 0.5, "fit": [0.5, 0.22]},
    "phase": {"kind": "phase", "family": "a", "param": [0.25, 0.75, 1.25], "lands_measured": [True, True, False],
              "lands_predicted": [True, True, False], "l2": [True, False, False], "rate_measured": [0.5, 0.26, -0.2],
              "rate_band": [[0.45, 0.55], [0.2, 0.3], [-0.3, -0.1]], "rate_predicted": [0.5, 0.25, -0.25],
              "boundary": 1.0, "l2_region": [-1e9, 0.5]},
    "scatter": {"kind": "scatter", "label": "2-D set", "train": [[0, 0], [1, 1]], "samples": [[0.01, 0], [1, 0.99]]},
    "codim": {"kind": "codim", "label": "torus", "t": [1e-4, 1e-3, 1e-2], "value": [2.0, 2.01, 2.05],
              "sem": [0.01, 0.01, 0.01], "predicted": 2},
}


def stored_result(claim_id: str, *, seed: int = 0, budget: str = "fast") -> CheckResult:
    kinds = list(FIGURES)
    kind = kinds[int(claim_id[1:]) % len(kinds)]
    cases = (
        Case("main", "Sphere(k=2, d=5), OU()", {"slope": 0.5}, {"slope": 0.49, "band": [0.46, 0.52]},
             Verdict.CONFIRMED, figure=FIGURES[kind]),
        Case("control", "sign error", {"slope": 0.5}, {"slope": -0.1, "band": [-0.2, 0.0]}, Verdict.REFUTED,
             control=True, figure=FIGURES["loglog"]),
    )
    claim = CLAIMS[claim_id]
    return CheckResult(claim=claim.id, statement=claim.statement, source=claim.source, budget=budget, seed=seed,
                       cases=cases, verdict=overall(cases), versions=versions(), elapsed=1.0)


def render(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    results = [stored_result(cid) for cid in registry.MODULES]
    write_report(results, tmp_path, budget="fast", seed=0, provenance={"seed": 0},
                 benchmarks=[("W2 step / its matrix products", 1.4, 2.0)])
    return tmp_path


def test_report_structure(tmp_path):
    out = render(tmp_path)
    report = (out / "REPORT.md").read_text()
    assert report.startswith("# sgm-manifolds: claim checks")
    for cid in registry.MODULES:
        assert f"[{cid}]({cid}.md)" in report
        page = (out / f"{cid}.md").read_text()
        assert "## Negative controls (each must be refuted)" in page
        assert "| case | setting | prediction | measured | verdict |" in page
    assert "## How to read a verdict" in report and "## Provenance" in report
    assert "| W2 step / its matrix products | 1.4 | 2 | True |" in report
    table_rows = [line for line in report.splitlines() if line.startswith("| [C")]
    assert len(table_rows) == len(registry.MODULES) * 3  # summary row + 2 case rows per claim


def test_report_links_point_to_existing_pngs(tmp_path):
    out = render(tmp_path)
    links = []
    for page in out.glob("*.md"):
        links += re.findall(r"\]\(([^)]+\.png)\)", page.read_text())
    assert links, "no plot linked"
    for link in links:
        path = out / link
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    kinds = {p.stem.split("_", 1)[1] for p in out.glob("*.png")}
    assert kinds == set(FIGURES)


def test_report_is_deterministic(tmp_path):
    first = render(tmp_path / "a")
    second = render(tmp_path / "b")
    for path in sorted(first.iterdir()):
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name


@pytest.fixture
def stub_checks(monkeypatch):
    """Replace the real checks by stored results (the CLI's plumbing is what is tested)."""
    monkeypatch.setattr(cli, "run_check", lambda cid, seed, budget: stored_result(cid, seed=seed, budget=budget))


def test_cli_json_lists_every_claim_and_writes_report(tmp_path, capsys, stub_checks):
    out = tmp_path / "rep"
    code = cli.main(["--out", str(out), "--json", "--seed", "3"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["claim"] for r in payload["results"]] == list(registry.MODULES)
    assert payload["seed"] == 3 and all(r["seed"] == 3 for r in payload["results"])
    assert (out / "REPORT.md").exists()


def test_cli_only_runs_the_named_claims(tmp_path, capsys, stub_checks):
    out = tmp_path / "rep"
    assert cli.main(["--out", str(out), "--only", "c3, C6", "--json"]) == 0
    assert [r["claim"] for r in json.loads(capsys.readouterr().out)["results"]] == ["C3", "C6"]
    assert sorted(p.name for p in out.glob("*.md")) == ["C3.md", "C6.md", "REPORT.md"]


def test_cli_replaces_an_old_report_whole(tmp_path, stub_checks):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "stale.md").write_text("old")
    assert cli.main(["--out", str(out), "--only", "C1"]) == 0
    assert not (out / "stale.md").exists() and (out / "C1.md").exists()


BAD_OPTIONS = [
    (["--only", "C9"], "unknown claim id"),
    (["--only", ","], "unknown claim id"),
    (["--budget", "huge"], "invalid choice: 'huge'"),
    (["--workers", "0"], "--workers must be >= 1, got 0"),
    (["--seed", "x"], "invalid int value"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_OPTIONS)
def test_bad_options_fail_clearly_and_write_nothing(tmp_path, capsys, stub_checks, argv, message):
    out = tmp_path / "rep"
    try:
        code = cli.main(["--out", str(out), *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_unreachable_scheduler_fails_clearly_and_writes_nothing(tmp_path, capsys, monkeypatch, stub_checks):
    pytest.importorskip("distributed")
    monkeypatch.setattr(cli, "SCHEDULER_TIMEOUT_SECONDS", 2)
    out = tmp_path / "rep"
    code = cli.main(["--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach a Dask scheduler" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_failing_check_leaves_no_partial_report(tmp_path, monkeypatch):
    def boom(cid, seed, budget):
        if cid == "C4":
            raise RuntimeError("simulated crash in C4")
        return stored_result(cid, seed=seed, budget=budget)

    monkeypatch.setattr(cli, "run_check", boom)
    out = tmp_path / "rep"
    with pytest.raises(RuntimeError, match="simulated crash"):
        cli.main(["--out", str(out)])
    assert not list(tmp_path.iterdir())


def test_refuted_claim_gives_exit_status_one(tmp_path, monkeypatch):
    def refuted(cid, seed, budget):
        r = stored_result(cid, seed=seed, budget=budget)
        bad = Case("main", "x", {}, {}, Verdict.REFUTED)
        return CheckResult(**{**r.__dict__, "cases": (bad,), "verdict": Verdict.REFUTED})

    monkeypatch.setattr(cli, "run_check", refuted)
    assert cli.main(["--out", str(tmp_path / "rep"), "--only", "C2"]) == 1
    assert "REFUTED" in (tmp_path / "rep" / "REPORT.md").read_text()


def test_stored_results_round_trip_to_json():
    data = stored_result("C6").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert np.isclose(data["cases"][0]["measurement"]["slope"], 0.49)
