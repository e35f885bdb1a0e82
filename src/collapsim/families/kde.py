"""Kernel density estimate refit on its own samples: Gaussian kernel, fixed bandwidth h.

The model is its support points and h: p(x) = sum_i w_i N(x; x_i, h^2 I) / sum_i w_i, model size m x d
(m = n rows, or the accumulate buffer's T n rows with 0/1 weights; see ``widen``). Fitting is storing the
data; sampling picks a support point (uniformly, or by weight) and adds h times a standard normal. Where the
refit Gaussian loses variance each generation, the KDE adds h^2 of kernel variance to each generation's data
and diffuses (theory/kde.py).

Truths (static ``truth``): ``gaussian`` N(0, scale^2 I_d); ``blobs`` (d = 2) three equal isotropic blobs of sd
``blob_sd`` centred on a circle of radius ``scale``; ``moons`` (d = 2) scikit-learn's two interleaved half
circles (theta ~ U(0, pi): (cos theta, sin theta) and (1 - cos theta, 1/2 - sin theta), each with prob 1/2)
scaled by ``scale`` plus N(0, noise^2 I). Their exact mean and trace of covariance are in ``truth_moments``.

Parameters (sweepable): ``bandwidth`` h, ``scale``, ``noise`` (moons) / ``blob_sd`` (blobs), and the truth's
``mean0`` (d,) and ``tr0`` (its moments, for the metrics).

Metrics: ``variance``  the model's mean per-coordinate variance, tr(S) / d + h^2 with S the weighted scatter of
the support points divided by their count; ``mean_sq_drift`` ||m_t - mu_0||^2 of the model's mean;
``support_spread`` tr(S) / d alone (the support points' own variance, without the kernel).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import Family
from collapsim.errors import ConfigError

TRUTHS = ("gaussian", "blobs", "moons")
_BLOB_ANGLES = 2 * np.pi * np.arange(3) / 3


def truth_moments(truth: str, dim: int, scale: float, spread: float) -> tuple[np.ndarray, float]:
    """(mean (d,), tr Cov) of the truth, exactly. ``spread``: blob sd (blobs) or noise sd (moons).

    moons: with E cos = 0, E sin = 2/pi, E cos^2 = E sin^2 = 1/2 over theta ~ U(0, pi), the upper moon has
    mean (0, 2/pi) and E||x||^2 = 1, the lower mean (1, 1/2 - 2/pi) and E||x||^2 = 9/4 - 2/pi.
    """
    if truth == "gaussian":
        return np.zeros(dim), dim * scale**2
    if truth == "blobs":
        centres = scale * np.stack([np.cos(_BLOB_ANGLES), np.sin(_BLOB_ANGLES)], axis=1)
        mean = centres.mean(0)
        return mean, float(((centres - mean) ** 2).sum(1).mean() + 2 * spread**2)
    mean = scale * np.array([0.5, 0.25])
    second = scale**2 * 0.5 * (1.0 + 9.0 / 4.0 - 2.0 / np.pi)
    return mean, float(second - mean @ mean + 2 * spread**2)


def make_params(truth: str, dim: int, bandwidth: float, scale: float = 1.0, spread: float = 0.1) -> dict:
    validate(truth, dim, bandwidth, scale, spread)
    mean0, tr0 = truth_moments(truth, dim, scale, spread)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return {"bandwidth": f32(bandwidth), "scale": f32(scale), "spread": f32(spread), "mean0": f32(mean0), "tr0": f32(tr0)}


def validate(truth: str, dim: int, bandwidth: float, scale: float = 1.0, spread: float = 0.1) -> None:
    if truth not in TRUTHS:
        raise ConfigError(f"--truth must be one of {', '.join(TRUTHS)}, got {truth!r}")
    if dim < 1:
        raise ConfigError(f"--dim must be at least 1, got {dim}")
    if truth != "gaussian" and dim != 2:
        raise ConfigError(f"the {truth} truth is two-dimensional: use --dim 2 (got {dim})")
    for name, v in (("bandwidth", bandwidth), ("scale", scale), ("spread", spread)):
        if not (np.isfinite(v) and v >= 0):
            raise ConfigError(f"--{name} must be a finite number >= 0, got {v}")


@lru_cache(maxsize=None)
def kde(dim: int, samples: int, truth: str = "gaussian") -> Family:
    """The KDE family for static d, n support points and truth kind (cached)."""
    validate(truth, dim, 0.0)

    def sample_real(key, params, n):
        kz, kc, kt = jax.random.split(key, 3)
        z = jax.random.normal(kz, (n, dim))
        if truth == "gaussian":
            return params["scale"] * z
        if truth == "blobs":
            c = jax.random.randint(kc, (n,), 0, 3)
            ang = jnp.asarray(_BLOB_ANGLES, jnp.float32)[c]
            return params["scale"] * jnp.stack([jnp.cos(ang), jnp.sin(ang)], 1) + params["spread"] * z
        theta = jnp.pi * jax.random.uniform(kt, (n,))
        lower = jax.random.bernoulli(kc, 0.5, (n,))
        x = jnp.where(lower, 1.0 - jnp.cos(theta), jnp.cos(theta))
        y = jnp.where(lower, 0.5 - jnp.sin(theta), jnp.sin(theta))
        return params["scale"] * jnp.stack([x, y], 1) + params["spread"] * z

    def init(key, params):  # generation 0: the KDE of n real points
        return {"points": sample_real(key, params, samples), "weight": jnp.ones((samples,), jnp.float32)}

    def widen(model, rows):  # same law: extra rows of weight zero
        pad = rows - model["weight"].shape[0]
        return {"points": jnp.pad(model["points"], ((0, pad), (0, 0))), "weight": jnp.pad(model["weight"], (0, pad))}

    def sample(key, model, n, params):
        kp, kz = jax.random.split(key)
        m = model["weight"].shape[0]
        if m == samples:  # every policy but accumulate: n support points of weight one
            idx = jax.random.randint(kp, (n,), 0, m)
        else:  # the buffer: inverse CDF of the 0/1 weights, O(n log m)
            cdf = jnp.cumsum(model["weight"])
            idx = jnp.searchsorted(cdf, jax.random.uniform(kp, (n,)) * cdf[-1], side="right")
            idx = jnp.minimum(idx, m - 1)
        return model["points"][idx] + params["bandwidth"] * jax.random.normal(kz, (n, dim))

    def fit(key, previous, data, weight, params):
        w = jnp.ones((data.shape[0],), jnp.float32) if weight is None else weight
        return {"points": data, "weight": w}

    def metrics(key, model, params):
        w = model["weight"]
        count = jnp.maximum(w.sum(), 1.0)
        mean = (w[:, None] * model["points"]).sum(0) / count
        xc = model["points"] - mean
        spread = (w[:, None] * xc * xc).sum() / count / dim
        drift = mean - params["mean0"]
        return {"variance": spread + params["bandwidth"] ** 2, "mean_sq_drift": drift @ drift, "support_spread": spread}

    def supports(policy, method, n):
        return method == "explicit" and n == samples  # init draws the n support points

    return Family("kde", init, sample_real, sample, fit, metrics, supports, widen=widen)
