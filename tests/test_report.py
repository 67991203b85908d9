"""The report writer, on stored results (tests/stored_results.py): structure, links, determinism,
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
from checks.common import Case, CheckResult  # noqa: E402
from checks.records import json_data  # noqa: E402
from checks.report import write_report  # noqa: E402
from stored_results import FIGURES, stored_result  # noqa: E402

PROVENANCE = {"seed": 0, "budget": "fast", "commit": "abc1234", "date": "2026-01-01 00:00 UTC"}


def render(tmp_path: Path):
    tmp_path.mkdir(exist_ok=True)
    results = [stored_result(cid) for cid in registry.MODULES]
    written = write_report(results, tmp_path, provenance={cid: PROVENANCE for cid in registry.MODULES},
                           run_info={"seed": 0}, benchmarks=[("W2 step / its matrix products", 1.4, 2.0)])
    return tmp_path, written


def test_report_structure(tmp_path):
    out, written = render(tmp_path)
    report = (out / "REPORT.md").read_text()
    assert report.startswith("# sgm-manifolds: claim checks")
    for cid in registry.MODULES:
        assert f"[{cid}]({cid}.md)" in report
        page = (out / f"{cid}.md").read_text()
        assert "## Negative controls (each must be refuted)" in page
        assert "| case | setting | prediction | measured | verdict |" in page
        assert written.claims[cid]["provenance"] == PROVENANCE
        assert set(written.claims[cid]["files"]) <= set(written.files)
    assert "## How to read a verdict" in report and "## Provenance of this run" in report
    assert "plotting time (s)" in report
    assert "| W2 step / its matrix products | 1.4 | 2 | True |" in report
    table_rows = [line for line in report.splitlines() if line.startswith("| [C")]
    assert len(table_rows) == len(registry.MODULES) * 3  # summary row + 2 case rows per claim
    assert sorted(written.files) == sorted(p.name for p in out.iterdir())


def test_report_links_point_to_existing_pngs(tmp_path):
    out, _ = render(tmp_path)
    links = []
    for page in out.glob("*.md"):
        links += re.findall(r"\]\(([^)]+\.png)\)", page.read_text())
    assert links, "no plot linked"
    for link in links:
        path = out / link
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
    kinds = {p.stem.split("_", 1)[1] for p in out.glob("*.png")}
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
    case = Case("gap", "x", {"gap": math.inf}, {"levels": [1.0, math.nan, -math.inf]}, base.cases[0].verdict)
    result = CheckResult(**{**base.__dict__, "cases": (case,)})
    write_report([result], tmp_path, provenance={"C5": PROVENANCE}, run_info={})
    record = _strict((tmp_path / "C5.json").read_text())
    (stored,) = record["cases"]
    assert stored["prediction"] == {"gap": None, "gap_nonfinite": "inf"}
    assert stored["measurement"] == {"levels": [1.0, None, None], "levels_nonfinite": {"1": "nan", "2": "-inf"}}


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


def test_stored_results_round_trip_to_json():
    data = stored_result("C6").to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert np.isclose(data["cases"][0]["measurement"]["slope"], 0.49)
