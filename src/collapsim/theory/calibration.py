"""A learner's noise measured directly, not fitted on the loop: the n_eff of eq. (L1) by moments from S
independent one-generation fits, with a jackknife standard error, and the forecast curves it implies.

Setting: a learner (GPT-2 fine-tuning, or any family's ``fit``) is fitted S times, from the same starting
model, on S independent fresh samples of n real texts each (one generation, no recursion). Each fit s has a
unigram law p^(s) (K,). Under eq. (L1) of :mod:`collapsim.theory.llm` one step from the input law x gives

    E p = x,    sum_i Var p_i = sum_i x_i (1 - x_i) / n_eff = (1 - sum_i x_i^2) / n_eff,              (eq. C1)

so the noise precision rho = 1 / n_eff is the ratio of the total per-word variance to 1 - sum x^2. The
estimator (method of moments) replaces x by the mean law over the fits, m = (1/S) sum_s p^(s), and the
variance by the unbiased one over the fits:

    rho_hat = [ sum_i (1/(S-1)) sum_s (p^(s)_i - m_i)^2  -  M ] / (1 - sum_i m_i^2).                   (eq. C2)

M removes the noise of *measuring* p^(s) (a model's law is read from texts it generates, a finite sample):
each fit is measured twice, on two independent halves A^(s), B^(s) with p^(s) = (A + B)/2, and since
E (A_i - B_i)^2 = 2 sigma_i^2 while p's measurement variance is sigma_i^2 / 2,

    M = (1/S) sum_s sum_i (A^(s)_i - B^(s)_i)^2 / 4                                                   (eq. C3)

is unbiased for the measurement part of the spread (0 for a learner whose law is read exactly). The standard
error of rho_hat is the jackknife over the S fits (leave one fit out, recompute eq. C2-C3); n_eff = 1/rho_hat
with SE by the delta method, n_eff^2 SE(rho). rho, not n_eff, is what is nearly linear in the data (a mean
of squared deviations), so the forecast band is drawn at rho +- SE (n_eff = 1/(rho -+ SE), the upper end
unbounded when rho - SE <= 0).

m - x_in (x_in the law of the training texts) is the learner's deterministic map at that input, measured:
its bias. The forecast does not re-apply it every generation (it is measured only at x_in = the source's
law, from the base model): it is reported as a diagnostic beside the ideal learner's map.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from collapsim.theory import llm as L


class NoiseEstimate(NamedTuple):
    rho: float  # 1 / n_eff, eq. (C2)
    rho_se: float  # jackknife over the fits
    mean_law: np.ndarray  # m (K,), the mean over the fits
    spread: float  # sum_i Var p_i over the fits (measurement noise included)
    measurement: float  # M of eq. (C3)
    fits: int  # S

    @property
    def n_eff(self) -> float:
        return 1.0 / self.rho if self.rho > 0 else math.inf

    @property
    def n_eff_se(self) -> float:
        """Delta method: SE(n_eff) = SE(rho) / rho^2."""
        return self.rho_se / (self.rho * self.rho) if self.rho > 0 else math.inf

    def n_eff_band(self) -> tuple[float, float]:
        """(n_eff at rho + SE, n_eff at rho - SE): the one-SE band, the upper end inf when rho - SE <= 0."""
        lo_rho, hi_rho = self.rho + self.rho_se, self.rho - self.rho_se
        return 1.0 / lo_rho, (1.0 / hi_rho if hi_rho > 0 else math.inf)


def _rho(laws: np.ndarray, halves: np.ndarray | None) -> tuple[float, float, float]:
    """(rho, spread, M) of eqs. (C2)-(C3) for laws (S, K) and halves (S, 2, K) or None."""
    m = laws.mean(0)
    spread = float(laws.var(0, ddof=1).sum())
    meas = 0.0 if halves is None else float(((halves[:, 0] - halves[:, 1]) ** 2).sum(-1).mean() / 4.0)
    return (spread - meas) / max(1.0 - float(m @ m), 1e-300), spread, meas


def estimate_noise(laws=None, halves=None) -> NoiseEstimate:
    """Eqs. (C2)-(C3) with a jackknife SE. Give ``halves`` (S, 2, K), two independent measurements of each
    fit's law (their mean is the law), or ``laws`` (S, K) read exactly (no measurement noise). S >= 3."""
    if halves is not None:
        halves = np.asarray(halves, np.float64)
        laws = halves.mean(1)
    laws = np.asarray(laws, np.float64)
    S = laws.shape[0]
    if S < 3:
        raise ValueError(f"a noise estimate needs at least 3 fits, got {S}")
    rho, spread, meas = _rho(laws, halves)
    keep = ~np.eye(S, dtype=bool)
    loo = np.array([_rho(laws[keep[s]], None if halves is None else halves[keep[s]])[0] for s in range(S)])
    se = math.sqrt((S - 1) / S * float(((loo - loo.mean()) ** 2).sum()))
    return NoiseEstimate(float(rho), se, laws.mean(0), spread, meas, S)


def forecast(q, u, noise: NoiseEstimate, alpha, n_words: int, factors=None) -> dict:
    """The forecast from a calibration alone: eqs. (L2)-(L4) at n_eff = 1/rho and at the band's two ends.

    q (K,) the base model's law, u (K,) the source's, alpha (T,), n_words the words the metrics count.
    Returns {"forecast": {metric: (T + 1,)}, "lo": ..., "hi": ..., "se": {metric: (T + 1,)}} where lo/hi
    are the pointwise min/max of the curves at rho +- SE and se is half their distance (the calibration's
    standard error of the forecast, by propagating rho's SE through the curves).
    """
    lo_n, hi_n = noise.n_eff_band()
    cap = L.N_EFF_RANGE[1]
    grid = np.array([min(noise.n_eff, cap), min(lo_n, cap), min(hi_n, cap)])
    c = L.curves(q, u, grid, alpha, n_words, factors)  # metric -> (T + 1, 3)
    out = {"forecast": {}, "lo": {}, "hi": {}, "se": {}}
    for k, v in c.items():
        out["forecast"][k] = v[:, 0]
        out["lo"][k] = v.min(1)
        out["hi"][k] = v.max(1)
        out["se"][k] = np.abs(v[:, 1] - v[:, 2]) / 2.0
    return out


def forecast_error(mean, seed_se, fc, fc_se) -> np.ndarray:
    """(LM mean - forecast) / sqrt(seed SE^2 + calibration SE^2), per generation (T + 1,); NaN where both
    SEs are 0."""
    mean, seed_se, fc, fc_se = (np.asarray(a, np.float64) for a in (mean, seed_se, fc, fc_se))
    comb = np.sqrt(seed_se ** 2 + fc_se ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(comb > 0, (mean - fc) / comb, np.nan)
