"""Linear regression refit on its own labels (Gerstgrasser et al. 2024, "Is model collapse inevitable?").

Setting (their section 3): d features, n rows per generation, inputs x ~ N(0, I_d), labels
y = x^T w + sigma e with e ~ N(0, 1). One design X (n, d) per chain is drawn once; each generation
relabels it with the previous fit plus fresh noise, y_t = X w_{t-1} + sigma e_t, and refits by (ridge)
least squares. Generation 0 is the truth w*, so generation 1 fits real labels. Under the ``accumulate``
policy the engine's buffer holds every (X, y_i) pair so far, the same X relabelled each time, and the
fit pools them: exactly their accumulate setting, w_t = (t X^T X)^-1 X^T (y_1 + ... + y_t).

Data pytree: ``{"x": (n, d), "y": (n,)}``. Model pytree: ``{"w": (d,)}`` plus, for the fixed design,
``"x": (n, d)``, the chain's design carried unchanged from generation to generation (the fit keeps the
previous model's). With ``design="fresh"`` every generation draws a new X (the model is ``{"w"}``).

Parameters (sweepable): ``w`` (d,) the truth w*, ``noise`` sigma, ``ridge`` lambda >= 0. The fit solves
(X^T W X + lambda I) w = X^T W y through one eigendecomposition whose eigenvalues within float32 rounding
of zero are dropped (a pseudo-inverse), so a rank-deficient buffer (n <= d, or a subsample of repeated
rows) gives a finite minimum-norm fit rather than NaN.

Metrics: ``test_error`` ||w_t - w*||^2, the excess test error E_x (x^T w_t - x^T w*)^2 for x ~ N(0, I);
``risk`` sigma^2 + test_error, the test mean squared error on fresh labelled data; ``weight_norm2``
||w_t||^2.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import Family
from collapsim.errors import ConfigError
from collapsim.families.entry import Entry, Loop, Option, alpha_title, buffer_factor

DESIGNS = ("fixed", "fresh")


def make_params(w, noise: float = 1.0, ridge: float = 0.0) -> dict:
    """Parameter pytree: truth w* (d,), noise sd sigma, ridge penalty lambda."""
    w = np.asarray(w, np.float64).reshape(-1)
    if not np.all(np.isfinite(w)):
        raise ConfigError("the true weights must be finite")
    if not (np.isfinite(noise) and noise >= 0):
        raise ConfigError(f"--noise must be a finite number >= 0, got {noise}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ConfigError(f"--ridge must be a finite number >= 0, got {ridge}")
    return {"w": jnp.asarray(w, jnp.float32), "noise": jnp.float32(noise), "ridge": jnp.float32(ridge)}


def default_params(dim: int, noise: float = 1.0, ridge: float = 0.0, weight_norm: float = 1.0) -> dict:
    """w* = weight_norm * (1, ..., 1) / sqrt(d): ||w*|| = weight_norm (the test error does not depend on
    w* without ridge; with ridge only ||w*|| matters, by rotation invariance of the design)."""
    return make_params(np.full(dim, weight_norm / np.sqrt(dim)), noise, ridge)


def validate(dim: int, samples: int, design: str) -> None:
    if dim < 1:
        raise ConfigError(f"--dim must be at least 1, got {dim}")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if design not in DESIGNS:
        raise ConfigError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")


@lru_cache(maxsize=None)
def regression(dim: int, samples: int, design: str = "fixed") -> Family:
    """The regression family for static d, design rows n and design mode (cached: one object each).

    ``samples`` is the design's row count, the engine's n: the fixed design is drawn by ``init``, which
    must know its shape.
    """
    validate(dim, samples, design)
    fixed = design == "fixed"

    def label(key, x, w, params):
        return x @ w + params["noise"] * jax.random.normal(key, x.shape[:1])

    def init(key, params):
        model = {"w": params["w"]}
        if fixed:
            model["x"] = jax.random.normal(key, (samples, dim))
        return model

    def sample_real(key, params, n):
        kx, ke = jax.random.split(key)
        x = jax.random.normal(kx, (n, dim))
        return {"x": x, "y": label(ke, x, params["w"], params)}

    def sample(key, model, n, params):
        if fixed:
            if n != samples:
                raise ValueError(f"the fixed design has {samples} rows, asked for {n}")
            return {"x": model["x"], "y": label(key, model["x"], model["w"], params)}
        kx, ke = jax.random.split(key)
        x = jax.random.normal(kx, (n, dim))
        return {"x": x, "y": label(ke, x, model["w"], params)}

    def fit(key, previous, data, weight, params):
        x, y = data["x"], data["y"]
        xw = x if weight is None else x * weight[:, None]
        gram = jnp.einsum("ni,nj->ij", xw, x) + params["ridge"] * jnp.eye(dim)
        evals, evecs = jnp.linalg.eigh(gram)
        tol = dim * jnp.finfo(gram.dtype).eps * jnp.max(jnp.abs(evals))
        inv = jnp.where(evals > tol, 1.0 / jnp.where(evals > tol, evals, 1.0), 0.0)
        w = evecs @ (inv * (evecs.T @ (xw.T @ y)))
        return {**previous, "w": w}

    def metrics(key, model, params):
        err = model["w"] - params["w"]
        test_error = err @ err
        return {"test_error": test_error, "risk": params["noise"] ** 2 + test_error, "weight_norm2": model["w"] @ model["w"]}

    def supports(policy, method, n):
        return method == "explicit" and (not fixed or n == samples)

    return Family("regression", init, sample_real, sample, fit, metrics, supports, lapack=True)


# The theory adapter: the run spec's numbers into the plain functions of collapsim.theory.
def predict(spec, loop=None):
    """:class:`~collapsim.theory.Prediction` for a regression run spec (exact curves where they exist)."""
    from collapsim.theory import Prediction
    from collapsim.theory.regression import accumulate_test_error, mix_test_error, replace_test_error, ridge_test_error

    o, p = spec.family_options, spec.params
    d, n, T = int(o["dim"]), spec.samples, spec.generations
    s2 = float(p["noise"]) ** 2
    ridge = float(p["ridge"])
    fixed = o["design"] == "fixed"
    if n <= d + 1:
        return Prediction({}, {}, f"no theory: the inverse-Wishart mean needs n > d + 1 (n = {n}, d = {d})")
    curves, approx, note = {}, {}, ""
    if ridge > 0:
        if spec.policy == "replace" and fixed:
            wn2 = float(o["weight_norm"]) ** 2
            approx["test_error"] = {"eq. R4, spectrum averaged by host Monte Carlo": ridge_test_error(T, d, n, ridge, wn2, s2)}
        note = "no exact theory with ridge > 0 (the expectation over the design's spectrum has no closed form)"
    elif spec.policy == "replace":
        curves["test_error"] = replace_test_error(T, d, n, s2)
    elif spec.policy == "accumulate":
        if fixed:
            curves["test_error"] = accumulate_test_error(T, d, n, s2)
        else:
            approx["test_error"] = {"fixed-design formula (eq. R2)": accumulate_test_error(T, d, n, s2)}
            note = "no exact theory for accumulate with a fresh design"
    elif spec.policy == "mix":
        approx["test_error"] = {"eq. R3 recursion, c(alpha) by host Monte Carlo": mix_test_error(spec.alpha_schedule(), d, n, s2)}
        note = "mix: recursion R3 with its constant by Monte Carlo (approximation)"
    else:
        note = f"no exact theory for policy {spec.policy!r}"
    if "test_error" in curves:  # least squares is unbiased given the past: E u_t = 0, no cross term
        curves["risk"] = s2 + curves["test_error"]
        curves["weight_norm2"] = float(o["weight_norm"]) ** 2 + curves["test_error"]
    return Prediction(curves, approx, note)


# ---------------------------------------------------------------------------------------------------- entry

def _regression_build(spec) -> Loop:

    o, p = spec.family_options, spec.params
    validate(o["dim"], spec.samples, o["design"])
    if spec.method == "shortcut":
        raise ConfigError("the regression family has no sufficient-statistics shortcut; use --method explicit")
    wn = float(o["weight_norm"])
    if not (wn >= 0 and wn != float("inf")):
        raise ConfigError(f"--weight-norm must be a finite number >= 0, got {wn}")
    params = default_params(o["dim"], float(p["noise"]), float(p["ridge"]), wn)
    family = regression(o["dim"], spec.samples, o["design"])
    return Loop(family, params, False, {"truth": f"y = x^T w* + {p['noise']:g} e, x ~ N(0, I_{o['dim']}), ||w*|| = {wn:g}"})


def _regression_title(spec) -> str:
    o, p = spec.family_options, spec.params
    ridge = f", ridge={p['ridge']:g}" if p["ridge"] else ""
    return (f"regression d={o['dim']}, n={spec.samples}, {o['design']} design, sigma={p['noise']:g}{ridge}, {spec.policy}"
            + alpha_title(spec) + f", {spec.seeds} chains")


ENTRY = Entry(
    "regression", "Least squares refit on labels from its previous fit (Gerstgrasser et al. 2024): replace vs accumulate.",
    {"generations": 20, "samples": 100, "seeds": 2000},
    (
        Option("dim", int, 10, "Number of features d.", low=1),
        Option("design", str, "fixed", "fixed: one design X per chain, relabelled each generation; fresh: a new X each generation.",
               choices=("fixed", "fresh")),
        Option("weight_norm", float, 1.0, "||w*|| of the truth (matters only with --ridge).", low=0),
        Option("noise", float, 1.0, "Label noise sd sigma.", target="params", low=0),
        Option("ridge", float, 0.0, "Ridge penalty lambda (0: ordinary least squares).", target="params", low=0),
    ),
    _regression_build, predict, _regression_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["dim"] ** 2 * buffer_factor(spec),
    # The model: w and the fixed design X (n, d); the fit's Gram matrix X^T X and its eigenvectors are d x d
    # each (eigh's workspace is of that order too): --dim 50,000 is 10 GB a matrix, per chain.
    lambda spec: (float(spec.family_options["dim"]) * (spec.samples + 1) + float(spec.family_options["dim"]) ** 2 * 2,
                  float(spec.family_options["dim"]) + 1),
    sweep_metric="test_error",
    smallest=({"samples": 1, "dim": 3}, {"samples": 1, "dim": 3, "design": "fresh", "ridge": 0.5}),
)
