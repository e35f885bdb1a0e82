"""The categorical theory against a language model: Wright-Fisher drift of the unigram law, with one fitted
parameter, the effective sample size n_eff.

A GPT-2 fine-tuned on n generated texts does not refit its unigram law to the exact word counts, as the
categorical family does: it learns them partially (a few epochs from the previous weights), smooths across
contexts, and carries the previous generation's law along. The simplest theory that can still be wrong is
that the net effect on the unigram law p_t (K words) is Wright-Fisher resampling with an unknown population:

    p_t ~ Multinomial(n_eff, x_t) / n_eff,   x_t = a_t u + (1 - a_t) p_{t-1},   p_0 = q            (eq. L1)

with q the base model's unigram law, u the source's true law (fresh real data under ``mix`` with share a_t;
a_t = 0 under ``replace``), n_eff the only free parameter (in word tokens). Exact consequences for every
n_eff (the multinomial moments, as eqs. C3-C4 of :mod:`collapsim.theory.categorical`, per word):

    E p'_i = a u_i + (1 - a) E p_i,
    E p'_i^2 = (1 - 1/n_eff) E x_i^2 + E x_i / n_eff,
    E x_i^2 = a^2 u_i^2 + 2 a (1 - a) u_i E p_i + (1 - a)^2 E p_i^2,                                 (eq. L2)

so E[Gini-Simpson] = 1 - sum_i E p_i^2 is exact under (L1). A noise relative to each word's probability (measured
on GPT-2: eq. C5 of :mod:`collapsim.theory.calibration`) adds c x_i^2 to each word's variance given x,
Var(p'_i | x) = x_i (1 - x_i) / n_eff + c x_i^2 with E p'_i = x_i, and the recursion stays closed:

    E p'_i^2 = (1 - 1/n_eff + c) E x_i^2 + E x_i / n_eff                                              (eq. L2m)

(the mean law sums to 1 exactly; a single draw does not, by O(sqrt(c sum x^2)), as with per-word n_eff). Entropy, support and tail mass need the whole
law of p_t; for them each word's p_i is given the Beta law with the exact mean and variance of (L2)
(the small-noise law: the diffusion limit of Wright-Fisher with immigration has Beta marginals, Kimura 1955;
under pure replacement it misses the atoms at 0 and 1 and so is an approximation, labelled as such):

    E[-p log p] = -m (psi(alpha + 1) - psi(alpha + beta + 1)),                                          (eq. L3)
    E[(1 - p)^N] = B(alpha, beta + N) / B(alpha, beta),  alpha = m nu, beta = (1 - m) nu,
    nu = m (1 - m) / v - 1,                                                                              (eq. L4)

where N is the number of generated words the metrics count (support = distinct words among them, assumed
i.i.d. from p: E support = sum_i 1 - E(1 - p_i)^N; tail mass = sum_i u_i E(1 - p_i)^N).

A decoded loop (texts sampled at temperature tau < 1 or with top-k) also moves the law deterministically:
every generation's model learns texts that its predecessor's decoding sharpened. Its exact form for the
known source's chain and an ideal learner is :mod:`collapsim.theory.decoded_chain` (eqs. D1-D3), which
gives per-word factors r_t = d_t / (a_t u + (1 - a_t) d_{t-1}). The decoded theory composes them with the
Wright-Fisher draw, still with n_eff the only free parameter:

    p_t = r_t w_t / c_t,   w_t ~ Multinomial(n_eff, x_t) / n_eff,   c_t = sum_i r_t,i E w_t,i       (eq. L5)

With q = d_0 and n_eff -> infinity the mean law is exactly the ideal learner's d_t; the noise's passage
through the map is linearised (a per-word factor fixed by the mean trajectory), an approximation.

The fit: n_eff minimises, over the first F generations only, the squared differences between the measured
changes from generation 0 (mean over seeds) of unigram entropy, Gini-Simpson and support and the predicted
changes, each metric scaled by its measured change at generation F (so each counts alike); a grid of log-spaced n_eff refined by a golden
section search. With at least BOOTSTRAP_SEEDS seeds the interval resamples the seeds (percentile bootstrap
of the mean-curve fit); with fewer, a bootstrap over 2-4 seeds only returns the per-seed fits again (a 2-seed
run gave [5,955, 1e8]), so the report gives the per-seed range and calls it that. Each seed's own fit is
recorded too. The later generations are held out: the prediction error there is what the comparison reports.
The fitted curves are in-sample on generations 1..F: they are a diagnostic, never an exact theory.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln, psi

#: The metrics the theory predicts, and the two it is fitted on.
PREDICTED = ("unigram_entropy", "gini_simpson", "support", "tail_mass")
FITTED_ON = ("unigram_entropy", "gini_simpson", "support")
N_EFF_RANGE = (2.0, 1e8)
#: Fewer seeds than this: no bootstrap interval, the per-seed range instead.
BOOTSTRAP_SEEDS = 8


def moments(q, u, n_eff: float, alpha, factors=None, per_word: bool = False,
            mult=0.0) -> tuple[np.ndarray, np.ndarray]:
    """E p_i and E p_i^2 of eq. (L2): two arrays (T + 1, K), or (T + 1, G, K) for G values of n_eff at
    once; q, u (K,); alpha (T,). n_eff may be inf (no binomial part).

    mult: c of the relative noise (eq. L2m), a float or (G,) beside G values of n_eff (not per word): each
    word's draw given the training law x has Var(p'_i | x) = x_i (1 - x_i) / n_eff + c x_i^2 and mean x_i,
    so E p'_i^2 = (1 - 1/n_eff + c) E x_i^2 + E x_i / n_eff. The draws need not sum to 1 draw by draw; the
    mean law does, exactly (E p'_i = E x_i).

    per_word: n_eff is (K,) (or (G, K)), word i drawn with its own n_eff_i (eq. L2 holds word by word, so
    only each word's variance changes: the per-band calibration, eq. C4 of
    :mod:`collapsim.theory.calibration`). The draw is then no longer one multinomial (the words' laws need
    not sum to 1 draw by draw); the mean law still does.

    factors (T, K), optional: a decoded loop (eq. L5): each generation's Wright-Fisher draw w is reweighted
    word by word, p_t = r_t w / c_t, with c_t = sum_i r_t,i E w_i so that the mean law sums to 1. Then
    E p_t = r_t E w / c_t and E p_t^2 = r_t^2 E w^2 / c_t^2 (exact for a fixed normaliser; the normaliser of
    each draw fluctuates by O(1/sqrt(n_eff)) around c_t, which this neglects).
    """
    q, u, alpha = np.asarray(q, np.float64), np.asarray(u, np.float64), np.asarray(alpha, np.float64)
    T = alpha.size
    r = None if factors is None else np.asarray(factors, np.float64).reshape(T, -1)
    n_eff = np.asarray(n_eff, np.float64)
    mult = np.asarray(mult, np.float64)
    if not per_word:
        n_eff = n_eff[..., None]  # a scalar, or (G,) values at once -> (T + 1, G, K)
        mult = mult[..., None]
    elif n_eff.shape[-1] != q.size:
        raise ValueError(f"a per-word n_eff needs {q.size} words on its last axis, got shape {n_eff.shape}")
    shape = (T + 1,) + n_eff.shape[:-1] + (q.size,)
    m, s = np.empty(shape), np.empty(shape)
    m[0], s[0] = q, q * q
    keep = 1.0 - 1.0 / n_eff + mult  # the relative part c x^2 adds to the kept E x^2 (eq. L2m)
    for t, a in enumerate(alpha, start=1):
        x = a * u + (1 - a) * m[t - 1]
        x2 = a * a * u * u + 2 * a * (1 - a) * u * m[t - 1] + (1 - a) ** 2 * s[t - 1]
        m[t], s[t] = x, keep * x2 + x / n_eff
        if r is not None:
            c = np.sum(r[t - 1] * m[t], axis=-1, keepdims=True)
            m[t], s[t] = r[t - 1] * m[t] / c, r[t - 1] ** 2 * s[t] / (c * c)
    return m, s


def _beta(m, s):
    """(alpha, beta, point) of the moment-matched Beta laws; ``point`` marks words with no spread."""
    v = np.maximum(s - m * m, 0.0)
    point = v <= 1e-14 * np.maximum(m * (1 - m), 1e-300)
    nu = np.where(point, 1.0, m * (1 - m) / np.where(point, 1.0, v) - 1.0)
    nu = np.maximum(nu, 1e-9)  # variance at its bound m (1 - m): the law sits at 0 and 1
    mm = np.clip(m, 1e-300, 1.0)
    return mm * nu, np.maximum((1 - mm) * nu, 1e-300), point


def curves(q, u, n_eff: float, alpha, n_words: int, factors=None, per_word: bool = False, mult=0.0) -> dict:
    """Predicted expected unigram_entropy, gini_simpson, support, tail_mass, each (T + 1,) (eqs. L2-L4);
    (T + 1, G) for an array of G values of n_eff (per_word, mult: see :func:`moments`)."""
    q, u = np.asarray(q, np.float64), np.asarray(u, np.float64)
    m, s = moments(q, u, n_eff, alpha, factors, per_word, mult)
    a, b, point = _beta(m, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent_beta = -m * (psi(a + 1) - psi(a + b + 1))
        ent_point = -np.where(m > 0, m * np.log(np.where(m > 0, m, 1.0)), 0.0)
        miss_beta = np.exp(gammaln(b + n_words) + gammaln(a + b) - gammaln(b) - gammaln(a + b + n_words))
        miss_point = (1 - m) ** n_words
    ent = np.where(point, ent_point, ent_beta)
    miss = np.where(point, miss_point, miss_beta)
    return {
        "unigram_entropy": ent.sum(-1),
        "gini_simpson": 1.0 - s.sum(-1),
        "support": (1 - miss).sum(-1),
        "tail_mass": (u * miss).sum(-1),
    }


def _loss(n_eff, obs: dict, q, u, alpha, n_words, F: int, scale: dict, factors=None):
    """The fit's objective at one n_eff (a float) or at each of an array (G,) of them."""
    th = curves(q, u, n_eff, alpha[:F], n_words, None if factors is None else np.asarray(factors)[:F])
    total = 0.0
    for name in FITTED_ON:
        d_obs = obs[name][1:F + 1] - obs[name][0]
        d_th = th[name][1:F + 1] - th[name][0]
        d_obs = d_obs.reshape(d_obs.shape + (1,) * (d_th.ndim - 1))
        total = total + np.sum(((d_obs - d_th) / scale[name]) ** 2, axis=0)
    return total


def fit_n_eff(obs: dict, q, u, alpha, n_words: int, F: int, scale: dict | None = None, factors=None) -> float:
    """The n_eff of eq. (L1) that best predicts the first F generations' changes of the FITTED_ON metrics.

    obs: metric -> (T + 1,) observed curve (one seed or the mean over seeds). Returns a float in N_EFF_RANGE
    (an end of the range means the data do not pin it down there: no drift at all, or total collapse).
    """
    alpha = np.asarray(alpha, np.float64)
    if scale is None:
        scale = {k: max(abs(obs[k][F] - obs[k][0]), 1e-9) for k in FITTED_ON}
    logs = np.linspace(math.log(N_EFF_RANGE[0]), math.log(N_EFF_RANGE[1]), 241)
    i = int(np.argmin(_loss(np.exp(logs), obs, q, u, alpha, n_words, F, scale, factors)))
    lo, hi = logs[max(i - 1, 0)], logs[min(i + 1, logs.size - 1)]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(25):  # golden section on log n_eff inside the bracketing grid cells
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
        if (_loss(math.exp(c), obs, q, u, alpha, n_words, F, scale, factors)
                < _loss(math.exp(d), obs, q, u, alpha, n_words, F, scale, factors)):
            hi = d
        else:
            lo = c
    return float(math.exp((lo + hi) / 2))


class FitReport(NamedTuple):
    n_eff: float  # fitted on the mean over seeds
    per_seed: list
    interval: list  # [lo, hi]: a 95% percentile bootstrap over seeds (>= BOOTSTRAP_SEEDS), else the per-seed range
    fit_generations: int  # F
    curves: dict  # metric -> (T + 1,) predicted, anchored at the measured generation 0
    heldout_error: dict  # metric -> {"mean_abs": float, "max_abs_z": float} over generations F+1..T

    @property
    def at_bound(self) -> bool:
        """True when the fit ran to an end of N_EFF_RANGE: the fitted generations do not pin n_eff down."""
        return self.n_eff > N_EFF_RANGE[1] / 2 or self.n_eff < 2 * N_EFF_RANGE[0]

    @property
    def bootstrapped(self) -> bool:
        """True when ``interval`` is a bootstrap interval (enough seeds), False when it is the per-seed range."""
        return len(self.per_seed) >= BOOTSTRAP_SEEDS

    def interval_text(self) -> str:
        lo, hi = self.interval
        return (f"95% bootstrap over seeds {lo:.3g}-{hi:.3g}" if self.bootstrapped
                else f"per-seed range {lo:.3g}-{hi:.3g} over {len(self.per_seed)} seeds, not a 95% interval")

    def to_config(self) -> dict:
        interval = "n_eff_interval95" if self.bootstrapped else "n_eff_per_seed_range"
        return {"kind": "fitted: a diagnostic, in-sample on fit_generations", "n_eff": self.n_eff,
                "n_eff_at_range_end": self.at_bound, "n_eff_per_seed": self.per_seed, interval: self.interval,
                "fit_generations": list(range(1, self.fit_generations + 1)), "fitted_on": list(FITTED_ON),
                "heldout_error": self.heldout_error}


def fit_and_predict(per_chain: dict, q, u, alpha, n_words: int, fit_generations: int | None = None,
                    bootstrap: int = 100, factors=None) -> FitReport:
    """Fit n_eff (mean over seeds and each seed), predict every PREDICTED metric, score the held-out part.

    per_chain: metric -> (seeds, T + 1) measured values. The predicted curves are shifted by the measured
    generation-0 mean minus the predicted generation-0 value (q is itself estimated from a finite sample).
    """
    alpha = np.asarray(alpha, np.float64)
    T = alpha.size
    F = fit_generations if fit_generations is not None else max(1, T // 2)
    F = min(max(F, 1), T)
    mean = {k: np.asarray(per_chain[k], np.float64).mean(0) for k in PREDICTED}
    scale = {k: max(abs(mean[k][F] - mean[k][0]), 1e-9) for k in FITTED_ON}
    n_eff = fit_n_eff(mean, q, u, alpha, n_words, F, scale, factors)
    seeds = np.asarray(per_chain[FITTED_ON[0]]).shape[0]
    per_seed = [fit_n_eff({k: np.asarray(per_chain[k], np.float64)[i] for k in PREDICTED}, q, u, alpha, n_words, F, scale,
                          factors)
                for i in range(seeds)]
    interval = [float(min(per_seed)), float(max(per_seed))]
    if seeds >= BOOTSTRAP_SEEDS:  # percentile bootstrap over seeds of the mean-curve fit (per-seed fits are heavy-tailed)
        rng = np.random.default_rng(0)
        boots = []
        for _ in range(bootstrap):
            pick = rng.integers(0, seeds, seeds)
            boots.append(fit_n_eff({k: np.asarray(per_chain[k], np.float64)[pick].mean(0) for k in PREDICTED},
                                   q, u, alpha, n_words, F, scale, factors))
        interval = [float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))]
    th = curves(q, u, n_eff, alpha, n_words, factors)
    anchored = {k: th[k] - th[k][0] + mean[k][0] for k in PREDICTED}
    err = {}
    for k in PREDICTED:
        vals = np.asarray(per_chain[k], np.float64)
        se = vals.std(0, ddof=1) / math.sqrt(seeds) if seeds > 1 else np.full(T + 1, np.nan)
        gap = mean[k][F + 1:] - anchored[k][F + 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.abs(gap) / se[F + 1:]
        err[k] = {"mean_abs": float(np.mean(np.abs(gap))) if gap.size else None,
                  "max_abs_z": float(np.nanmax(z)) if gap.size and np.isfinite(z).any() else None}
    return FitReport(n_eff, per_seed, interval, F, anchored, err)
