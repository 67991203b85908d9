"""The one writer of ``reports/``: Markdown pages and PNG plots from CheckResults (issue: reports).

``write_report(results, out_dir, provenance=...)`` writes ``REPORT.md`` (summary of every claim,
how to read a verdict, optional benchmark ratios, provenance) and one page ``Cn.md`` per claim
(cases, negative controls, linked plots ``Cn_*.png``). Output is deterministic for the same
results: no timestamps, sorted keys, fixed number formats, PNGs without date metadata. The only
run-dependent line is the wall time in the provenance section at the end.

Plot data come from ``Case.figure`` dicts; the kinds drawn are ``loglog`` (distance vs delta
with the predicted slope), ``phase`` (C6 phase diagram), ``scatter`` (2-D memorization) and
``codim`` (sigma^2 E|score|^2 vs t). A figure of another kind is not drawn.

Keys: loglog {label, deltas, levels, predicted_slope, fit=[slope, intercept]}; phase {label, family,
param, rate_measured, rate_band, rate_predicted, lands_measured, lands_predicted, l2, optional
boundary (the predicted landing boundary in the parameter) and l2_region [lo, hi]}; scatter
{label, train (N, 2), samples (n, 2)}; codim {label, t, value, sem, predicted}.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.common import Case, CheckResult, Verdict

VERDICT_MARK = {Verdict.CONFIRMED: "confirmed", Verdict.REFUTED: "REFUTED", Verdict.INCONCLUSIVE: "inconclusive"}

READING = """\
## How to read a verdict

Each claim check first *predicts* every case from the claim's hypotheses (`theory.claims`), then
simulates the reverse SDE and *measures*. A case is **confirmed** when the measurement agrees with
the prediction at the stated level (e.g. the bootstrap band of the log-log slope of the distance
to M against delta contains the predicted rate), **refuted** when it contradicts it, and
**inconclusive** when the measurement cannot decide. Every check also runs *negative controls*:
settings built to violate the claim (a sign error, an error family beyond the boundary, wrong
posterior weights), judged as if the claim applied. A control must come out **refuted**; that
shows the check is able to fail. A claim is confirmed when all its cases are confirmed and all its
controls refuted.
"""


def fmt(value: Any) -> str:
    """Stable, compact text for a number, a band, a bool or a short list."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"[{fmt(float(value[0]))}, {fmt(float(value[1]))}]"
        if len(value) > 6:
            return f"({len(value)} values)"
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, dict):
        return "; ".join(f"{k}={fmt(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|")


# Entries shown per cell in the summary table of REPORT.md (the claim pages show all of them).
SUMMARY_ENTRIES = 4


def _is_headline(value: Any) -> bool:
    """Scalars and (low, high) bands; not series, nested records or text."""
    if isinstance(value, (bool, int, float)) or value is None:
        return True
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _cell(values: Mapping[str, Any], *, compact: bool = False) -> str:
    items = list(values.items())
    if compact:
        items = [(k, v) for k, v in items if _is_headline(v)][:SUMMARY_ENTRIES]
    return "; ".join(f"{k} = {fmt(v)}" for k, v in items).replace("\n", " ") or "-"


def _case_rows(cases: Sequence[Case]) -> list[str]:
    rows = ["| case | setting | prediction | measured | verdict |", "|---|---|---|---|---|"]
    for case in cases:
        rows.append(f"| {case.name} | {fmt(case.setting)} | {_cell(case.prediction)} | {_cell(case.measurement)} "
                    f"| {VERDICT_MARK[case.verdict]} |")
    return rows


# -- plots ----------------------------------------------------------------------------------------

def _figure_groups(result: CheckResult) -> dict[str, list[tuple[Case, dict]]]:
    groups: dict[str, list[tuple[Case, dict]]] = {}
    for case in result.cases:
        if case.figure:
            groups.setdefault(case.figure.get("kind", "other"), []).append((case, case.figure))
    return groups


def _grid(n: int):
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _plot_loglog(items, path: Path) -> None:
    import numpy as np

    fig, axes = _grid(len(items))
    for ax, (case, f) in zip(axes, items):
        deltas, levels = np.asarray(f["deltas"], float), np.asarray(f["levels"], float)
        ax.loglog(deltas, levels, "o", color="C0" if not case.control else "C3", label="measured")
        if f.get("fit"):
            slope, intercept = f["fit"]
            ax.loglog(deltas, np.exp(intercept) * deltas**slope, "-", color="C0", lw=1,
                      label=f"fit {slope:.2f}")
        if f.get("predicted_slope") is not None:
            p = float(f["predicted_slope"])
            anchor = levels[0] / deltas[0] ** p
            ax.loglog(deltas, anchor * deltas**p, "--", color="k", lw=1, label=f"predicted {p:.2f}")
        ax.set_title(("control: " if case.control else "") + str(f.get("label", case.name))[:38], fontsize=8)
        ax.set_xlabel("delta", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("distance to M", fontsize=8)
    _save(fig, path)


def _plot_phase(items, path: Path) -> None:
    import numpy as np

    fig, axes = _grid(len(items))
    for ax, (case, f) in zip(axes, items):
        param = np.asarray(f["param"], float)
        order = np.argsort(param)
        measured = np.asarray(f.get("rate_measured", [np.nan] * len(param)), float)
        predicted = np.asarray(f.get("rate_predicted", [np.nan] * len(param)), float)
        band = np.asarray(f.get("rate_band", [[np.nan, np.nan]] * len(param)), float)
        l2 = np.asarray(f.get("l2", [False] * len(param)), bool)
        lands_pred = np.asarray(f.get("lands_predicted", [False] * len(param)), bool)
        lands_meas = np.asarray(f.get("lands_measured", [False] * len(param)), bool)
        if f.get("l2_region"):  # the paper's L2 region, [lo, hi] in the parameter (clipped to the axis)
            lo, hi = f["l2_region"]
            span = (max(lo, param.min() - 0.1), min(hi, param.max() + 0.1))
            ax.axvspan(*span, color="C2", alpha=0.15, label="L2 (paper)")
        elif l2.any():
            ax.scatter(param[l2], np.zeros(l2.sum()), marker="s", color="C2", label="L2 (paper)")
        ax.plot(param[order], predicted[order], "k--", lw=1, label="predicted rate")
        ax.errorbar(param, measured, yerr=[measured - band[:, 0], band[:, 1] - measured], fmt="none", ecolor="C0")
        ax.scatter(param[lands_meas], measured[lands_meas], color="C0", zorder=3, label="lands (measured)")
        ax.scatter(param[~lands_meas], measured[~lands_meas], color="C3", marker="x", zorder=3,
                   label="does not land (measured)")
        if f.get("boundary") is not None:
            ax.axvline(float(f["boundary"]), color="k", lw=0.8, ls=":", label="predicted boundary")
        elif lands_pred.any() and (~lands_pred).any():
            ax.scatter(param[~lands_pred], predicted[~lands_pred], facecolors="none", edgecolors="k", s=60,
                       label="predicted not to land")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(str(f.get("family", "parameter")), fontsize=8)
        ax.set_ylabel("rate exponent of RMS distance", fontsize=8)
        ax.set_title(str(f.get("label", case.name))[:40], fontsize=8)
        ax.legend(fontsize=6)
    _save(fig, path)


def _plot_scatter(items, path: Path) -> None:
    import numpy as np

    fig, axes = _grid(len(items))
    for ax, (case, f) in zip(axes, items):
        train = np.asarray(f["train"], float)
        samples = np.asarray(f["samples"], float)
        # Training points as open rings underneath, so memorized samples stay visible at their centres.
        ax.scatter(train[:, 0], train[:, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.2,
                   zorder=1, label="training points")
        ax.scatter(samples[:, 0], samples[:, 1], s=4, alpha=0.5, color="C0", zorder=2, label="samples")
        ax.set_title(str(f.get("label", case.name))[:40], fontsize=8)
        ax.set_aspect("equal", adjustable="datalim")
        ax.legend(fontsize=6)
    _save(fig, path)


def _plot_codim(items, path: Path) -> None:
    import numpy as np

    fig, axes = _grid(len(items))
    for ax, (case, f) in zip(axes, items):
        t = np.asarray(f["t"], float)
        ax.errorbar(t, f["value"], yerr=f.get("sem"), fmt="o-", ms=3, color="C0", label="sigma^2 E|s|^2")
        if f.get("predicted") is not None:
            ax.axhline(float(f["predicted"]), color="k", ls="--", lw=1, label=f"d - k = {fmt(f['predicted'])}")
        ax.set_xscale("log")
        ax.set_xlabel("t", fontsize=8)
        ax.set_title(str(f.get("label", case.name))[:40], fontsize=8)
        ax.legend(fontsize=6)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


PLOTTERS = {"loglog": _plot_loglog, "phase": _plot_phase, "scatter": _plot_scatter, "codim": _plot_codim}


def _plots(result: CheckResult, out_dir: Path) -> list[tuple[str, str]]:
    """Draw the claim's figures; returns (caption, file name) pairs."""
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for kind, items in sorted(_figure_groups(result).items()):
        if kind not in PLOTTERS:
            continue
        name = f"{result.claim}_{kind}.png"
        PLOTTERS[kind](items, out_dir / name)
        written.append((f"{result.claim}: {kind}", name))
    return written


# -- pages ----------------------------------------------------------------------------------------

def claim_page(result: CheckResult, figures: Sequence[tuple[str, str]]) -> str:
    lines = [f"# {result.claim}: {result.statement.split('.')[0]}", "",
             f"**Verdict: {VERDICT_MARK[result.verdict]}** (budget `{result.budget}`, seed {result.seed})", "",
             f"> {result.statement}", "", f"Source: {result.source}", "", "## Cases", ""]
    lines += _case_rows(result.main_cases)
    lines += ["", "## Negative controls (each must be refuted)", ""]
    lines += _case_rows(result.controls) if result.controls else ["(none)"]
    lines += ["", "## Plots", ""]
    lines += [f"- [{caption}]({name})" for caption, name in figures] or ["(none)"]
    lines += [f"\n![{caption}]({name})" for caption, name in figures]
    lines += ["", "[Back to the summary](REPORT.md)", ""]
    return "\n".join(lines)


def _counts(record: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(main cases confirmed, main cases, controls refuted, controls) of a claim record."""
    main = [c for c in record["cases"] if not c["control"]]
    controls = [c for c in record["cases"] if c["control"]]
    return (sum(c["verdict"] == Verdict.CONFIRMED.value for c in main), len(main),
            sum(c["verdict"] == Verdict.REFUTED.value for c in controls), len(controls))


def _mark(verdict: str) -> str:
    return VERDICT_MARK[Verdict(verdict)]


def summary(records: Sequence[Mapping[str, Any]], *, benchmarks: Sequence[tuple] | None,
            run_info: Mapping[str, Any]) -> str:
    """REPORT.md from the claims' JSON records (this run's and those a partial run kept)."""
    from theory.claims import CLAIMS

    lines = ["# sgm-manifolds: claim checks", "",
             "Each claim links to its page; its provenance (seed, budget, commit, date) is in its row.", "",
             "| claim | title | cases as predicted | controls refuted | verdict | seed | budget | commit | date |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        ok, n_main, refuted, n_controls = _counts(r)
        p = r.get("provenance", {})
        lines.append(f"| [{r['claim']}]({r['claim']}.md) | {CLAIMS[r['claim']].title} | {ok}/{n_main} "
                     f"| {refuted}/{n_controls} | **{_mark(r['verdict'])}** | {p.get('seed', '-')} "
                     f"| {p.get('budget', '-')} | {p.get('commit', '-')} | {p.get('date', '-')} |")
    lines += ["", "## Predicted vs measured, case by case",
              "", f"Headline numbers only (at most {SUMMARY_ENTRIES} per cell); each claim's page has every recorded value.",
              "",
              "| claim | case | prediction | measured (uncertainty) | verdict |", "|---|---|---|---|---|"]
    for r in records:
        for c in r["cases"]:
            name = ("control: " if c["control"] else "") + c["name"]
            lines.append(f"| [{r['claim']}]({r['claim']}.md) | {name} | {_cell(c['prediction'], compact=True)} "
                         f"| {_cell(c['measurement'], compact=True)} | {_mark(c['verdict'])} |")
    lines += ["", READING]
    if benchmarks:
        lines += ["## Simulator benchmarks (ratios measured in this run)", "",
                  "| workload | measured | bound | within bound |", "|---|---|---|---|"]
        lines += [f"| {name} | {fmt(measured)} | {fmt(bound)} | {measured <= bound} |"
                  for name, measured, bound in benchmarks]
        lines.append("")
    lines += ["## Provenance of this run", ""]
    lines += [f"- {key}: {fmt(value)}" for key, value in run_info.items()]
    lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class Written:
    """What :func:`write_report` wrote: ``files`` (names in the folder, REPORT.md included) and, per
    claim written in this run, ``claims[id] = {"files": its names, "provenance": ...}`` (the
    manifest entries), merged with the kept claims' entries."""

    files: list[str]
    claims: dict[str, dict[str, Any]]


def write_report(results: Sequence[CheckResult], out_dir: Path, *, provenance: Mapping[str, Mapping[str, Any]],
                 run_info: Mapping[str, Any], kept: Mapping[str, Mapping[str, Any]] | None = None,
                 benchmarks: Sequence[tuple] | None = None) -> Written:
    """Write one page, one JSON record and the plots per result, and REPORT.md, into ``out_dir``.

    provenance : per claim id of ``results``, {seed, budget, commit, date}. kept : claims of an
    earlier report that stay (a partial run), as :meth:`checks.output.ReportFolder.kept_claims`
    returns them; they appear in the summary (in claim order) but are not rewritten. run_info : the
    run-level provenance; the time spent plotting is added to it here.
    """
    import json

    from checks.records import json_data

    out_dir = Path(out_dir)
    kept = dict(kept or {})
    files: list[str] = []
    claims: dict[str, dict[str, Any]] = {cid: {"files": list(entry["files"]), "provenance": entry["provenance"]}
                                         for cid, entry in kept.items()}
    records = {cid: entry["record"] for cid, entry in kept.items()}
    plotting = 0.0
    for result in results:
        start = time.perf_counter()
        figures = _plots(result, out_dir)
        plotting += time.perf_counter() - start
        page = f"{result.claim}.md"
        (out_dir / page).write_text(claim_page(result, figures))
        record = json_data(result.to_dict() | {"provenance": provenance[result.claim]})
        (out_dir / f"{result.claim}.json").write_text(json.dumps(record, indent=1, sort_keys=True,
                                                                 allow_nan=False) + "\n")
        names = [page, f"{result.claim}.json"] + [name for _, name in figures]
        files += names
        claims[result.claim] = {"files": names, "provenance": dict(provenance[result.claim])}
        records[result.claim] = record
    order = {cid: i for i, cid in enumerate(_claim_order())}
    ordered = [records[cid] for cid in sorted(records, key=lambda c: (order.get(c, len(order)), c))]
    info = dict(run_info) | {"plotting time (s)": round(plotting, 1)}
    (out_dir / "REPORT.md").write_text(summary(ordered, benchmarks=benchmarks, run_info=info))
    return Written(files=["REPORT.md", *files], claims=claims)


def _claim_order() -> list[str]:
    from theory.claims import CLAIMS

    return list(CLAIMS)
