"""Score networks trained by denoising score matching (CLAIMS.md C8): the learned scores C8 is about.

The loss. For a training set x_1..x_N in R^d and the process's kernel X_t = alpha(t) x_I + sigma(t) Z
(I uniform on 1..N, Z ~ N(0, I)), the network F_theta defines a noise prediction eps_theta, by one of
two output parametrizations (:class:`theory.learned.Parametrization`):

    NOISE (Ho et al. 2020):        eps_theta = F_theta,
    DENOISER (x0-prediction):      D_theta = S F_theta,  eps_theta = (x - alpha(t) D_theta) / sigma(t),

(S the data scale below), and the score is

    s_theta(t, x) = -eps_theta(t, x) / sigma(t)   (= (alpha D_theta - x) / sigma^2 for DENOISER),

trained on

    L(theta) = E_{t, I, Z} |eps_theta(t, alpha(t) x_I + sigma(t) Z) - Z|^2
             = E_{t, I, Z} lambda(t) |s_theta(t, X_t) - (-Z / sigma(t))|^2,   lambda(t) = sigma(t)^2,

the denoising score-matching loss of Vincent (2011) with the weighting lambda = sigma^2 of Ho et al.
(2020) and Song et al. (2021). log t is drawn uniformly on [log t_min, log T], so every decade of t
gets the same share of the steps (the explosion of the score near t = 0, CLAIMS.md C5, is spread over
decades). Its minimizer over all functions is the exact score of the empirical measure
(``PointCloud(train).score``): a network that minimizes the loss perfectly memorizes (CLAIMS.md C3).
The loss is the same function of eps_theta for both parametrizations; they differ in what the
network must represent near t = 0: a noise predictor must vary on the scale sigma in x (the noise
sigma Z is what it extracts); a denoiser varies on the scale of the data's geometry (D tends to the
projection on M or to the nearest training point) but must be accurate to o(sigma), since an
error delta D moves the score by alpha delta D / sigma^2.

The network. An MLP (``equinox.nn.MLP``, SiLU activations, ``depth`` hidden layers of ``width``)
maps the d + 1 + 2 FOURIER_FREQUENCIES input features

    c_in(t) x,   u,   sin(pi f u / 2), cos(pi f u / 2)   (f = 1..FOURIER_FREQUENCIES)

to F_theta, where c_in(t) = 1 / sqrt(alpha(t)^2 S^2 + sigma(t)^2) (S^2 = mean squared coordinate
of the training set, so c_in X_t has unit scale at every t, as in Karras et al. 2022) and u is
log sigma(t) mapped affinely from [log sigma(t_min), log sigma(T)] onto [-1, 1]. Outside
[t_min, T] the network extrapolates; :func:`theory.learned.diagnose` finds where it stops
following an exact score.

Optimization: Adam (optax.adam) on a warm-up + cosine learning-rate schedule, gradients clipped to
global norm GRADIENT_CLIP, float32 parameters. ``SeedSequence(seed)`` spawns two streams: one
seeds ``jax.random.key`` for the initial weights, the other NumPy's generator for all randomness of
the batches (indices, t, Z). So a seed fixes the weights: the same seed gives the same weights bit for bit on one machine (XLA's CPU
kernels are deterministic for a fixed program and shapes; another CPU may round differently).

JAX, equinox and optax are optional dependencies: they are imported inside the functions here, so
``theory.learned`` imports without them and only training or loading a model needs them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theory import _validate
from theory.learned.adapters import Parametrization
from theory.measures.base import _DEFAULT_PROCESS
from theory.processes import OU, VE, VP, ForwardProcess, check_process

INSTALL_HINT = "pip install jax equinox optax (or the package's 'learned' extra)"

# Fourier frequencies of the time embedding: 4 pairs resolve changes of the score's time
# dependence down to a quarter of the [t_min, T] range in log sigma (about one decade of t for
# the default 5 decades), which is the scale on which the empirical score changes regime.
FOURIER_FREQUENCIES = 4
# Global-norm clip of the gradients: the DSM targets Z have norm ~ sqrt(d), and the clip only
# bites in the first steps of training, where a large initial error at small t would otherwise
# give a few steps of size ~ 1/sigma.
GRADIENT_CLIP = 1.0
# Fraction of the steps spent warming the learning rate up linearly from 0 (at most 500 steps).
WARMUP_FRACTION = 0.05
# Final learning rate of the cosine schedule, as a fraction of the peak.
FINAL_LR_FRACTION = 0.01
# Training steps compiled into one XLA loop (lax.scan) whose batches are drawn in one NumPy call:
# 200 steps amortize the Python overhead (about 0.1 ms a step) while the batch arrays of a chunk
# stay below 45 MB for d = 64 and batch 256.
CHUNK_STEPS = 200
# Format tag of the saved file (first line of JSON, then equinox's serialised leaves).
FILE_FORMAT = "sgm-manifolds score model v1"

_PROCESSES = {cls.__name__: cls for cls in (OU, VP, VE)}
# Output parametrizations the trainer offers (a score output would have to carry the 1/sigma
# explosion itself, which a network cannot represent over decades of t).
_TRAINABLE = (Parametrization.NOISE, Parametrization.DENOISER)


def _require_jax():
    """Import jax, equinox and optax, or raise ImportError naming the install line."""
    try:
        import equinox
        import jax
        import optax
    except ImportError as exc:
        raise ImportError(f"training or loading a score network needs JAX, equinox and optax: {INSTALL_HINT}") from exc
    return jax, equinox, optax


@dataclass(frozen=True)
class TrainingSettings:
    """The training run of a :class:`ScoreModel` (recorded in its saved file).

    steps : Adam steps. seed : fixes the initial weights and every batch. batch_size : samples per
    step. learning_rate : peak of the warm-up + cosine schedule. t_min, T : the range of t of the
    loss (log t uniform on [t_min, T]). data_scale : S, the root mean squared coordinate of the
    training set (input scaling c_in). n_train : N. parametrization : the network's output,
    Parametrization.NOISE or Parametrization.DENOISER.
    """

    steps: int
    seed: int
    batch_size: int
    learning_rate: float
    t_min: float
    T: float
    data_scale: float
    n_train: int
    parametrization: Parametrization = Parametrization.NOISE

    def __post_init__(self) -> None:
        try:
            parametrization = Parametrization(self.parametrization)
        except ValueError:
            parametrization = None
        if parametrization not in _TRAINABLE:
            choices = ", ".join(repr(p.value) for p in _TRAINABLE)
            raise ValueError(f"parametrization must be one of {choices}, got {self.parametrization!r}")
        object.__setattr__(self, "parametrization", parametrization)
        object.__setattr__(self, "steps", _validate.integer(self.steps, "steps", minimum=1))
        object.__setattr__(self, "seed", _validate.integer(self.seed, "seed", minimum=0))
        object.__setattr__(self, "batch_size", _validate.integer(self.batch_size, "batch_size", minimum=1))
        object.__setattr__(self, "learning_rate", _validate.positive_real(self.learning_rate, "learning_rate"))
        t_min = _validate.positive_time(self.t_min, "t_min")
        T = _validate.positive_time(self.T, "T")
        if not T > t_min:
            raise ValueError(f"T must be > t_min, got t_min={t_min!r}, T={T!r}")
        object.__setattr__(self, "t_min", t_min)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "data_scale", _validate.positive_real(self.data_scale, "data_scale"))
        object.__setattr__(self, "n_train", _validate.integer(self.n_train, "n_train", minimum=1))


def _process_record(process: ForwardProcess) -> dict[str, Any]:
    return {"kind": type(process).__name__, **asdict(process)}


def _process_from_record(record: dict[str, Any]) -> ForwardProcess:
    params = dict(record)
    kind = params.pop("kind", None)
    if kind not in _PROCESSES:
        raise ValueError(f"process kind must be one of {sorted(_PROCESSES)}, got {kind!r}")
    return _PROCESSES[kind](**params)


def _features(t: np.ndarray, x: np.ndarray, process: ForwardProcess, settings: TrainingSettings) -> np.ndarray:
    """The network's inputs [c_in(t) x, u, sin(pi f u/2), cos(pi f u/2)], float32, shape (m, d + 1 + 2F).

    t : (m,) or a scalar broadcast to the m rows of x : (m, d). See the module docstring.
    """
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), (x.shape[0],))
    alpha2 = process.alpha(t) ** 2
    sigma2 = process.sigma2(t)
    c_in = 1.0 / np.sqrt(alpha2 * settings.data_scale**2 + sigma2)
    lo, hi = 0.5 * np.log(process.sigma2(np.array([settings.t_min, settings.T])))
    u = (0.5 * np.log(sigma2) - 0.5 * (lo + hi)) / (0.5 * (hi - lo))
    angles = (0.5 * np.pi) * u[:, None] * np.arange(1, FOURIER_FREQUENCIES + 1)
    return np.concatenate([c_in[:, None] * x, u[:, None], np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def _input_size(d: int) -> int:
    return d + 1 + 2 * FOURIER_FREQUENCIES


def _skeleton(d: int, width: int, depth: int):
    """An MLP of the right structure with arbitrary weights: the template equinox loads into."""
    jax, eqx, _ = _require_jax()
    return eqx.nn.MLP(_input_size(d), d, width, depth, activation=jax.nn.silu, key=jax.random.key(0))


_FORWARD = None


def _forward():
    """The jitted batched forward pass network(features) -> eps, shape (m, d) (built once)."""
    global _FORWARD
    if _FORWARD is None:
        jax, eqx, _ = _require_jax()

        @eqx.filter_jit
        def forward(network, inputs):
            return jax.vmap(network)(inputs)

        _FORWARD = forward
    return _FORWARD


@dataclass(frozen=True, eq=False)
class ScoreModel:
    """A trained noise-prediction network and the score it defines, s(t, x) = -eps_theta(t, x) / sigma(t).

    network : the equinox MLP (float32). process : the forward process of the loss. d : dimension.
    width, depth : the MLP's hidden width and number of hidden layers. settings : the training
    run. losses : (number of chunks,) the mean training loss over each chunk of CHUNK_STEPS steps.
    seconds : wall time of the training (0 for a loaded model's own process; stored in the file).
    """

    network: Any = field(repr=False)
    process: ForwardProcess
    d: int
    width: int
    depth: int
    settings: TrainingSettings
    losses: np.ndarray = field(repr=False)
    seconds: float = 0.0

    def _inputs(self, t: object, x: object) -> tuple[float, np.ndarray]:
        t = _validate.positive_time(t)
        x = _validate.points(x, self.d)
        return t, x

    def _output(self, t: float, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros_like(x)
        out = _forward()(self.network, _features(np.array(t), x, self.process, self.settings))
        return np.asarray(out, dtype=np.float64)

    def noise_prediction(self, t: float, x: np.ndarray) -> np.ndarray:
        """eps_theta(t, x) as float64 (module docstring). t > 0; x : ndarray, shape (n, d) -> (n, d)."""
        t, x = self._inputs(t, x)
        out = self._output(t, x)
        if self.settings.parametrization is Parametrization.NOISE:
            return out
        return (x - float(self.process.alpha(t)) * self.settings.data_scale * out) / math.sqrt(
            float(self.process.sigma2(t)))

    def score(self, t: float, x: np.ndarray) -> np.ndarray:
        """s_theta(t, x) = -eps_theta(t, x) / sigma(t), float64. t > 0; x : (n, d) -> (n, d).

        For DENOISER computed as (alpha D_theta - x) / sigma^2."""
        t, x = self._inputs(t, x)
        out = self._output(t, x)
        sigma2 = float(self.process.sigma2(t))
        if self.settings.parametrization is Parametrization.NOISE:
            return out / -math.sqrt(sigma2)
        return (float(self.process.alpha(t)) * self.settings.data_scale * out - x) / sigma2

    def __call__(self, t: float, x: np.ndarray) -> np.ndarray:
        """The score, so a model is a score callable for :func:`theory.reverse_sde` and ``diagnose``."""
        return self.score(t, x)

    def header(self) -> dict[str, Any]:
        """The plain-data record written before the weights by :meth:`save`."""
        return {"format": FILE_FORMAT, "d": self.d, "width": self.width, "depth": self.depth,
                "activation": "silu", "fourier_frequencies": FOURIER_FREQUENCIES,
                "process": _process_record(self.process),
                "settings": {**asdict(self.settings), "parametrization": self.settings.parametrization.value},
                "losses": [float(v) for v in self.losses], "seconds": self.seconds}

    def save(self, path: str | Path) -> None:
        """Write the model to ``path``: one line of JSON (:meth:`header`), then the weights
        (``equinox.tree_serialise_leaves``)."""
        _, eqx, _ = _require_jax()
        with open(path, "wb") as f:
            f.write((json.dumps(self.header()) + "\n").encode())
            eqx.tree_serialise_leaves(f, self.network)

    @classmethod
    def load(cls, path: str | Path) -> ScoreModel:
        """Read a model written by :meth:`save`. Raises ValueError for a file of another format."""
        _, eqx, _ = _require_jax()
        with open(path, "rb") as f:
            line = f.readline()
            try:
                header = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                header = None
            if not isinstance(header, dict) or header.get("format") != FILE_FORMAT:
                raise ValueError(f"{path} is not a score model file ({FILE_FORMAT!r} expected on its first line)")
            if header["fourier_frequencies"] != FOURIER_FREQUENCIES or header["activation"] != "silu":
                raise ValueError(f"{path} was written with a different network design: {header!r}")
            network = eqx.tree_deserialise_leaves(f, _skeleton(header["d"], header["width"], header["depth"]))
        return cls(network=network, process=_process_from_record(header["process"]), d=header["d"],
                   width=header["width"], depth=header["depth"], settings=TrainingSettings(**header["settings"]),
                   losses=np.array(header["losses"]), seconds=float(header["seconds"]))


def load_score_model(path: str | Path) -> ScoreModel:
    """Read a model written by :meth:`ScoreModel.save` (same as ``ScoreModel.load``)."""
    return ScoreModel.load(path)


def _batches(train: np.ndarray, steps: int, batch_size: int, rng: np.random.Generator, process: ForwardProcess,
             settings: TrainingSettings) -> tuple[np.ndarray, ...]:
    """(inputs, x, coefficients, targets) of ``steps`` batches, float32, shapes (steps, B, d + 1 + 2F),
    (steps, B, d), (steps, B, 2) and (steps, B, d).

    Per sample: I uniform, log t uniform on [log t_min, log T], Z ~ N(0, I); x = X_t = alpha(t) x_I +
    sigma(t) Z, the inputs its features, the coefficients (alpha(t) S, 1 / sigma(t)) turning a
    denoiser output into eps (module docstring), the target Z.
    """
    m = steps * batch_size
    index = rng.integers(0, train.shape[0], size=m)
    t = np.exp(rng.uniform(np.log(settings.t_min), np.log(settings.T), size=m))
    z = rng.standard_normal((m, train.shape[1]))
    alpha, sigma = process.alpha(t), process.sigma(t)
    xt = alpha[:, None] * train[index] + sigma[:, None] * z
    inputs = _features(t, xt, process, settings)
    coefficients = np.column_stack([alpha * settings.data_scale, 1.0 / sigma])

    def shaped(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32).reshape(steps, batch_size, -1)

    return shaped(inputs), shaped(xt), shaped(coefficients), shaped(z)


def train_score_model(train: np.ndarray, *, process: ForwardProcess = _DEFAULT_PROCESS, width: int = 256,
                      depth: int = 4, steps: int = 4000, seed: int, batch_size: int = 256,
                      learning_rate: float = 1e-3, t_min: float = 1e-5, T: float = 1.0,
                      parametrization: Parametrization | str = Parametrization.NOISE) -> ScoreModel:
    """Train s_theta = -eps_theta / sigma by denoising score matching on ``train`` (module docstring).

    train : ndarray, shape (N, d), N >= 1. process : the forward process (OU by default).
    width, depth : hidden width and number of hidden layers of the MLP. steps : Adam steps of
    ``batch_size`` samples. seed : int >= 0; the same seed gives the same weights bit for bit on
    one machine. learning_rate : peak learning rate. t_min, T : log t is uniform on [t_min, T].
    parametrization : the network's output, "noise" (eps_theta) or "denoiser" (D_theta).

    Loss: E |eps_theta(t, alpha(t) x_I + sigma(t) Z) - Z|^2 (lambda(t) = sigma(t)^2, log-uniform t).
    Returns a :class:`ScoreModel` with ``score(t, x)`` (NumPy float64 in and out).
    """
    train = np.asarray(train)
    if train.ndim != 2 or train.shape[0] < 1 or train.shape[1] < 1:
        raise ValueError(f"train must have shape (N, d) with N >= 1, d >= 1, got {train.shape}")
    train = _validate.points(train, train.shape[1], name="train")
    process = check_process(process)
    width = _validate.integer(width, "width", minimum=1)
    depth = _validate.integer(depth, "depth", minimum=1)
    data_scale = float(np.sqrt(np.mean(train**2)))
    if not data_scale > 0:
        raise ValueError("train must not be all zeros (the input scaling divides by its RMS coordinate)")
    settings = TrainingSettings(steps=steps, seed=seed, batch_size=batch_size, learning_rate=learning_rate,
                                t_min=t_min, T=T, data_scale=data_scale, n_train=train.shape[0],
                                parametrization=parametrization)
    jax, eqx, optax = _require_jax()
    start = time.perf_counter()
    d = train.shape[1]
    init_seq, batch_seq = np.random.SeedSequence(settings.seed).spawn(2)
    network = eqx.nn.MLP(_input_size(d), d, width, depth, activation=jax.nn.silu,
                         key=jax.random.key(int(init_seq.generate_state(1)[0])))
    warmup = min(500, int(WARMUP_FRACTION * settings.steps))
    schedule = optax.warmup_cosine_decay_schedule(0.0, settings.learning_rate, warmup, settings.steps,
                                                  end_value=FINAL_LR_FRACTION * settings.learning_rate)
    optimizer = optax.chain(optax.clip_by_global_norm(GRADIENT_CLIP), optax.adam(schedule))
    params, static = eqx.partition(network, eqx.is_inexact_array)
    opt_state = optimizer.init(params)

    denoiser = settings.parametrization is Parametrization.DENOISER

    def loss_fn(params, inputs, x, coefficients, targets):
        out = jax.vmap(eqx.combine(params, static))(inputs)
        if denoiser:  # eps = (x - alpha S out) / sigma, the difference first (it is ~ sigma Z)
            out = (x - coefficients[:, :1] * out) * coefficients[:, 1:]
        return jax.numpy.mean(jax.numpy.sum((out - targets) ** 2, axis=1))

    @jax.jit
    def run_chunk(params, opt_state, inputs, x, coefficients, targets):
        def step(carry, batch):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, *batch)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (inputs, x, coefficients, targets))
        return params, opt_state, losses.mean()

    rng = np.random.default_rng(batch_seq)
    chunk_losses = []
    done = 0
    while done < settings.steps:
        m = min(CHUNK_STEPS, settings.steps - done)
        params, opt_state, loss = run_chunk(params, opt_state, *_batches(train, m, settings.batch_size, rng, process,
                                                                         settings))
        chunk_losses.append(float(loss))
        done += m
    network = eqx.combine(params, static)
    return ScoreModel(network=network, process=process, d=d, width=width, depth=depth, settings=settings,
                      losses=np.array(chunk_losses), seconds=time.perf_counter() - start)
