"""The report writer (checks.writer), on stored results: structure, links, cell length, determinism,
strict JSON. The command line around it is tested in tests/test_cli.py."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from checks import registry  # noqa: E402
from checks.harness import CaseResult, CheckResult, Decision, Estimate, Expected, Role, Verdict  # noqa: E402
from checks.records import json_data  # noqa: E402
from checks.writer import CELL_MAX, write_report  # noqa: E402
from stored_results import FIGURES, stored_result  # noqa: E402

PROVENANCE = {"seed": 0, "budget": "fast", "commit": "abc1234", "date": "2026-01-01 00:00 UTC"}


def render(folder: Path):
    folder.mkdir(exist_ok=True)
    results = [stored_result(cid) for cid in registry.MODULES]
    written = write_report(results, folder, provenance={cid: PROVENANCE for cid in registry.MODULES},
                           run_info={"seed": 0}, benchmarks="BENCHMARKS.md")
    return folder, written


def test_report_structure(tmp_path):
    out, written = render(tmp_path)
    report = (out / "REPORT.md").read_text()
    assert report.startswith("# sgm-manifolds: claim checks")
    for cid in registry.MODULES:
        assert f"[{cid}]({cid}.md)" in report and f"## {cid}: " in report
        page = (out / f"{cid}.md").read_text()
        assert "## Negative controls (each must be refuted)" in page and "## Plan" in page
        assert written.claims[cid]["provenance"] == PROVENANCE
        assert set(written.claims[cid]["files"]) <= set(written.files)
    assert "## How to read a verdict" in report and "## Provenance of this run" in report
    assert "plotting time (s)" in report and "[BENCHMARKS.md](BENCHMARKS.md)" in report
    assert "![Every decision" in report and (out / "overview.png").exists()
    assert sorted(written.files) == sorted(p.name for p in out.iterdir())


def test_no_table_cell_is_longer_than_the_limit(tmp_path):
    base = stored_result("C2")
    long_name = "x" * 300
    case = base.cases[0]
    result = CheckResult(**{**base.__dict__, "cases": (type(case)(**{**case.__dict__, "name": long_name,
                                                                     "setting": "y" * 400}), base.cases[1])})
    write_report([result], tmp_path, provenance={"C2": PROVENANCE}, run_info={})
    for page in ("REPORT.md", "C2.md"):
        for line in (tmp_path / page).read_text().splitlines():
            if line.startswith("|"):
                for cell in line.strip("|").split(" | "):
                    assert len(cell.strip()) <= CELL_MAX, (page, cell[:50])
    assert "control: control" not in (tmp_path / "REPORT.md").read_text()


def test_a_rejudged_controls_figure_is_drawn_once_with_its_case(tmp_path, monkeypatch):
    from checks import writer

    drawn = []
    monkeypatch.setitem(writer.PLOTTERS, "phase", lambda items, path: drawn.extend(i["title"] for i in items))
    base = stored_result("C1")  # its main case has a phase figure
    assert base.cases[0].figure.kind == "phase"
    rejudged = CaseResult("main re-judged", Role.CONTROL_REJUDGED, "the measurement of 'main'",
                          base.cases[1].decisions, Verdict.REFUTED, "a wrong predictor", "slope 0.24 against 0.1",
                          {"rejudged_case": "main"}, base.cases[0].figure, 0.0)
    result = CheckResult(**{**base.__dict__, "cases": (*base.cases, rejudged)})
    write_report([result], tmp_path, provenance={"C1": PROVENANCE}, run_info={})
    assert drawn == [base.cases[0].figure.title]


def test_a_case_without_prediction_is_counted_apart(tmp_path):
    """A case whose decisions are all vacuous (the prediction abstained) is shown as "no prediction"
    and not counted among the confirmed cases; the claim's verdict stays confirmed."""
    base = stored_result("C8")
    main = base.cases[0]
    abstained = Decision("no prediction", "codimension (the predictor abstains)", Expected("inconclusive", "toy"),
                         Estimate(1.4), "abstaining: not a deciding case", Verdict.CONFIRMED, vacuous=True)
    kept = CaseResult(**{**main.__dict__, "name": "abstains", "decisions": (abstained,)})
    result = CheckResult(**{**base.__dict__, "cases": (main, kept, *base.cases[1:])})
    write_report([result], tmp_path, provenance={"C8": PROVENANCE}, run_info={})
    report = (tmp_path / "REPORT.md").read_text()
    assert "| confirmed | 1/2 (1 no prediction) | 1/1 |" in report
    assert re.search(r"^\| abstains \| .* \| no prediction \|$", report, re.M)
    page = (tmp_path / "C8.md").read_text()
    assert re.search(r"^\| abstains \| .* \| no prediction \|$", page, re.M)
    record = json.loads((tmp_path / "C8.json").read_text())
    assert [d["vacuous"] for c in record["cases"] for d in c["decisions"]] == [False, True, False]


def test_cases_not_as_expected_are_listed_first(tmp_path):
    base = stored_result("C1")
    good, control = base.cases
    bad = type(good)(**{**good.__dict__, "name": "the failing case", "verdict": Verdict.REFUTED,
                        "decisions": (Decision(**{**good.decisions[0].__dict__, "verdict": Verdict.REFUTED}),)})
    result = CheckResult(**{**base.__dict__, "cases": (good, bad, control), "verdict": Verdict.REFUTED})
    write_report([result], tmp_path, provenance={"C1": PROVENANCE}, run_info={})
    rows = [line for line in (tmp_path / "REPORT.md").read_text().splitlines() if line.startswith("| ")]
    names = [r.split(" | ")[0].strip("| ") for r in rows]
    assert names.index("the failing case") < names.index("main")


def test_report_links_point_to_existing_pngs(tmp_path):
    out, _ = render(tmp_path)
    links = []
    for page in out.glob("*.md"):
        links += re.findall(r"\]\(([^)]+\.png)\)", page.read_text())
    assert links
    for link in links:
        assert (out / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    kinds = {p.stem.split("_", 1)[1] for p in out.glob("C*.png")}
    assert kinds == set(FIGURES)


def test_report_is_deterministic_apart_from_the_plotting_time(tmp_path):
    first, _ = render(tmp_path / "a")
    second, _ = render(tmp_path / "b")
    for path in sorted(first.iterdir()):
        mine, theirs = path.read_bytes(), (second / path.name).read_bytes()
        if path.name == "REPORT.md":
            mine, theirs = (re.sub(rb"plotting time \(s\): [0-9.]+", b"", x) for x in (mine, theirs))
        assert mine == theirs, path.name


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_records_are_strict_and_say_what_was_not_finite(tmp_path):
    base = stored_result("C5")
    case = base.cases[0]
    d = Decision(test="gap", statistic="x", expected=Expected(math.inf, "s"), measured=Estimate(math.nan),
                 rule="r", verdict=Verdict.CONFIRMED)
    inf_case = type(case)(**{**case.__dict__, "decisions": (d,), "record": {"levels": [1.0, math.nan, -math.inf]}})
    result = CheckResult(**{**base.__dict__, "cases": (inf_case, base.cases[1])})
    write_report([result], tmp_path, provenance={"C5": PROVENANCE}, run_info={})
    record = _strict((tmp_path / "C5.json").read_text())
    stored = record["cases"][0]
    assert stored["record"] == {"levels": [1.0, None, None], "levels_nonfinite": {"1": "nan", "2": "-inf"}}
    assert stored["decisions"][0]["expected"]["value"] is None
    assert stored["decisions"][0]["expected"]["value_nonfinite"] == "inf"


@pytest.mark.parametrize(("value", "expected"), [
    ({"a": np.float64(np.inf)}, {"a": None, "a_nonfinite": "inf"}),
    ({"a": [[1.0, np.nan]]}, {"a": [[1.0, None]], "a_nonfinite": {"0.1": "nan"}}),
    ({"a": np.array([1.0, 2.0], dtype=np.float32)}, {"a": [1.0, 2.0]}),
    ({"a": {"b": -np.inf}}, {"a": {"b": None, "b_nonfinite": "-inf"}}),
    ({"a": (np.int64(3), np.bool_(True))}, {"a": [3, True]}),
])
def test_json_data_table(value, expected):
    assert json_data(value) == expected
    json.dumps(json_data(value), allow_nan=False)


def test_json_data_refuses_a_bare_nonfinite_value():
    with pytest.raises(ValueError, match="strict JSON at the top level"):
        json_data(math.inf)


@pytest.mark.parametrize("xs, labelled", [([4, 16, 64, 256, 1024], [4, 16, 64, 256, 1024]),
                                         ([16, 64, 256], [16, 64, 256]),
                                         (list(np.logspace(-8, 0, 25)), None)])
def test_log_x_ticks_never_overlap(xs, labelled):
    """Few training-set sizes are labelled at their own values; a long profile by decades; minor
    ticks never get labels (matplotlib labels them on axes shorter than a decade, where they collide)."""
    from matplotlib.ticker import NullFormatter

    from checks.writer import _log_x_ticks, _pyplot

    fig, ax = _pyplot().subplots()
    ax.plot(xs, np.ones(len(xs)))
    ax.set_xscale("log")
    _log_x_ticks(ax, xs)
    fig.canvas.draw()
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)
    ticks = [t for t in ax.get_xticks() if xs[0] <= t <= xs[-1] * (1 + 1e-12)]
    if labelled is not None:
        assert ticks == pytest.approx(labelled)
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(v) for v in labelled]
    else:
        assert len(ticks) <= 6
    _pyplot().close(fig)
