"""The one writer of ``reports/``: Markdown pages, JSON records and plots from claim results.

``write_report(results, folder, ...)`` writes, per claim, a page ``Cn.md`` (its statement, plan,
every decision of every case and control, its formulas and plots), the record ``Cn.json`` (every
measured value, strict JSON) and the plots ``Cn_<kind>.png``; and the summary ``REPORT.md``: one
table per claim with the number that decides each case (cases that are not as expected first),
the controls with why each is refuted, an overview figure, and the provenance. A partial run
passes the kept claims' JSON records, which the summary shows as they are.

The summary is rendered from the JSON records only, so a claim kept from an earlier run and a claim
run now look the same. Output is deterministic for the same results: sorted keys, fixed number
formats, PNGs without date metadata; only the provenance lines differ between runs.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.harness import CheckResult, Role
from checks.records import json_data

MARK = {"confirmed": "confirmed", "refuted": "**refuted**", "inconclusive": "*inconclusive*"}
# The verdict cell of a case whose every decision is vacuous (checks.harness.Decision.vacuous).
NO_PREDICTION = "no prediction"
# Margins beyond this many band half-widths are drawn at the edge of the overview plot.
MARGIN_CLIP = 20.0
# Longest table cell, in characters: longer text is cut with an ellipsis (the JSON record has it whole).
CELL_MAX = 120

READING = """\
## How to read a verdict

Each claim check first *predicts* every case from the claim's hypotheses (see CLAIMS.md in the
repository), then simulates the reverse SDE and *measures*. Every row shows the number that decides
the case: the prediction with its formula or source and any a-priori tolerance, the measured value
with its confidence band, and the verdict. A case is **confirmed** when the measurement agrees with
the prediction, **refuted** when it contradicts it, and *inconclusive* when the data cannot decide.
A case marked *no prediction* was kept in the study but tested nothing, because the prediction
itself abstained (C8: a learned score whose explosion profile is between the hypotheses); it is
counted apart and does not move the claim's verdict. Every claim also has *negative controls*: near
misses built to be wrong by a small, stated amount (a noise scale off by 5 %, an exponent just past
a boundary), run as their own cases or judged against a wrong prediction. A control must come out
refuted; that shows the check can tell the claim from its nearest wrong neighbour. A claim is
confirmed when all its cases are confirmed and all its controls refuted.
"""


# -- text -----------------------------------------------------------------------------------------

def fmt(value: Any) -> str:
    """Compact, stable text for a number, a band, a bool or a short list."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
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
    return str(value)


def cell(text: str, limit: int = CELL_MAX) -> str:
    """One table cell: no pipes or newlines, at most ``limit`` characters."""
    text = " ".join(str(text).replace("|", "\\|").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def expected_text(expected: Mapping[str, Any], *, with_source: bool = True) -> str:
    tol = expected.get("tolerance")
    text = fmt(expected.get("value")) + (f" ± {fmt(tol)}" if tol not in (None, 0, 0.0) else "")
    return f"{text} ({expected['source']})" if with_source and expected.get("source") else text


def measured_text(measured: Mapping[str, Any], statistic: str = "") -> str:
    value = measured.get("value")
    band = measured.get("band")
    if band is None and statistic.startswith("p-value"):
        return f"p = {fmt(value)}"
    text = fmt(value)
    if band is not None:
        text += f" {fmt(tuple(band))}"
        if measured.get("level"):
            text += f" ({fmt(100 * measured['level'])} %)"
    return text


# -- summary --------------------------------------------------------------------------------------

def _vacuous(case: Mapping[str, Any]) -> bool:
    """Every decision of the case vacuous (records written before the flag existed have none)."""
    return all(d.get("vacuous", False) for d in case["decisions"])


def _mark(case: Mapping[str, Any]) -> str:
    return NO_PREDICTION if _vacuous(case) else MARK[case["verdict"]]


def _confirmed_cell(cases: Sequence[Mapping[str, Any]]) -> str:
    """"confirmed/all", with the cases that tested nothing counted apart."""
    vacuous = sum(_vacuous(c) for c in cases)
    confirmed = sum(c["verdict"] == "confirmed" and not _vacuous(c) for c in cases)
    return f"{confirmed}/{len(cases)}" + (f" ({vacuous} {NO_PREDICTION})" if vacuous else "")


def _as_expected(case: Mapping[str, Any]) -> bool:
    return case["verdict"] == ("refuted" if case["control"] else "confirmed")


def _deciding(case: Mapping[str, Any]) -> Mapping[str, Any]:
    """The decision that settles a case's verdict (see checks.harness.CaseResult.deciding)."""
    decisions = case["decisions"]
    target = "refuted" if case["control"] else "confirmed"
    if case["verdict"] != target:
        return next((d for d in decisions if d["verdict"] == case["verdict"]), decisions[0])
    if case["control"]:
        return next((d for d in decisions if d["verdict"] == "refuted"), decisions[0])
    return decisions[0]


def _ordered(cases: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Cases that are not as expected first, then the table order."""
    return sorted(cases, key=lambda c: _as_expected(c))


def _claim_tables(record: Mapping[str, Any]) -> list[str]:
    cases = [c for c in record["cases"] if not c["control"]]
    controls = [c for c in record["cases"] if c["control"]]
    lines = ["| case | predicted | measured | verdict |", "|---|---|---|---|"]
    for c in _ordered(cases):
        d = _deciding(c)
        lines.append(f"| {cell(c['name'], 60)} | {cell(d['test'] + ': ' + expected_text(d['expected']))} "
                     f"| {cell(measured_text(d['measured'], d['statistic']))} | {_mark(c)} |")
    if controls:
        lines += ["", "| control | predicted (wrong) | measured | why refuted | verdict |", "|---|---|---|---|---|"]
        for c in _ordered(controls):
            d = _deciding(c)
            lines.append(f"| {cell(c['name'], 60)} | {cell(d['test'] + ': ' + expected_text(d['expected'], with_source=False))} "
                         f"| {cell(measured_text(d['measured'], d['statistic']))} | {cell(c['why'], 90)} "
                         f"| {MARK[c['verdict']]} |")
    return lines


def summary(records: Sequence[Mapping[str, Any]], *, run_info: Mapping[str, Any], overview: str | None,
            benchmarks: str | None, sensitivity: str | None = None,
            false_failures: Sequence[Mapping[str, Any]] = ()) -> str:
    """REPORT.md from the claims' JSON records (and the false-failure rows of write_report)."""
    lines = ["# sgm-manifolds: claim checks", "",
             "What the reverse-SDE sampler of a score-based generative model does near the data manifold M, "
             "claim by claim: predicted, measured, judged.", ""]
    if overview:
        lines += [f"![Every decision of this report: measured against predicted]({overview})", ""]
    lines += ["| claim | title | verdict | cases confirmed | controls refuted | seed | budget | commit | date |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        cases = [c for c in r["cases"] if not c["control"]]
        controls = [c for c in r["cases"] if c["control"]]
        p = r.get("provenance", {})
        lines.append(f"| [{r['claim']}]({r['claim']}.md) | {cell(r['title'], 60)} | {MARK[r['verdict']]} "
                     f"| {_confirmed_cell(cases)} "
                     f"| {sum(c['verdict'] == 'refuted' for c in controls)}/{len(controls)} "
                     f"| {p.get('seed', '-')} | {p.get('budget', '-')} | {p.get('commit', '-')} | {p.get('date', '-')} |")
    lines.append("")
    for r in records:
        lines += [f"## {r['claim']}: {r['title']}", "", f"> {r['statement']}", ""]
        lines += _claim_tables(r)
        lines += ["", f"Every decision, the plots and the formulas: [{r['claim']}.md]({r['claim']}.md); "
                      f"every value: [{r['claim']}.json]({r['claim']}.json).", ""]
    lines += [READING]
    if false_failures:
        lines += _false_failure_section(false_failures)
    if sensitivity:
        lines += [f"What the checks can tell apart (injected bugs, and the smallest effect each control "
                  f"shows the check detects): [{sensitivity}]({sensitivity}).", ""]
    if benchmarks:
        lines += [f"Simulator benchmarks measured in this run: [{benchmarks}]({benchmarks}).", ""]
    lines += ["## Provenance of this run", ""]
    lines += [f"- {key}: {fmt(value)}" for key, value in run_info.items()]
    lines.append("")
    return "\n".join(lines)


def _seed_text(seeds: Sequence[int]) -> str:
    """0..19 for a contiguous run of seeds, else the list."""
    if seeds and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def _false_failure_section(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = ["## Measured false-failure rates", "",
             "How often the checks fail a correct implementation: each claim check rerun at many root seeds "
             "(`python -m checks.false_failures`; a measurement made before this run, at the commits shown). "
             "A run is wrong when some case is not confirmed or some control not refuted. *Closest case*: the "
             "smallest margin of any case decision over all runs (band half-widths; below 0 a case fails); "
             "*weakest control*: the smallest margin by which a control was refuted.", "",
             "| claim | budget | runs with a wrong verdict | seeds | closest case | weakest control | commits |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['budget']} | {r['wrong']} of {r['runs']} | {_seed_text(r['seeds'])} "
                     f"| {fmt(r['min_case_margin']) if r['min_case_margin'] is not None else '-'} "
                     f"| {fmt(r['min_control_refutation']) if r['min_control_refutation'] is not None else '-'} "
                     f"| {cell(', '.join(r['commits']), 40)} |")
    lines.append("")
    return lines


# -- sensitivity ----------------------------------------------------------------------------------

def sensitivity_page(mutants: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     descriptions: Mapping[str, str]) -> str:
    """SENSITIVITY.md: the mutant catalog's outcome (:func:`checks.mutants.run_catalog`) and, per claim
    of ``records``, its negative controls with the effect each is built to detect.

    descriptions : mutant name -> what it changes.
    """
    from checks.mutants import kept_every_claim

    rows = mutants["mutants"]
    bugs = [r for r in rows if not r["neutral"]]
    neutral = [r for r in rows if r["neutral"]]
    killed = sum(bool(r["killed_by"]) for r in bugs)
    kept = sum(map(kept_every_claim, neutral))
    crashed = [r["name"] for r in rows if r.get("crashed")]
    lines = ["# What the claim checks can tell apart", "",
             "Each *mutant* is one small change of one formula of the package (a variance x1.01, a noise "
             "scale x1.05, one sign), patched into a fresh process; the fast claim checks are then run "
             "under it (`python -m checks.mutants`). A claim that comes out not confirmed *kills* the "
             "mutant; a claim that raises under it (*crashed*: the patch no longer fits the code) does not. "
             "A *neutral* mutant changes something the theory says must not matter; it must be killed by "
             "none.", "",
             f"**{killed} of {len(bugs)} bug mutants killed; {kept} of {len(neutral)} neutral mutants kept "
             f"every claim confirmed.** Claims run: {', '.join(mutants['claims'])}; budget "
             f"`{mutants['budget']}`, seed {mutants['seed']}.", ""]
    if crashed:
        lines += ["**Crashed under " + ", ".join(f"`{n}`" for n in crashed) + "**: the catalog needs repair.", ""]
    lines += ["| mutant | what it changes | killed by | verdicts |", "|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["neutral"], bool(r["killed_by"]) if not r["neutral"] else 0)):
        if r.get("crashed") and not r["killed_by"]:
            status = "**crashed** (" + ", ".join(r["crashed"]) + ")"
        elif r["neutral"]:
            status = "none (neutral: as required)" if not r["killed_by"] else "**" + ", ".join(r["killed_by"]) + \
                " (neutral: a check fails on what its claim allows)**"
        else:
            status = ", ".join(r["killed_by"]) if r["killed_by"] else "**survived**"
        verdicts = ", ".join(f"{c} {v.split(':')[0]}" for c, v in r["verdicts"].items() if v != "confirmed")
        lines.append(f"| `{r['name']}` | {cell(descriptions.get(r['name'], ''), 100)} | {status} "
                     f"| {cell(verdicts or 'all confirmed', 80)} |")
    lines += ["", "## The smallest effects the checks are shown to detect", "",
              "Each negative control is a wrong hypothesis just beyond its check's resolution, run (or "
              "re-judged) with the stated effect; a refuted control shows the check detects an effect of "
              "that size. *Refuted by*: the band half-widths by which the deciding decision refuted it.", "",
              "| claim | control | effect to detect | refuted by | verdict |", "|---|---|---|---|---|"]
    for record in records:
        for c in (c for c in record["cases"] if c["control"]):
            d = _deciding(c)
            margin = d.get("margin")
            by = fmt(-margin) if c["verdict"] == "refuted" and isinstance(margin, (int, float)) else "-"
            lines.append(f"| {record['claim']} | {cell(c['name'], 60)} | {cell(c['effect'], 100)} | {by} "
                         f"| {MARK[c['verdict']]} |")
    lines += ["", "[Back to the summary](REPORT.md)", ""]
    return "\n".join(lines)


# -- claim pages ----------------------------------------------------------------------------------

def claim_page(record: Mapping[str, Any], figures: Sequence[tuple[str, str]],
               formulas: Sequence[tuple[str, str]]) -> str:
    p = record.get("provenance", {})
    lines = [f"# {record['claim']}: {record['title']}", "",
             f"**{MARK[record['verdict']].strip('*').capitalize()}** · budget `{record['budget']}` · "
             f"seed {record['seed']} · commit {p.get('commit', '-')} · {p.get('date', '-')}", "",
             f"> {record['statement']}", "", f"Source: {record['source']}. Derivations: CLAIMS.md, "
             f"{record['claim']} (in the repository).", "", "## Plan", "",
             "| " + " | ".join(record["plan"]) + " |", "|" + "---|" * len(record["plan"]),
             "| " + " | ".join(fmt(v) for v in record["plan"].values()) + " |", ""]
    if formulas:
        lines += ["## Predictions in closed form", ""]
        lines += [f"- {name}: ${latex}$" for name, latex in formulas]
        lines.append("")
    cases = [c for c in record["cases"] if not c["control"]]
    controls = [c for c in record["cases"] if c["control"]]
    lines += ["## Cases", "", "| case | setting | test | predicted | measured | rule | verdict |",
              "|---|---|---|---|---|---|---|"]
    for c in _ordered(cases):
        for i, d in enumerate(c["decisions"]):
            lines.append(f"| {cell(c['name'], 60) if i == 0 else ''} | {cell(c['setting']) if i == 0 else ''} "
                         f"| {cell(d['test'] + ': ' + d['statistic'], 80)} | {cell(expected_text(d['expected']))} "
                         f"| {cell(measured_text(d['measured'], d['statistic']))} | {cell(d['rule'], 80)} "
                         f"| {NO_PREDICTION if d.get('vacuous') else MARK[d['verdict']]} |")
    lines += ["", "## Negative controls (each must be refuted)", ""]
    if controls:
        lines += ["| control | kind | why refuted | effect to detect | test | predicted (wrong) | measured | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in _ordered(controls):
            for i, d in enumerate(c["decisions"]):
                head = (f"| {cell(c['name'], 60)} | {c['role'].split(': ', 1)[1]} | {cell(c['why'])} "
                        f"| {cell(c['effect'])} ") if i == 0 else "| | | | "
                lines.append(head + f"| {cell(d['test'] + ': ' + d['statistic'], 80)} "
                                    f"| {cell(expected_text(d['expected']))} "
                                    f"| {cell(measured_text(d['measured'], d['statistic']))} | {MARK[d['verdict']]} |")
    else:
        lines.append("(none)")
    if figures:
        lines += ["", "## Plots", ""]
        lines += [f"![{caption}]({name})\n" for caption, name in figures]
    lines += ["", f"Every recorded value: [{record['claim']}.json]({record['claim']}.json). "
                  "[Back to the summary](REPORT.md)", ""]
    return "\n".join(lines)


# -- plots ----------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                         "xtick.labelsize": 8, "ytick.labelsize": 8, "svg.hashsalt": "sgm"})
    return plt


def _title(text: str, width: int = 46) -> str:
    return "\n".join(textwrap.wrap(text, width)) or " "


def _panels(n: int, *, width: float = 4.2, height: float = 3.3, cols: int = 3):
    plt = _pyplot()
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


# A log x axis with at most this many distinct values (training-set sizes N) is labelled at the
# values themselves; a longer one (a profile over many decades of t) by decades.
FEW_LOG_TICKS = 8


def _log_x_ticks(ax, xs: Sequence[float]) -> None:
    """Log x ticks that do not overlap: the data's own values when there are few, else decades;
    never minor labels (matplotlib labels minor ticks on axes shorter than a decade)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

    values = sorted({float(x) for x in xs if x > 0})
    if len(values) <= FEW_LOG_TICKS:
        ax.xaxis.set_major_locator(FixedLocator(values))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.xaxis.set_major_locator(LogLocator(numticks=6))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _log_axes(ax) -> None:
    """Readable log axes: at most about five labelled decades on x, plain numbers on y, no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(numticks=6))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=8))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _legend_outside(fig, axes) -> None:
    """One legend for the figure, below the panels, from the labelled artists of every panel."""
    handles, labels = {}, []
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    if labels:
        # As many columns as the figure's width holds (about 2.3 inches a label); the legend hangs
        # below the panels and the tight bounding box of _save keeps it whole.
        columns = max(1, min(4, len(labels), int(fig.get_figwidth() / 2.3)))
        fig.legend([handles[k] for k in labels], labels, loc="upper center", ncol=columns,
                   frameon=False, bbox_to_anchor=(0.5, 0.0))


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)


def plot_loglog(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Distance to M against delta, log-log: measured levels, the fitted line, the prediction."""
    import numpy as np

    fig, axes = _panels(len(items))
    for ax, f in zip(axes, items):
        d = f["data"]
        deltas, levels = np.asarray(d["deltas"], float), np.asarray(d["levels"], float)
        ax.loglog(deltas, levels, "o", color="C3" if f.get("control") else "C0", label="measured")
        if d.get("fit"):
            slope, intercept = d["fit"]
            ax.loglog(deltas, np.exp(intercept) * deltas**slope, "-", color="C0", lw=1, label="least-squares fit")
        if d.get("predicted_levels") is not None:
            ax.loglog(deltas, np.asarray(d["predicted_levels"], float), "k--", lw=1, label="predicted")
        elif d.get("predicted_slope") is not None:
            p = float(d["predicted_slope"])
            ax.loglog(deltas, levels[0] / deltas[0] ** p * deltas**p, "k--", lw=1, label="predicted slope")
        _log_axes(ax)
        ax.set_title(_title(("control: " if f.get("control") else "") + f["title"]))
        ax.set_xlabel(r"early-stopping time $\delta$")
        ax.set_ylabel(d.get("ylabel", "RMS distance to M"))
    _legend_outside(fig, axes)
    _save(fig, path)


def plot_scatter(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Two-dimensional training points and samples."""
    import numpy as np

    fig, axes = _panels(len(items), width=4.0, height=4.0)
    for ax, f in zip(axes, items):
        d = f["data"]
        train, samples = np.asarray(d["train"], float), np.asarray(d["samples"], float)
        ax.scatter(train[:, 0], train[:, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.2, zorder=1,
                   label="training points")
        ax.scatter(samples[:, 0], samples[:, 1], s=4, alpha=0.5, color="C0", zorder=2, label="samples")
        ax.set_title(_title(f["title"]))
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_aspect("equal", adjustable="datalim")
    _legend_outside(fig, axes)
    _save(fig, path)


def plot_codim(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """sigma(t)^2 E|s|^2 against t with its prediction d - k."""
    import numpy as np

    fig, axes = _panels(len(items), cols=4, width=3.6, height=3.0)
    for ax, f in zip(axes, items):
        d = f["data"]
        t = np.asarray(d["t"], float)
        ax.errorbar(t, d["value"], yerr=d.get("sem"), fmt="o-", ms=3, color="C3" if f.get("control") else "C0",
                    label=r"measured $\sigma^2\,E|s|^2$")
        if d.get("predicted") is not None:
            ax.axhline(float(d["predicted"]), color="k", ls="--", lw=1, label="predicted $d-k$")
        ax.set_xscale("log")
        ax.set_xlabel("$t$")
        ax.set_ylabel(r"$\sigma(t)^2\,E|s|^2$")
        ax.set_title(_title(("control: " if f.get("control") else "") + f["title"], 40))
    _legend_outside(fig, axes)
    _save(fig, path)


def plot_phase(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """C6 phase diagrams: measured rate exponent against the family parameter, with the prediction."""
    import numpy as np

    fig, axes = _panels(len(items))
    for ax, f in zip(axes, items):
        d = f["data"]
        param = np.asarray(d["param"], float)
        order = np.argsort(param)
        measured = np.asarray(d["rate_measured"], float)
        band = np.asarray(d["rate_band"], float)
        if d.get("l2_region"):
            lo, hi = d["l2_region"]
            ax.axvspan(max(lo, param.min() - 0.1), min(hi, param.max() + 0.1), color="C2", alpha=0.15,
                       label="L2 region (sufficient condition)")
        ax.plot(param[order], np.asarray(d["rate_predicted"], float)[order], "k--", lw=1, label="predicted rate")
        ax.errorbar(param, measured, yerr=[measured - band[:, 0], band[:, 1] - measured], fmt="o", color="C0",
                    ms=4, label="measured slope (band)")
        if d.get("boundary") is not None:
            ax.axvline(float(d["boundary"]), color="k", lw=0.8, ls=":", label="predicted landing boundary")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(f"${d.get('symbol', 'a')}$")
        ax.set_ylabel(r"rate exponent of the RMS distance in $\delta$")
        ax.set_title(_title(f["title"]))
    _legend_outside(fig, axes)
    _save(fig, path)


def plot_bars(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Observed frequencies against predicted ones (and a wrong prediction)."""
    import numpy as np

    fig, axes = _panels(len(items), cols=2, width=6.0)
    for ax, f in zip(axes, items):
        d = f["data"]
        x = np.arange(len(d["observed"]))
        ax.bar(x - 0.2, d["observed"], width=0.4, color="C0", label="observed")
        ax.bar(x + 0.2, d["predicted"], width=0.4, color="0.6", label="predicted")
        if d.get("wrong") is not None:
            ax.plot(x, d["wrong"], "C3_", ms=12, mew=2, label="wrong prediction (control)")
        ax.set_xlabel(d.get("xlabel", "cell"))
        ax.set_ylabel("frequency")
        ax.set_title(_title(f["title"], 60))
    _legend_outside(fig, axes)
    _save(fig, path)


def plot_curves(items: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Named series against a common x (learned-score profiles, memorization against N)."""
    import numpy as np

    fig, axes = _panels(len(items))
    for ax, f in zip(axes, items):
        d = f["data"]
        for name, ys in d["series"].items():
            ax.plot(np.asarray(d["x"], float), np.asarray(ys, float), "o-", ms=3, label=name)
        for name, y in d.get("references", {}).items():
            ax.axhline(float(y), ls="--", lw=1, color="k", label=name)
        ax.set_xscale(d.get("xscale", "linear"))
        ax.set_yscale(d.get("yscale", "linear"))
        if d.get("xscale") == "log":
            _log_x_ticks(ax, d["x"])
        ax.set_xlabel(d.get("xlabel", "x"))
        ax.set_ylabel(d.get("ylabel", "y"))
        ax.set_title(_title(f["title"]))
    _legend_outside(fig, axes)
    _save(fig, path)


PLOTTERS: dict[str, Callable[[Sequence[Mapping[str, Any]], Path], None]] = {
    "loglog": plot_loglog, "scatter": plot_scatter, "codim": plot_codim, "phase": plot_phase, "bars": plot_bars,
    "curves": plot_curves}
# Plot kinds and their captions, in the order they appear on a page.
CAPTIONS = {"loglog": "distance to M against the early-stopping time", "scatter": "samples and training points",
            "codim": "explosion rate of the score", "phase": "phase diagrams", "bars": "frequencies",
            "curves": "profiles"}


def _plots(result: CheckResult, folder: Path) -> list[tuple[str, str]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for case in result.cases:
        # A re-judged control carries the figure of the case it re-judges, drawn with that case.
        if case.figure is not None and case.role is not Role.CONTROL_REJUDGED:
            if case.figure.kind not in PLOTTERS:
                raise ValueError(f"{result.claim}/{case.name}: no plotter for figure kind {case.figure.kind!r}")
            groups.setdefault(case.figure.kind, []).append(
                {"title": case.figure.title, "data": json_data(dict(case.figure.data)),
                 "control": case.role.is_control})
    written = []
    for kind in CAPTIONS:
        if kind in groups:
            name = f"{result.claim}_{kind}.png"
            PLOTTERS[kind](groups[kind], folder / name)
            written.append((f"{result.claim}: {CAPTIONS[kind]}", name))
    summary: dict[str, list[Mapping[str, Any]]] = {}
    for figure in result.figures:  # the claim's own figures, over all its cases
        if figure.kind not in PLOTTERS:
            raise ValueError(f"{result.claim}: no plotter for figure kind {figure.kind!r}")
        summary.setdefault(figure.kind, []).append({"title": figure.title, "data": json_data(dict(figure.data)),
                                                    "control": False})
    for kind, items in summary.items():
        name = f"{result.claim}_summary_{kind}.png"
        PLOTTERS[kind](items, folder / name)
        topics = dict.fromkeys(item["title"].split(":")[0] for item in items)
        written.append((f"{result.claim}: " + "; ".join(topics), name))
    return written


def plot_overview(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Every decision's margin (checks.harness.Decision.margin: > 0 where the prediction holds, in
    units of the measurement's resolution), by claim: cases must land right of 0, controls left."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(records) + 1.9), sharey=True)
    colors = {"confirmed": "C0", "refuted": "C3", "inconclusive": "C1"}
    for ax, controls in zip(axes, (False, True)):
        for y, r in enumerate(records):
            xs, cs = [], []
            for c in r["cases"]:
                if c["control"] is not controls:
                    continue
                for d in c["decisions"]:
                    margin = d.get("margin")
                    if margin is None and d.get("margin_nonfinite"):
                        margin = 1e9 if d["margin_nonfinite"] == "inf" else -1e9
                    if margin is not None:
                        xs.append(float(np.clip(margin, -MARGIN_CLIP, MARGIN_CLIP)))
                        cs.append(colors[d["verdict"]])
            jitter = np.linspace(-0.3, 0.3, len(xs)) if len(xs) > 1 else np.zeros(len(xs))
            ax.scatter(xs, y + jitter, c=cs, s=10, alpha=0.8)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_xlim(-MARGIN_CLIP - 1, MARGIN_CLIP + 1)
        ax.set_xlabel("margin (band half-widths)")
        ax.set_title("negative controls: must fall left of 0" if controls else "cases: must fall right of 0")
    fig.suptitle(f"Margin of every decision: > 0 where the prediction holds (clipped at ±{MARGIN_CLIP:g})")
    axes[0].set_yticks(range(len(records)), [r["claim"] for r in records])
    axes[0].set_ylim(len(records) - 0.5, -0.5)
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=v) for v, c in colors.items()]
    # Below the axis labels, kept whole by the tight bounding box of _save (as in _legend_outside).
    fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, bbox_to_anchor=(0.5, 0.0))
    _save(fig, path)


# -- the report -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    """What :func:`write_report` wrote: ``files`` (names in the folder) and per claim of this run and
    of the kept ones ``claims[id] = {"files": its names, "provenance": ...}`` (the manifest entries)."""

    files: list[str]
    claims: dict[str, dict[str, Any]]


def write_report(results: Sequence[CheckResult], folder: Path, *, provenance: Mapping[str, Mapping[str, Any]],
                 run_info: Mapping[str, Any], kept: Mapping[str, Mapping[str, Any]] | None = None,
                 benchmarks: str | None = None, sensitivity: str | None = None,
                 claim_order: Sequence[str] = (), false_failures: Sequence[Mapping[str, Any]] = ()) -> Written:
    """Write the pages, records and plots of ``results`` and REPORT.md into ``folder``.

    provenance : per claim of ``results``, {seed, budget, commit, date}. kept : claims of an earlier
    report that stay (:meth:`checks.output.ReportFolder.kept_claims`). run_info : run-level
    provenance; the time spent plotting is added here. benchmarks, sensitivity : the names of a
    benchmark page and a sensitivity page already written into ``folder`` (linked from the summary).
    claim_order : the order of the summary (default: claim id order). false_failures : the rows of
    :func:`checks.false_failures.summarize` for the claims of the report (a measurement made outside
    this run), stated in the summary.
    """
    folder = Path(folder)
    kept = dict(kept or {})
    files: list[str] = []
    claims = {cid: {"files": list(e["files"]), "provenance": dict(e["provenance"])} for cid, e in kept.items()}
    records = {cid: e["record"] for cid, e in kept.items()}
    plotting = 0.0
    for result in results:
        record = json_data(result.to_dict() | {"provenance": dict(provenance[result.claim])})
        start = time.perf_counter()
        figures = _plots(result, folder)
        plotting += time.perf_counter() - start
        (folder / f"{result.claim}.md").write_text(claim_page(record, figures, result.formulas))
        (folder / f"{result.claim}.json").write_text(json.dumps(record, indent=1, sort_keys=True, allow_nan=False)
                                                     + "\n")
        names = [f"{result.claim}.md", f"{result.claim}.json", *(name for _, name in figures)]
        files += names
        claims[result.claim] = {"files": names, "provenance": dict(provenance[result.claim])}
        records[result.claim] = record
    rank = {cid: i for i, cid in enumerate(claim_order)}
    ordered = [records[c] for c in sorted(records, key=lambda c: (rank.get(c, len(rank)), c))]
    start = time.perf_counter()
    plot_overview(ordered, folder / "overview.png")
    plotting += time.perf_counter() - start
    info = dict(run_info) | {"plotting time (s)": round(plotting, 1)}
    rates = [r for r in false_failures if r["claim"] in records]
    (folder / "REPORT.md").write_text(summary(ordered, run_info=info, overview="overview.png", benchmarks=benchmarks,
                                                   sensitivity=sensitivity, false_failures=rates))
    return Written(files=["REPORT.md", "overview.png", *files], claims=claims)
