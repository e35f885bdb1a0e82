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
