"""Whether a Monte Carlo mean can estimate its expectation: the Pareto tail index of the sample itself.

A metric such as det Sigma_t / det Sigma_0 = prod of t d independent chi-square factors has a finite mean
that is carried by chains no simulation of a few thousand chains will draw: the sample mean then sits far
below the expectation and its standard error is too small, so a z-score against the exact theory says the
theory is wrong when it is the estimate that is. Such a metric is not an error; it is a metric whose mean the
run cannot measure, and the table, figure and ``config.json`` say so instead of printing a z-score.

The test (Vehtari, Simpson, Gelman, Yao and Gabry, "Pareto smoothed importance sampling", JMLR 2024,
section 3): fit a generalized Pareto distribution to the largest M = min(S / 5, 3 sqrt(S)) of the S chains'
values above the (M + 1)-th largest, with the Zhang and Stephens (2009) profile-likelihood estimator of the
shape k (with its weakly informative prior). A sample mean of a distribution with tail shape k converges at
the usual rate only for k < 1/2 and is unreliable above 1 - 1 / log10(S) (0.70 at S = 2000), the sample-size
dependent threshold of that paper; at k >= 1 the mean is infinite. Both tails are checked (a log metric's
tail is on the left), each relative to the column's median.
"""

from __future__ import annotations

import math

import numpy as np

#: Fewer chains leave fewer than 20 points in the fitted tail: the shape is then too noisy to call.
MIN_CHAINS = 100
#: Never call a tail reliable above this shape, whatever the number of chains (Vehtari et al. 2024).
KHAT_CAP = 0.7


def khat_threshold(chains: int) -> float:
    """The largest Pareto shape at which a mean over ``chains`` draws is still reliable: min(1 - 1/log10 S, 0.7)."""
    if chains < MIN_CHAINS:
        return math.inf  # too few chains to fit a tail (fewer than 20 in it): the test says nothing
    return min(1.0 - 1.0 / math.log10(chains), KHAT_CAP)


def _tail_size(chains: int) -> int:
    return int(min(math.ceil(0.2 * chains), math.ceil(3.0 * math.sqrt(chains))))


def gpd_shape(exceedances: np.ndarray) -> np.ndarray:
    """Zhang-Stephens estimate of the generalized Pareto shape k, per row.

    Args:
      exceedances: (rows, M) positive excesses over a threshold, each row sorted ascending.
    Returns:
      (rows,) the shape k with the prior of Vehtari et al. (2024), (k M + 5) / (M + 10); NaN for a row whose
      excesses are not all positive (a collapsed column: no tail to fit).
    """
    x = np.asarray(exceedances, np.float64)
    rows, n = x.shape
    ok = x[:, 0] > 0
    x = np.where(ok[:, None], x, 1.0)
    m = 30 + int(math.sqrt(n))
    j = np.arange(1, m + 1)
    quartile = x[:, max(int(n / 4 + 0.5) - 1, 0)]
    theta = 1.0 / x[:, -1:] + (1.0 - np.sqrt(m / (j - 0.5)))[None, :] / (3.0 * quartile[:, None])  # (rows, m)
    k = np.log1p(-theta[:, :, None] * x[:, None, :]).mean(axis=2)  # (rows, m); theta < 1/max x keeps it finite
    profile = n * (np.log(-theta / k) - k - 1.0)
    weights = np.exp(profile - profile.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    theta_hat = (theta * weights).sum(axis=1)
    khat = np.log1p(-theta_hat[:, None] * x).mean(axis=1)
    khat = (khat * n + 5.0) / (n + 10.0)
    return np.where(ok, khat, np.nan)


def _shape_with_ties(exceedances: np.ndarray) -> np.ndarray:
    """:func:`gpd_shape` per row; a row with ties at its threshold (chains that underflowed to the same 0,
    say) is fitted on its positive excesses alone, when at least 5 remain."""
    shapes = gpd_shape(exceedances)
    for r in np.flatnonzero(np.isnan(shapes)):
        positive = exceedances[r][exceedances[r] > 0]
        if positive.size >= 5:
            shapes[r] = gpd_shape(positive[None, :])[0]
    return shapes


def tail_shape(values: np.ndarray) -> np.ndarray:
    """The heavier of the two tails' Pareto shapes, per generation.

    Args:
      values: (chains, T + 1) per-chain values of one metric (finite).
    Returns:
      (T + 1,) k-hat, the larger of the upper and the lower tail's; NaN where neither tail can be fitted
      (fewer than 10 chains, or a column with too few distinct values). Below :data:`MIN_CHAINS` chains
      the estimate is returned but :func:`khat_threshold` calls nothing heavy.
    """
    columns = np.sort(np.asarray(values, np.float64).T, axis=1)  # (T + 1, chains) ascending
    chains = columns.shape[1]
    if chains < 10:
        return np.full(columns.shape[0], np.nan)
    size = _tail_size(chains)
    upper = columns[:, -size:] - columns[:, -size - 1:-size]
    lower = (columns[:, size:size + 1] - columns[:, :size])[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shapes = np.stack([_shape_with_ties(upper), _shape_with_ties(lower)])
    return np.where(np.isnan(shapes).all(axis=0), np.nan, np.nanmax(np.where(np.isnan(shapes), -np.inf, shapes), axis=0))


def mean_unestimable(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unestimable (T + 1,) bool, k-hat (T + 1,)): generations whose Monte Carlo mean cannot estimate the
    expectation at this number of chains, by :func:`tail_shape` against :func:`khat_threshold`."""
    khat = tail_shape(values)
    return np.nan_to_num(khat, nan=-np.inf) > khat_threshold(np.asarray(values).shape[0]), khat
