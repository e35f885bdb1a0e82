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
from collapsim.families.entry import Entry, Loop, Option, alpha_title, buffer_factor

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


# The theory adapter: the run spec's numbers into the plain functions of collapsim.theory.
def predict(spec, loop=None):
    """:class:`~collapsim.theory.Prediction` for a KDE run spec: exact for replace and mix (any truth)."""
    from collapsim.theory import Prediction, none_for
    from collapsim.theory.kde import moments

    o, p = spec.family_options, spec.params
    if spec.policy not in ("replace", "mix"):
        return none_for(spec.policy)
    _, tr0 = truth_moments(o["truth"], int(o["dim"]), float(o["scale"]), float(o["spread"]))
    drift, var = moments(spec.alpha_schedule(), spec.samples, int(o["dim"]), float(p["bandwidth"]), tr0)
    return Prediction({"variance": var, "mean_sq_drift": drift, "support_spread": var - float(p["bandwidth"]) ** 2}, {})


# ---------------------------------------------------------------------------------------------------- entry

def _kde_build(spec) -> Loop:

    o, p = spec.family_options, spec.params
    if spec.method == "shortcut":
        raise ConfigError("the kde family has no sufficient-statistics shortcut; use --method explicit")
    params = make_params(o["truth"], o["dim"], float(p["bandwidth"]), float(o["scale"]), float(o["spread"]))
    mean0, tr0 = truth_moments(o["truth"], o["dim"], float(o["scale"]), float(o["spread"]))
    return Loop(kde(o["dim"], spec.samples, o["truth"]), params, False,
                {"truth": f"{o['truth']} (d={o['dim']}, scale {o['scale']:g}, spread {o['spread']:g}); mean {mean0.tolist()}, tr Cov {tr0:.6g}"})


def _kde_title(spec) -> str:
    o = spec.family_options
    return (f"kde {o['truth']} d={o['dim']}, h={spec.params['bandwidth']:g}, n={spec.samples}, {spec.policy}"
            + alpha_title(spec) + f", {spec.seeds} chains")


ENTRY = Entry(
    "kde", "Refit a Gaussian kernel density estimate (fixed bandwidth) on its own samples: variance diffuses upward.",
    {"generations": 100, "samples": 50, "seeds": 2000},
    (
        Option("dim", int, 1, "Dimension d (blobs and moons: 2).", low=1),
        Option("truth", str, "gaussian", "The real data: N(0, scale^2 I), three blobs, or two moons.",
               choices=("gaussian", "blobs", "moons")),
        Option("scale", float, 1.0, "Truth scale: the Gaussian's sd, the blobs' circle radius, the moons' size.", low=0),
        Option("spread", float, 0.1, "Blob sd (blobs) or added noise sd (moons).", low=0),
        Option("bandwidth", float, 0.2, "Kernel bandwidth h.", target="params", low=0),
    ),
    _kde_build, predict, _kde_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["dim"] * buffer_factor(spec),
    lambda spec: (float(spec.samples) * (spec.family_options["dim"] + 1)
                  * (spec.generations if spec.policy == "accumulate" else 1), float(spec.family_options["dim"])),
    sweep_metric="variance",
    smallest=({"samples": 1}, {"samples": 1, "dim": 2, "truth": "moons", "bandwidth": 0.1},
              {"samples": 1, "dim": 2, "truth": "blobs", "bandwidth": 0.3}),
)
