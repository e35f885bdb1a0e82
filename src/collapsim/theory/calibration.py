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

Per frequency band (eq. C4). Eq. (C1) says every word's variance is x_i (1 - x_i) / n_eff with the *same*
n_eff; eq. (C2) pools the words weighted by m_i (1 - m_i), so its n_eff is the head's. A learner that
smooths (a neural LM shares parameters across words) can have a band-dependent ratio. Split the words into
B bands b by the rank of a fixed law (the training texts' law u, not the fits' mean, so the banding does
not select on the noise) and pool within each band:

    rho_b = [ sum_{i in b} Var p_i  -  M_b ] / sum_{i in b} m_i (1 - m_i),                              (eq. C4)

M_b the part of eq. (C3) over the band's words. The scalar rho of eq. (C2) is the m (1 - m)-weighted mean
of the rho_b. Each rho_b has its own jackknife SE over the fits; a count learner has rho_b = 1/n in every
band.
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


def _fits(laws, halves) -> tuple:
    """(laws (S, K), halves (S, 2, K) or None, S) from either input of the estimators: ``halves`` two
    independent readings of each fit's law (their mean is the law), or ``laws`` read exactly. S >= 3."""
    if halves is not None:
        halves = np.asarray(halves, np.float64)
        laws = halves.mean(1)
    laws = np.asarray(laws, np.float64)
    S = laws.shape[0]
    if S < 3:
        raise ValueError(f"a noise estimate needs at least 3 fits, got {S}")
    return laws, halves, S


def estimate_noise(laws=None, halves=None) -> NoiseEstimate:
    """Eqs. (C2)-(C3) with a jackknife SE. Give ``halves`` (S, 2, K), two independent measurements of each
    fit's law (their mean is the law), or ``laws`` (S, K) read exactly (no measurement noise). S >= 3."""
    laws, halves, S = _fits(laws, halves)
    rho, spread, meas = _rho(laws, halves)
    keep = ~np.eye(S, dtype=bool)
    loo = np.array([_rho(laws[keep[s]], None if halves is None else halves[keep[s]])[0] for s in range(S)])
    se = math.sqrt((S - 1) / S * float(((loo - loo.mean()) ** 2).sum()))
    return NoiseEstimate(float(rho), se, laws.mean(0), spread, meas, S)


class BandNoise(NamedTuple):
    band: np.ndarray  # (K,) int: each word's band, 0 = the most frequent words
    rho: np.ndarray  # (B,) eq. (C4)
    rho_se: np.ndarray  # (B,) jackknife over the fits
    mass: np.ndarray  # (B,) the band's share of the banding law
    fits: int  # S

    @property
    def n_eff(self) -> np.ndarray:
        """(B,) 1 / rho_b, inf where rho_b <= 0 (no spread beyond the reading noise)."""
        with np.errstate(divide="ignore"):
            return np.where(self.rho > 0, 1.0 / np.where(self.rho > 0, self.rho, 1.0), np.inf)

    def per_word(self, shift: float = 0.0) -> np.ndarray:
        """(K,) each word's n_eff = 1 / (rho_b + shift * SE_b), capped at the theory's N_EFF_RANGE (a rho at or
        below 0 reads as no drift)."""
        r = (self.rho + shift * self.rho_se)[self.band]
        cap = L.N_EFF_RANGE[1]
        return np.where(r > 1.0 / cap, 1.0 / np.maximum(r, 1.0 / cap), cap)


def frequency_bands(law, bands: int) -> np.ndarray:
    """(K,) band index of each word: the words ranked by ``law`` (most frequent first) cut into ``bands``
    groups of (nearly) equal size; ties broken by word index so the banding is deterministic."""
    law = np.asarray(law, np.float64)
    if not 1 <= bands <= law.size:
        raise ValueError(f"bands must be between 1 and the number of words {law.size}, got {bands}")
    rank = np.empty(law.size, int)
    rank[np.lexsort((np.arange(law.size), -law))] = np.arange(law.size)
    return rank * bands // law.size


def _rho_bands(laws: np.ndarray, halves: np.ndarray | None, band: np.ndarray, B: int) -> np.ndarray:
    """(B,) rho_b of eq. (C4) for laws (S, K) and halves (S, 2, K) or None."""
    m = laws.mean(0)
    var = laws.var(0, ddof=1)
    meas = np.zeros_like(m) if halves is None else ((halves[:, 0] - halves[:, 1]) ** 2).mean(0) / 4.0
    num = np.bincount(band, var - meas, minlength=B)
    den = np.bincount(band, m * (1 - m), minlength=B)
    return num / np.maximum(den, 1e-300)


def estimate_noise_by_band(laws=None, halves=None, band_law=None, bands: int = 5) -> BandNoise:
    """Eq. (C4) per frequency band with a jackknife SE per band. ``laws`` / ``halves`` as in
    :func:`estimate_noise`; band_law (K,) the law that ranks the words (default: the fits' mean law)."""
    laws, halves, S = _fits(laws, halves)
    ranker = laws.mean(0) if band_law is None else np.asarray(band_law, np.float64)
    band = frequency_bands(ranker, bands)
    rho = _rho_bands(laws, halves, band, bands)
    keep = ~np.eye(S, dtype=bool)
    loo = np.array([_rho_bands(laws[keep[s]], None if halves is None else halves[keep[s]], band, bands)
                    for s in range(S)])
    se = np.sqrt((S - 1) / S * ((loo - loo.mean(0)) ** 2).sum(0))
    mass = np.bincount(band, ranker / ranker.sum(), minlength=bands)
    return BandNoise(band, rho, se, mass, S)


def bands_to_json(b: BandNoise) -> dict:
    """What a run folder records about the per-band estimate (n_eff inf written as None)."""
    n = b.n_eff
    return {"bands": int(b.rho.size), "words_per_band": np.bincount(b.band).tolist(), "mass": b.mass.tolist(),
            "rho": b.rho.tolist(), "rho_se": b.rho_se.tolist(),
            "n_eff": [float(x) if np.isfinite(x) else None for x in n],
            "n_eff_se": [float(s / r ** 2) if r > 0 else None for r, s in zip(b.rho, b.rho_se)]}


class RelativeNoise(NamedTuple):
    rho: float  # 1 / n_eff of the binomial part, eq. (C5)
    c: float  # the relative part: Var_i = rho m_i (1 - m_i) + c m_i^2
    rho_se: float  # jackknife over the fits
    c_se: float
    loo: np.ndarray  # (S, 2): the leave-one-fit-out (rho, c), for the forecast's jackknife SE
    fits: int  # S

    @property
    def n_eff(self) -> float:
        return 1.0 / self.rho if self.rho > 0 else math.inf


def _rho_c(laws: np.ndarray, halves: np.ndarray | None) -> tuple[float, float]:
    """(rho, c) of eq. (C5) for laws (S, K) and halves (S, 2, K) or None, clipped to rho, c >= 0."""
    m = laws.mean(0)
    v = laws.var(0, ddof=1)
    if halves is not None:
        v = v - ((halves[:, 0] - halves[:, 1]) ** 2).mean(0) / 4.0
    seen = m > 0  # a word no fit ever gives mass has no relative variance
    ms, vs = m[seen], v[seen]
    a = np.array([[np.sum(ms * (1 - ms)), np.sum(ms * ms)], [np.sum((1 - ms) / ms), float(ms.size)]])
    b = np.array([np.sum(vs), np.sum(vs / (ms * ms))])
    rho, c = np.linalg.solve(a, b)
    if rho < 0:  # no binomial part: the absolute equation alone fixes c
        return 0.0, max(float(b[0] / a[0, 1]), 0.0)
    if c < 0:  # no relative part: eq. (C2)
        return max(float(b[0] / a[0, 0]), 0.0), 0.0
    return float(rho), float(c)


def estimate_relative_noise(laws=None, halves=None) -> RelativeNoise:
    """Eq. (C5) with a jackknife SE. ``laws`` / ``halves`` as in :func:`estimate_noise`. S >= 3."""
    laws, halves, S = _fits(laws, halves)
    rho, c = _rho_c(laws, halves)
    keep = ~np.eye(S, dtype=bool)
    loo = np.array([_rho_c(laws[keep[s]], None if halves is None else halves[keep[s]]) for s in range(S)])
    se = np.sqrt((S - 1) / S * ((loo - loo.mean(0)) ** 2).sum(0))
    return RelativeNoise(rho, c, float(se[0]), float(se[1]), loo, S)


def forecast_relative(q, u, noise: RelativeNoise, alpha, n_words: int, factors=None) -> dict:
    """The forecast under eq. (L2m) at the calibrated (rho, c), the same dict as :func:`forecast`; se is the
    jackknife SE of each curve over the S leave-one-fit-out (rho, c), lo / hi the forecast -+ se."""
    pairs = np.vstack([[noise.rho, noise.c], noise.loo])  # (S + 1, 2)
    with np.errstate(divide="ignore"):
        n_eff = np.where(pairs[:, 0] > 0, 1.0 / np.where(pairs[:, 0] > 0, pairs[:, 0], 1.0), np.inf)
    c = L.curves(q, u, n_eff, alpha, n_words, factors, mult=pairs[:, 1])  # metric -> (T + 1, S + 1)
    S = noise.fits
    out = {"forecast": {}, "lo": {}, "hi": {}, "se": {}}
    for k, v in c.items():
        loo = v[:, 1:]
        se = np.sqrt((S - 1) / S * ((loo - loo.mean(1, keepdims=True)) ** 2).sum(1))
        out["forecast"][k], out["se"][k] = v[:, 0], se
        out["lo"][k], out["hi"][k] = v[:, 0] - se, v[:, 0] + se
    return out


def forecast(q, u, noise: NoiseEstimate, alpha, n_words: int, factors=None, bands: BandNoise | None = None) -> dict:
    """The forecast from a calibration alone: eqs. (L2)-(L4) at n_eff = 1/rho and at the band's two ends
    (bands given: each word at its band's n_eff of eq. C4, the ends at every rho_b -+ its SE together, as if
    the bands' errors were fully correlated, the wider choice).

    q (K,) the base model's law, u (K,) the source's, alpha (T,), n_words the words the metrics count.
    Returns {"forecast": {metric: (T + 1,)}, "lo": ..., "hi": ..., "se": {metric: (T + 1,)}} where lo/hi
    are the pointwise min/max of the curves at rho +- SE and se is half their distance (the calibration's
    standard error of the forecast, by propagating rho's SE through the curves).
    """
    if bands is None:
        lo_n, hi_n = noise.n_eff_band()
        cap = L.N_EFF_RANGE[1]
        grid = np.array([min(noise.n_eff, cap), min(lo_n, cap), min(hi_n, cap)])
    else:
        grid = np.stack([bands.per_word(0.0), bands.per_word(1.0), bands.per_word(-1.0)])  # (3, K)
    c = L.curves(q, u, grid, alpha, n_words, factors, per_word=bands is not None)  # metric -> (T + 1, 3)
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
