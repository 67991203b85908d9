"""`python -m checks diagnose` (checks.diagnose): refusals before any work, and a real run.

Every fault of the table must exit with status 2, say what is wrong, create no output folder and
leave the user's files (data, model module, an existing folder) byte for byte as they were. The
real runs diagnose exact scores of 8 points on the circle in R^2 (about a second each).
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from checks import diagnose as cli
from checks.output import MANIFEST
from theory import Sphere

MODEL_CODE = """
from pathlib import Path
import numpy as np
from theory import OU, PointCloud, Sphere

_train = np.load(Path(__file__).with_name("train.npy"))
_cloud = PointCloud(_train)
_circle = Sphere(1, 2)
not_callable = 3


def empirical(t, x):
    return _cloud.score(t, x)


def population(t, x):
    return _circle.score(t, x)


def noise(t, x):
    return -np.sqrt(OU().sigma2(t)) * _cloud.score(t, x)


def nan_model(t, x):
    return np.full_like(x, np.nan)


def nan_at_small_t(t, x):
    return np.full_like(x, np.nan) if t < 1e-7 else _cloud.score(t, x)


def wrong_shape(t, x):
    return x[:, :1]


def raises(t, x):
    raise RuntimeError("weights not loaded")


def sigma_denoiser(noise_level, x):
    # E[X_0 | X_0 + noise_level Z = x] for X_0 uniform on the training points (a softmax)
    logits = -0.5 * ((x[:, None, :] - _train[None, :, :]) ** 2).sum(axis=2) / noise_level**2
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights / weights.sum(axis=1, keepdims=True)) @ _train


def not_a_measure():
    return "circle"


def circle():
    return _circle
"""


@dataclass
class User:
    """A user's folder: the model module (a fresh name per test), train.npy, and where outputs go."""

    root: Path
    module: str

    @property
    def data(self) -> str:
        return str(self.root / "train.npy")

    def score(self, name: str) -> str:
        return f"{self.module}:{name}"

    def out(self, name: str = "out") -> str:
        return str(self.root / name)

    def snapshot(self) -> dict[str, str]:
        """SHA-256 of every file under root (caches of the import excluded)."""
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture
def user(tmp_path, monkeypatch):
    module = f"usermodel_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(MODEL_CODE))
    np.save(tmp_path / "train.npy", Sphere(1, 2).sample(8, np.random.default_rng(0)))
    monkeypatch.syspath_prepend(str(tmp_path))
    return User(tmp_path, module)


def _write(user: User, name: str, content) -> str:
    path = user.root / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content) if name.endswith(".npy") else np.savez(path, a=content)
    return str(path)


def _existing_folder(user: User) -> str:
    folder = user.root / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    return str(folder)


def _existing_file(user: User) -> str:
    path = user.root / "report.md"
    path.write_text("mine")
    return str(path)


# Each fault: a function of the User returning the argument list, and the expected message.
FAULTS = {
    "data file missing": (lambda u: ["--score", u.score("empirical"), "--data", str(u.root / "nope.npy")],
                          "no such file"),
    "data of one dimension": (lambda u: ["--score", u.score("empirical"), "--data",
                                         _write(u, "flat.npy", np.ones(5))], r"shape \(N, d\), got \(5,\)"),
    "data with NaN": (lambda u: ["--score", u.score("empirical"), "--data",
                                 _write(u, "nan.npy", np.array([[0.0, 1.0], [np.nan, 0.0]]))], "1 NaN/inf"),
    "data of one distinct point": (lambda u: ["--score", u.score("empirical"), "--data",
                                              _write(u, "one.npy", np.ones((3, 2)))], "at least 2 distinct"),
    "data not in .npy format": (lambda u: ["--score", u.score("empirical"), "--data",
                                           _write(u, "text.npy", b"0 1\n1 0\n")], r"not a \.npy array file"),
    "data an .npz archive": (lambda u: ["--score", u.score("empirical"), "--data",
                                        _write(u, "many.npz", np.ones((3, 2)))], "expected one array"),
    "data of strings": (lambda u: ["--score", u.score("empirical"), "--data",
                                   _write(u, "str.npy", np.array([["a", "b"], ["c", "d"]]))], "real array"),
    "score without a colon": (lambda u: ["--score", u.module, "--data", u.data],
                              "must look like package.module:callable"),
    "score module missing": (lambda u: ["--score", "no_such_module_c8:f", "--data", u.data],
                             "cannot import module 'no_such_module_c8'"),
    "score callable missing": (lambda u: ["--score", u.score("missing"), "--data", u.data],
                               "has no attribute 'missing'"),
    "score not callable": (lambda u: ["--score", u.score("not_callable"), "--data", u.data], "not callable"),
    "model returns NaN": (lambda u: ["--score", u.score("nan_model"), "--data", u.data], "16 NaN/inf entries"),
    "model returns NaN below t = 1e-7": (lambda u: ["--score", u.score("nan_at_small_t"), "--data", u.data],
                                         "NaN/inf entries at t=.*nothing written"),
    "model returns a wrong shape": (lambda u: ["--score", u.score("wrong_shape"), "--data", u.data],
                                    r"must return an array of shape \(8, 2\)"),
    "model raises": (lambda u: ["--score", u.score("raises"), "--data", u.data],
                     "the model raised RuntimeError: weights not loaded"),
    "noise model returns NaN": (lambda u: ["--score", u.score("nan_model"), "--parametrization", "noise",
                                           "--data", u.data], "NaN/inf"),
    "population of another dimension": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                                   "--population", "Sphere(1, 3)"], r"lives in R\^3"),
    "population not a constructor": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                                "--population", "__import__('os').remove('train.npy')"],
                                     "expected one of Sphere"),
    "population with a string argument": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                                      "--population", "Sphere('1', 2)"], "must be numbers"),
    "population with bad numbers": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                               "--population", "Sphere(2, 2)"], "1 <= k <= d - 1"),
    "population callable not a measure": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                                     "--population", u.score("not_a_measure")],
                                          "expected a theory Measure, got str"),
    "unknown process": (lambda u: ["--score", u.score("empirical"), "--data", u.data, "--process", "XY"],
                        "invalid choice"),
    "negative seed": (lambda u: ["--score", u.score("empirical"), "--data", u.data, "--seed", "-1"],
                      "--seed must be an integer >= 0"),
    "missing --data": (lambda u: ["--score", u.score("empirical")], "the following arguments are required: --data"),
    "out is an existing file": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                           "--out", _existing_file(u)], "is an existing file"),
    "out is a folder of the user's": (lambda u: ["--score", u.score("empirical"), "--data", u.data,
                                                 "--out", _existing_folder(u)], "holds no report manifest"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_faults_are_refused_before_any_work(fault, user, capsys):
    make, message = FAULTS[fault]
    argv = make(user)
    if "--out" not in argv:
        argv += ["--out", user.out()]
    before = user.snapshot()
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") or "usage" in err, err
    assert re.search(message, err), err
    assert user.snapshot() == before  # the user's files, byte for byte
    assert not Path(user.out()).exists()  # no output folder left behind


def test_real_run_on_an_exact_score_writes_the_page(user, capsys):
    """The exact empirical score of 8 points on the circle (CLAIMS.md C3): predicted and measured
    "memorizes", exit 0; the page, the JSON record, two plots and the manifest; --json prints the
    record. A second run into the same folder replaces the diagnosis and keeps a file it did not
    write."""
    out = Path(user.out())
    argv = ["--score", user.score("noise"), "--parametrization", "noise", "--data", user.data, "--population",
            "Sphere(1, 2, radius=1.0)", "--out", str(out), "--json", "--seed", "3"]
    before = user.snapshot()
    assert cli.main(argv) == cli.EXIT_OK
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    assert record["diagnosis"]["predicted"] == "memorizes" and record["diagnosis"]["measured"] == "memorizes"
    assert record["exit_status"] == 0 and record["inputs"]["seed"] == 3
    assert "predicted memorizes, measured memorizes (agree)" in captured.err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [cli.PAGE, cli.RECORD, cli.PROFILES_PNG, cli.SAMPLING_PNG, MANIFEST])
    text = (out / cli.PAGE).read_text()
    assert "**Predicted: memorizes · measured: memorizes · agree**" in text and "codimension 2 ±" in text
    assert json.loads((out / cli.RECORD).read_text()) == record
    after = user.snapshot()
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before

    (out / "README.txt").write_text("not ours")  # a file the tool did not write is never touched
    assert cli.main(["--score", user.score("population"), "--data", user.data, "--population", user.score("circle"),
                     "--out", str(out)]) == cli.EXIT_OK
    assert "predicted generalizes, measured generalizes" in capsys.readouterr().err
    assert (out / "README.txt").read_text() == "not ours"
    assert set(json.loads((out / MANIFEST).read_text())["files"]) == {cli.PAGE, cli.RECORD, cli.PROFILES_PNG,
                                                                       cli.SAMPLING_PNG}


def test_an_abstaining_diagnosis_exits_1(user, capsys):
    """A noise predictor that returns half the noise of the exact empirical score: sigma s = -Z / 2,
    explosion d / 4 (Tweedie's identity a = c broken), outside both hypotheses: the predictor
    abstains, nothing is sampled, exit status 1, and the page says why."""
    module = user.root / f"{user.module}_half.py"
    module.write_text(textwrap.dedent(f"""
        from {user.module} import noise

        def half(t, x):
            return 0.5 * noise(t, x)
    """))
    out = Path(user.out())
    assert cli.main(["--score", f"{user.module}_half:half", "--parametrization", "noise", "--data", user.data,
                     "--out", str(out)]) == cli.EXIT_NOT_AGREED
    assert "predicted inconclusive, measured inconclusive" in capsys.readouterr().err
    text = (out / cli.PAGE).read_text()
    assert "*not both decisive*" in text and "not measured" in text
    assert not (out / cli.SAMPLING_PNG).exists()


def test_sigma_model_denoiser_is_adapted(user, capsys):
    """A denoiser conditioned on the noise level (EDM-style: called with sigma(t)/alpha(t) and
    x/alpha(t)), exact for the training points: adapted by --sigma-model, it memorizes on both sides."""
    assert cli.main(["--score", user.score("sigma_denoiser"), "--sigma-model", "--parametrization", "denoiser",
                     "--data", user.data, "--out", user.out()]) == cli.EXIT_OK
    assert "predicted memorizes, measured memorizes (agree)" in capsys.readouterr().err
