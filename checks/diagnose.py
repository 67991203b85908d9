"""`python -m checks diagnose`: will your score model memorize its training set or generalize?

Runs :func:`theory.learned.diagnose` on a user's model (CLAIMS.md C8) and writes a diagnosis page:
the verdict predicted from the score's explosion and the one measured by sampling, each with its
reasons and deciding numbers, and the profiles plotted. Usage (the arguments after ``diagnose``)::

    python -m checks diagnose --score mypackage.model:score --data train.npy
        [--population 'Sphere(2, 3)' | --population mypackage.data:population]
        [--parametrization score|noise|denoiser] [--sigma-model] [--process OU|VP|VE]
        [--out diagnosis] [--seed 0] [--json]

- ``--score module:callable``: the model. With ``--parametrization score`` (default) it is the
  score s(t, x); ``noise`` a noise predictor eps(t, x), s = -eps / sigma(t); ``denoiser`` a denoiser
  D(t, x), s = (alpha(t) D - x) / sigma(t)^2. With ``--sigma-model`` it is called with the noise
  level instead of t, as model(sigma(t) / alpha(t), x / alpha(t)) (NCSN, EDM; adapters of
  :mod:`theory.learned.adapters`). It takes t (a float) and x (an ndarray (n, d)) and returns an
  ndarray (n, d).
- ``--data``: the training set, a ``.npy`` file holding a real (N, d) array, N >= 2 distinct rows.
- ``--population``: the closed-form measure the data were drawn from, if there is one: one of
  ``Sphere(k, d)`` (keyword ``radius``), ``Subspace(k, d)``, ``Torus()`` (the flat torus
  S^1 x S^1 in R^4), with numeric arguments only (parsed, never evaluated), or
  ``module:callable`` returning a :class:`theory.Measure`.

Safety: every input is checked and the model probed once on noised training points at three
times before any work; the output folder follows the main command's rules
(:mod:`checks.output`): a new or empty folder, or one written by this tool whose files are
unchanged. The page is written into a staging folder and moved into place at the end; files
already listed in the folder's manifest (another report) are kept, nothing else is touched.

Exit status: 0 the predicted and measured verdicts agree and are decisive; 1 they disagree (a
refutation of C8 for this model) or one is inconclusive; 2 refused before any result was written
(bad option, missing or malformed data, callable not found, a model output with the wrong shape
or NaN, unusable --out); 4 a crash (traceback on stderr; nothing written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from checks.output import OutputError, ReportFolder

EXIT_OK = 0
EXIT_NOT_AGREED = 1
EXIT_USAGE = 2
EXIT_CRASH = 4
EXIT_INTERRUPTED = 130

PAGE = "DIAGNOSIS.md"
RECORD = "diagnosis.json"
PROFILES_PNG = "diagnosis_profiles.png"
SAMPLING_PNG = "diagnosis_sampling.png"
# Training points the model is probed on before any work (a small batch: a wrong shape or NaN shows
# at once), and the probe times as fractions of T (top, middle and the bottom of typical windows).
PROBE_POINTS = 16
PROBE_TIMES = (1.0, 1e-2, 1e-5)

EPILOG = f"""\
exit status:
  {EXIT_OK}    the predicted and the measured verdict agree and are decisive
  {EXIT_NOT_AGREED}    they disagree (a refutation of CLAIMS.md C8 for this model), or one is inconclusive
  {EXIT_USAGE}    refused before any result was written: bad option, missing or malformed --data,
       --score or --population not found, the model returned a wrong shape or NaN, unusable --out
  {EXIT_CRASH}    a crash (traceback above); nothing written
  {EXIT_INTERRUPTED}  interrupted; nothing written
"""


class UsageError(Exception):
    """Refused input: one line on stderr, exit status 2, nothing written."""


class ModelError(UsageError):
    """The user's model raised or returned an unusable array (wrong shape, NaN/inf)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m checks diagnose", description=__doc__.split("\n")[0], epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--score", required=True, help="the model, as package.module:callable")
    parser.add_argument("--data", required=True, help="the training set: a .npy file of shape (N, d)")
    parser.add_argument("--population", default=None,
                        help="closed-form population: Sphere(k, d), Subspace(k, d), Torus() or module:callable")
    parser.add_argument("--parametrization", default="score", choices=("score", "noise", "denoiser"),
                        help="what the model returns (default: score)")
    parser.add_argument("--sigma-model", action="store_true",
                        help="the model takes the noise level sigma(t)/alpha(t) and x/alpha(t) instead of (t, x)")
    parser.add_argument("--process", default="OU", choices=("OU", "VP", "VE"),
                        help="forward process the model was trained for, with default parameters (default OU)")
    parser.add_argument("--out", default="diagnosis", help="output folder (default: diagnosis)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the diagnosis, an integer >= 0 (default 0)")
    parser.add_argument("--json", action="store_true", help="print the diagnosis record as JSON on stdout")
    args = parser.parse_args(argv)
    if args.seed < 0:
        raise UsageError(f"--seed must be an integer >= 0, got {args.seed}")
    return args


# -- inputs ---------------------------------------------------------------------------------------

def load_object(spec: str, option: str) -> Any:
    """The object named by ``spec`` = "package.module:attribute[.attribute]" (imported, not evaluated)."""
    module_name, sep, path = spec.partition(":")
    if not sep or not module_name or not path:
        raise UsageError(f"{option} must look like package.module:callable, got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"{option} {spec}: cannot import module {module_name!r} ({exc})") from exc
    except Exception as exc:  # the user's module failed while importing
        raise UsageError(f"{option} {spec}: importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    for part in path.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            raise UsageError(f"{option} {spec}: {module_name!r} has no attribute {path!r}")
        obj = getattr(obj, part)
    return obj


def load_data(path: str) -> np.ndarray:
    """The training set from a .npy file: a real (N, d) array, finite, N >= 2 distinct rows."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--data {path}: no such file")
    try:
        data = np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"--data {path}: not a .npy array file ({exc})") from exc
    if not isinstance(data, np.ndarray):
        raise UsageError(f"--data {path}: expected one array in .npy format, got {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] < 1:
        raise UsageError(f"--data {path}: the training set must have shape (N, d), got {data.shape}")
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise UsageError(f"--data {path}: the training set must be a real array, got dtype {data.dtype}")
    data = data.astype(np.float64)
    if not np.all(np.isfinite(data)):
        raise UsageError(f"--data {path}: the training set has {int(np.sum(~np.isfinite(data)))} NaN/inf entries")
    if np.unique(data, axis=0).shape[0] < 2:
        raise UsageError(f"--data {path}: the training set needs at least 2 distinct points, got "
                         f"{np.unique(data, axis=0).shape[0]}")
    return data


def _torus():
    from theory import Product, Sphere

    return Product((Sphere(1, 2), Sphere(1, 2)))


def _constructors() -> dict[str, Callable[..., Any]]:
    from theory import Sphere, Subspace

    return {"Sphere": Sphere, "Subspace": Subspace, "Torus": _torus}


def _number(node: ast.expr, where: str) -> int | float:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand, where)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    raise UsageError(f"--population {where}: arguments must be numbers, got {ast.unparse(node)!r}")


def parse_population(spec: str):
    """A theory Measure from ``Sphere(k, d, radius=r)``, ``Subspace(k, d)``, ``Torus()`` (parsed with
    :mod:`ast`, numbers only) or from ``module:callable`` (called with no arguments)."""
    from theory import Measure

    if ":" in spec:
        factory = load_object(spec, "--population")
        if not callable(factory):
            raise UsageError(f"--population {spec}: not callable")
        try:
            measure = factory()
        except Exception as exc:
            raise UsageError(f"--population {spec}: calling it raised {type(exc).__name__}: {exc}") from exc
    else:
        table = _constructors()
        try:
            tree = ast.parse(spec.strip(), mode="eval").body
        except SyntaxError as exc:
            raise UsageError(f"--population {spec!r}: not a constructor call ({exc.msg})") from exc
        if isinstance(tree, ast.Name):
            tree = ast.Call(func=tree, args=[], keywords=[])
        if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id in table):
            raise UsageError(f"--population {spec!r}: expected one of {', '.join(f'{n}(...)' for n in table)} "
                             f"or module:callable")
        args = [_number(a, spec) for a in tree.args]
        kwargs = {}
        for kw in tree.keywords:
            if kw.arg is None:
                raise UsageError(f"--population {spec!r}: ** arguments are not allowed")
            kwargs[kw.arg] = _number(kw.value, spec)
        try:
            measure = table[tree.func.id](*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--population {spec}: {exc}") from exc
    if not isinstance(measure, Measure):
        raise UsageError(f"--population {spec}: expected a theory Measure, got {type(measure).__name__}")
    return measure


def make_process(name: str):
    from theory import OU, VE, VP

    return {"OU": OU, "VP": VP, "VE": VE}[name]()


class GuardedModel:
    """The user's model with every call checked: an exception inside it, or an output that is not a
    finite real array of x's shape, becomes a :class:`ModelError` naming the time."""

    def __init__(self, model: Callable, name: str):
        self.model = model
        self.name = name

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        from theory.learned.adapters import checked_output

        try:
            out = self.model(t, x)
        except Exception as exc:
            raise ModelError(f"--score {self.name}: the model raised {type(exc).__name__}: {exc} "
                             f"(called with t={float(t):.6g}, x of shape {x.shape})") from exc
        try:
            return checked_output(out, x, name=f"--score {self.name}", t=float(t))
        except ValueError as exc:
            raise ModelError(str(exc)) from exc


def build_score(model: Callable, args: argparse.Namespace, process):
    """The score s(t, x) of the guarded model under the chosen parametrization (module docstring)."""
    from theory.learned import from_denoiser, from_noise_prediction, from_sigma_model

    guarded = GuardedModel(model, args.score)
    if args.sigma_model:
        return from_sigma_model(guarded, parametrization=args.parametrization, process=process)
    if args.parametrization == "noise":
        return from_noise_prediction(guarded, process=process)
    if args.parametrization == "denoiser":
        return from_denoiser(guarded, process=process)
    return guarded


def probe(score: Callable, train: np.ndarray, process, T: float) -> None:
    """Call the score once at each of PROBE_TIMES (times T) on up to PROBE_POINTS noised training points;
    a model fault raises ModelError before any work."""
    rng = np.random.default_rng(0)
    x0 = train[: PROBE_POINTS]
    for fraction in PROBE_TIMES:
        t = fraction * T
        x = float(process.alpha(t)) * x0 + float(process.sigma(t)) * rng.standard_normal(x0.shape)
        score(t, x)


# -- the page -------------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    from checks.writer import fmt

    return fmt(value)


def page(record: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    dg, inputs = record["diagnosis"], record["inputs"]
    agree = "agree" if dg["agrees"] else ("**disagree: a refutation of C8 for this model**" if dg["refuted"]
                                          else "*not both decisive*")
    ms = dg.get("measurement") or {}
    k = dg["k"]
    target = f"d - k = {dg['d'] - k}" if k is not None else "d - 1 or below (no population given)"
    prediction_numbers = (f"codimension {_fmt(dg['codimension'])} ± {_fmt(dg['codimension_se'])} "
                          f"(memorizes: d = {dg['d']}; generalizes: {target}); decisive window of t "
                          f"{_fmt(dg['window'])}, {_fmt(dg['window_decades'])} decades")

    def slope(name: str) -> str:
        f = ms.get(name)
        return "-" if not f else f"{_fmt(f['slope'])} [{_fmt(f['low'])}, {_fmt(f['high'])}]"

    measured_numbers = "not measured" if not ms else (
        f"nearest-training slope in delta: RMS {slope('nearest_rms')}, median {slope('nearest_median')}"
        + (f"; distance to M: {slope('manifold')}" if ms.get("manifold") else "")
        + f"; copy fraction {_fmt(ms['copy_fraction'][-1])} at delta = {_fmt(ms['deltas'][-1])}")
    lines = [f"# Diagnosis of `{inputs['score']}`", "",
             f"**Predicted: {dg['predicted']} · measured: {dg['measured']} · {agree}** "
             f"(exit status {record['exit_status']})", "",
             "| | verdict | deciding numbers |", "|---|---|---|",
             f"| predicted from the score's explosion (CLAIMS.md C5, C8) | {dg['predicted']} | {prediction_numbers} |",
             f"| measured by sampling (no final denoising) | {dg['measured']} | {measured_numbers} |", "",
             "## Why: the prediction", ""]
    lines += [f"- {reason}" for reason in dg["predicted_reasons"]]
    lines += ["", "## Why: the measurement", ""]
    lines += [f"- {reason}" for reason in dg["measured_reasons"]]
    lines += ["", "## Inputs", ""]
    lines += [f"- {key}: {_fmt(value) if not isinstance(value, str) else value}" for key, value in inputs.items()]
    if figures:
        lines += ["", "## Plots", ""]
        lines += [f"![{caption}]({name})\n" for caption, name in figures]
    lines += ["## How to read this page", "",
              "The prediction reads the score alone: on the forward-noised training set, "
              "sigma(t)^2 E|s(t, X_t)|^2 tends to d for a score whose sampler lands on the N training points "
              "and to d - k for one that lands on a k-dimensional set (CLAIMS.md C5). It is read where the "
              "training points are separated at the scale sigma(t) and the score still behaves like an exact "
              "one; elsewhere the answer is inconclusive, never a guess. The measurement samples the reverse "
              "SDE down to several early-stopping times delta: the distance to the nearest training point "
              "shrinks like sigma(delta) (slope about 1/2) when the samples are copies, and stays flat when "
              "they are new points. The copy fraction is the share of samples whose nearest training point "
              "is closer than a third of the second nearest (Gu et al. 2023, arXiv:2310.02664).", "",
              f"Every value: [{RECORD}]({RECORD}).", ""]
    return "\n".join(lines)


def plot_profiles(dg, path: Path) -> None:
    """Two panels against t (log): the explosion profiles sigma^2 E|s|^2 of the score and of the exact
    references with the levels d and d - k, and the errors e_emp, e_pop (theory.learned.profiles);
    the decisive window shaded blue, the untrusted range grey. The y range stops a little above d:
    an untrusted profile can be far larger (every value is in the JSON record)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ex, er, res = dg.explosion, dg.errors, dg.resolution
    t = ex.times
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("forward time $t$")
        if res.window is not None:
            ax.axvspan(res.window[0], res.window[1], color="C0", alpha=0.12, lw=0, label="decisive window")
        if not res.trusted.all():
            low = t[~res.trusted].min()
            high = t[res.trusted].min() if res.trusted.any() else t.max()
            ax.axvspan(low, high, color="0.5", alpha=0.15, lw=0, label="not trusted (resolution floor)")
    ax = axes[0]
    ax.plot(t, ex.value, "o-", ms=3, color="C0", label=r"the score: $c(t)=\sigma^2 E|s|^2$")
    ax.plot(t, ex.empirical, "--", color="C1", label="exact empirical score")
    if ex.population is not None:
        ax.plot(t, ex.population, ":", lw=2, color="C2", label="exact population score")
    ax.axhline(dg.d, color="k", ls="--", lw=0.8, label=f"d = {dg.d}: memorizes")
    if dg.k is not None:
        ax.axhline(dg.d - dg.k, color="k", ls=":", lw=0.8, label=f"d - k = {dg.d - dg.k}: generalizes")
    ax.set_ylim(-0.1, 1.25 * dg.d + 0.1)
    ax.set_ylabel(r"$\sigma(t)^2\,E|s(t,X_t)|^2$")
    ax.set_title("explosion on the noised training set")
    ax = axes[1]
    ax.plot(t, er.empirical, "o-", ms=3, color="C3", label=r"$e_{emp}=\sigma^2 E|s-s_{emp}|^2$")
    if er.population is not None:
        ax.plot(t, er.population, "s-", ms=3, color="C4", label=r"$e_{pop}=\sigma^2 E|s-s_{pop}|^2$")
    ax.set_ylim(-0.1, 1.25 * dg.d + 0.1)
    ax.set_ylabel(r"$\sigma(t)^2\,E|s-s_{ref}|^2$")
    ax.set_title("error against the exact scores")
    handles, labels = {}, []
    for axis in axes:
        for h, label in zip(*axis.get_legend_handles_labels()):
            if label not in handles:
                handles[label] = h
                labels.append(label)
    fig.legend([handles[k] for k in labels], labels, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def figures(dg, folder: Path) -> list[tuple[str, str]]:
    """The profile and sampling plots of ``dg`` into ``folder``; (caption, file name) pairs."""
    from checks.records import json_data
    from checks.writer import plot_loglog

    plot_profiles(dg, folder / PROFILES_PNG)
    written = [("explosion and error profiles against t", PROFILES_PNG)]
    ms = dg.measurement
    if ms is not None:
        nearest_slope = 0.5 if dg.predicted.value == "memorizes" else (0.0 if dg.predicted.value == "generalizes"
                                                                         else None)
        panels = [("RMS nearest-training distance", ms.nearest_rms, nearest_slope),
                  ("median nearest-training distance", ms.nearest_median, nearest_slope)]
        if ms.manifold is not None:
            panels.append(("RMS distance to the population's M", ms.manifold, 0.5))
        items = [{"title": f"{name} against delta", "control": False,
                  "data": json_data({"deltas": fit.deltas.tolist(), "levels": fit.levels.tolist(),
                                     "fit": [fit.slope, fit.intercept], "predicted_slope": predicted,
                                     "ylabel": name})}
                 for name, fit, predicted in panels]
        plot_loglog(items, folder / SAMPLING_PNG)
        written.append(("samples' distances against the early-stopping time", SAMPLING_PNG))
    return written


# -- main -----------------------------------------------------------------------------------------

def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Run the diagnosis (module docstring); ``argv`` are the arguments after ``diagnose``."""
    folder = None
    try:
        try:
            args = parse_args(argv)
            from theory.learned import diagnose

            train = load_data(args.data)
            model = load_object(args.score, "--score")
            if not callable(model):
                raise UsageError(f"--score {args.score}: not callable (got {type(model).__name__})")
            population = None if args.population is None else parse_population(args.population)
            if population is not None and population.d != train.shape[1]:
                raise UsageError(f"--population {args.population}: lives in R^{population.d}, but the training set "
                                 f"in R^{train.shape[1]}")
            if population is not None and population.k < 1:
                raise UsageError(f"--population {args.population}: needs intrinsic dimension k >= 1, got "
                                 f"k = {population.k}")
            process = make_process(args.process)
            score = build_score(model, args, process)
            T = 1.0
            probe(score, train, process, T)
            folder = ReportFolder.prepare(args.out)
        except (UsageError, OutputError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Exception:
            traceback.print_exc()
            print("error: checking the inputs failed (traceback above); nothing written", file=sys.stderr)
            return EXIT_CRASH
        started = time.perf_counter()
        try:
            dg = diagnose(score, train, process=process, population=population, rng=np.random.default_rng(args.seed),
                          T=T)
            status = EXIT_OK if dg.agrees else EXIT_NOT_AGREED
            inputs = {"score": args.score, "parametrization": args.parametrization,
                      "sigma model": "yes" if args.sigma_model else "no", "process": repr(process),
                      "data": f"{args.data}, shape {train.shape}, sha256 {_sha256(args.data)[:16]}",
                      "population": args.population or "none", "seed": args.seed,
                      "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                      "diagnosis time (s)": round(time.perf_counter() - started, 1)}
            from checks.harness import versions
            from checks.records import json_data

            record = json_data({"inputs": inputs, "exit_status": status, "versions": versions(),
                                "diagnosis": dg.to_dict()})
            with folder.staging() as stage:
                shown = figures(dg, stage)
                (stage / PAGE).write_text(page(record, shown))
                (stage / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")
                old = list((folder.manifest or {}).get("files", {}))
                folder.install(stage, [PAGE, RECORD, *(name for _, name in shown)], keep=old,
                               claims=(folder.manifest or {}).get("claims"))
        except ModelError as exc:  # the model failed at a time or place the probe did not reach
            folder.discard_created()
            print(f"error: {exc}; nothing written", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            folder.discard_created()
            print("interrupted: nothing written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception:
            folder.discard_created()
            traceback.print_exc()
            print("error: the diagnosis failed (traceback above); nothing written", file=sys.stderr)
            return EXIT_CRASH
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        sys.stdout.write(json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n")
    print(f"wrote {Path(args.out) / PAGE}: predicted {dg.predicted.value}, measured {dg.measured.value}"
          + (" (agree)" if dg.agrees else (" (disagree: refutes C8 for this model)" if dg.refuted else "")),
          file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
