"""The mutant catalog (checks.mutants): every mutant's target exists and patches cleanly, the JSON
listing has the contracted shape, and one mutant runs end to end as a smoke test (the whole
catalog against every fast check is a slow study)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checks import mutants

REQUIRED = ("ou-sigma2-x1.01", "noise-x1.05", "vmf-direction-flip", "posterior-temperature-1.1",
            "neutral-prior-scale")


def test_catalog_has_the_contracted_mutants():
    names = [m.name for m in mutants.CATALOG]
    assert len(names) == len(set(names))
    for name in REQUIRED:
        assert name in names
    assert sum(not m.neutral for m in mutants.CATALOG) >= 15
    assert any(m.neutral for m in mutants.CATALOG)


@pytest.mark.parametrize("name", [m.name for m in mutants.CATALOG])
def test_every_mutant_patches_its_target_in_a_fresh_process(name):
    code = ("import checks.mutants as m, functools\n"
            f"mut = m.BY_NAME[{name!r}]\n"
            "owner, attr = mut.owner_and_attribute()\n"
            "before = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)\n"
            "mut.activate()\n"
            "after = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)\n"
            "assert after is not before\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_list_json_shape(capsys):
    assert mutants.main(["--list", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"mutants"}
    for row in payload["mutants"]:
        assert {"name", "description", "neutral"} <= set(row)


def test_bad_options_exit_two(capsys):
    assert mutants.main(["--only", "no-such-mutant"]) == 2
    assert mutants.main(["--claims", "C99"]) == 2


def test_one_mutant_is_killed_and_the_neutral_one_kept_end_to_end():
    """Smoke test of the catalog runner: a Gaussian subspace's score x0.97 is caught by the codimension
    check C5 (its limit moves from d - k to 0.97^2 (d - k), far outside the estimator's band), and the
    neutral wider default prior leaves C5 confirmed (C5 reads the score only on forward draws)."""
    result = mutants.run_catalog(claims=["C5"], seed=0, budget="fast", workers=2,
                                 names=["subspace-score-x0.97", "neutral-prior-scale"])
    rows = {r["name"]: r for r in result["mutants"]}
    assert rows["subspace-score-x0.97"]["killed_by"] == ["C5"], rows
    assert rows["neutral-prior-scale"]["killed_by"] == [], rows
    assert result["kill_rate"] == 1.0 and result["neutral_ok"] == 1.0 and result["claims"] == ["C5"]


def test_a_claim_that_crashes_under_a_mutant_does_not_kill_it(monkeypatch):
    """A patch that no longer fits its target makes the checks raise; that says nothing about their
    power, so the mutant is reported as crashed, not killed (the catalog's run_mutant and summary)."""
    verdicts = {"C1": "error: TypeError: _logits() got an unexpected keyword argument 'prec'", "C2": "confirmed",
                "C3": "refuted"}

    class Done:
        returncode, stderr, stdout = 0, "", json.dumps(verdicts) + "\n"

    monkeypatch.setattr(mutants.subprocess, "run", lambda *a, **k: Done())
    row = mutants.run_mutant(mutants.BY_NAME["pointcloud-weights-ignored"], claims=["C1", "C2", "C3"], seed=0,
                             budget="fast")
    assert row["killed_by"] == ["C3"] and row["crashed"] == ["C1"]
    only_crash = dict(row, killed_by=[], name="x")
    neutral_crash = dict(row, killed_by=[], neutral=True, name="n")
    summary = mutants.summarize([only_crash, neutral_crash])
    assert summary["kill_rate"] == 0.0 and summary["neutral_ok"] == 0.0 and summary["crashed"] == ["x", "n"]
