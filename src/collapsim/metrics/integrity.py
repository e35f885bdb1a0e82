"""Semantic integrity of a set of texts, as pure functions of sentence-embedding matrices (numpy + scipy Qhull).

The "Ainex" GPT-2 study measures each generation g of a collapse loop by

    P_g   = (E_g - mu_0) W_k^T                   the embeddings [N_g, D] projected on the top-k principal
                                                 axes W_k [k, D] of the generation-0 (real) embeddings E_0
    V_g   = vol(conv(P_g))                       convex-hull volume in R^k (Qhull)                       (1)
    d_g   = || mean(P_g) - mean(P_0) ||          centroid drift (mean(P_0) = 0 by construction)          (2)
    A_g   = V_g / (1 + lambda d_g^2)             integrity score; the study never states lambda          (3)
    loss_g = 1 - A_g / A_0                       "share of semantic reality lost" (A_0 = V_0, d_0 = 0)   (4)

with k = 3. Everything here takes embeddings (rows = texts) and returns floats or numpy arrays; nothing
depends on where the embeddings came from. Also: hull volumes for k = 3..8, a bootstrap over texts, the
lambda that would make (4) equal a given loss, and a two-segment change point of a curve over generations.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from collapsim.errors import ConfigError

AINEX_LOSS = 0.6686  # "66.86% of semantic reality lost" by generation 20


class PCA(NamedTuple):
    """mean [D] and components [k, D] (orthonormal rows, descending variance); explained variance [k]."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray


def fit_pca(E0, k: int = 3) -> PCA:
    """Top-k principal axes of the reference embeddings E0 [N, D] (N >= 2, k <= min(N, D)).

    Computed by SVD of the centred matrix; each axis's sign is fixed so that its largest-magnitude entry is
    positive (the same data always give the same axes). Explained variance uses the N - 1 denominator.
    """
    E0 = np.asarray(E0, np.float64)
    if E0.ndim != 2 or E0.shape[0] < 2:
        raise ConfigError(f"PCA needs a [N, D] matrix with N >= 2, got shape {E0.shape}")
    if not 1 <= k <= min(E0.shape):
        raise ConfigError(f"PCA dimension k={k} must be in [1, min(N, D) = {min(E0.shape)}]")
    mu = E0.mean(0)
    _, s, vt = np.linalg.svd(E0 - mu, full_matrices=False)
    comps = vt[:k]
    flip = np.sign(comps[np.arange(k), np.abs(comps).argmax(1)])
    comps = comps * flip[:, None]
    return PCA(mu, comps, s[:k] ** 2 / (E0.shape[0] - 1))


def project(E, pca: PCA, k: int | None = None) -> np.ndarray:
    """P = (E - mu_0) W_k^T: embeddings [N, D] -> coordinates [N, k] on the first k fitted axes."""
    W = pca.components if k is None else pca.components[:k]
    return (np.asarray(E, np.float64) - pca.mean) @ W.T


def hull_volume(P) -> float:
    """Volume of the convex hull of points P [N, k] (k >= 2; area for k = 2), equation (1).

    Fewer than k + 1 points, or points in a lower-dimensional flat (a degenerate hull), have volume 0.
    """
    from scipy.spatial import ConvexHull, QhullError

    P = np.asarray(P, np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise ConfigError(f"hull volume needs points [N, k] with k >= 2, got shape {P.shape}")
    if P.shape[0] <= P.shape[1]:
        return 0.0
    try:
        return float(ConvexHull(P).volume)
    except QhullError:  # flat point set: no full-dimensional hull
        return 0.0


def centroid_drift(P, ref_centroid) -> float:
    """d = || mean(P) - ref_centroid ||, equation (2). P [N, k]; ref_centroid [k]."""
    return float(np.linalg.norm(np.asarray(P, np.float64).mean(0) - np.asarray(ref_centroid, np.float64)))


def score(volume, drift, lam: float):
    """A = V / (1 + lambda d^2), equation (3); works elementwise on arrays."""
    if lam < 0:
        raise ConfigError(f"lambda must be >= 0, got {lam}")
    return np.asarray(volume, np.float64) / (1.0 + lam * np.square(np.asarray(drift, np.float64)))


def lambda_for_loss(v0: float, v: float, drift: float, loss: float = AINEX_LOSS) -> float | None:
    """The lambda >= 0 for which 1 - A_g / A_0 = loss, equation (4) solved for lambda:

        V / (V_0 (1 + lambda d^2)) = 1 - loss   =>   lambda = (V / (V_0 (1 - loss)) - 1) / d^2.

    None when no lambda >= 0 gives it (the volume alone already loses more than ``loss``, or d = 0 while
    the volume loses less).
    """
    keep = 1.0 - loss
    ratio = v / (v0 * keep)
    if ratio < 1.0:
        return None
    if drift <= 0:
        return 0.0 if ratio == 1.0 else None
    return float((ratio - 1.0) / drift ** 2)


class Integrity(NamedTuple):
    """Equations (1)-(3) of one text set: volume, drift, score, and volume_k [len(ks)] for k in ``ks``."""

    volume: float
    drift: float
    score: float
    volume_k: np.ndarray


def integrity(E, pca: PCA, lam: float, ks=(), k: int = 3) -> Integrity:
    """Integrity of embeddings E [N, D] against the reference ``pca`` (fitted with at least max(ks, k) axes).

    The drift is measured from the reference centroid, which is the origin of the PCA coordinates.
    """
    P = project(E, pca, k)
    v = hull_volume(P)
    d = centroid_drift(P, np.zeros(k))
    vk = np.array([hull_volume(project(E, pca, kk)) for kk in ks], np.float64)
    return Integrity(v, d, float(score(v, d, lam)), vk)


def bootstrap(E, pca: PCA, lam: float, n_boot: int, seed: int, k: int = 3) -> np.ndarray:
    """Volume, drift and score of ``n_boot`` resamples of the texts (rows of E [N, D], drawn with
    replacement): array [n_boot, 3]. Same seed, same resamples.

    Resampling repeats texts, so a resample has about 63% distinct points and its hull is smaller: the
    bootstrap volumes sit below the full-sample volume. The spread is what they measure.
    """
    P = project(E, pca, k)
    N = P.shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, 3))
    for b in range(n_boot):
        Q = P[rng.integers(0, N, N)]
        v = hull_volume(Q)
        d = centroid_drift(Q, np.zeros(k))
        out[b] = v, d, v / (1.0 + lam * d * d)
    return out


class ChangePoint(NamedTuple):
    """Continuous two-segment fit y ~ a + b g + c max(0, g - tau): the break ``tau``, the slopes before (b)
    and after (b + c), and ``sse_ratio`` = SSE(two segments) / SSE(one line) (small = a clear break)."""

    tau: int
    slope_before: float
    slope_after: float
    sse_ratio: float


def change_point(y) -> ChangePoint:
    """Least-squares change point of a curve y [T + 1] over generations 0..T (T >= 3): the integer tau in
    1..T-1 minimising the residual sum of squares of the continuous two-segment (hinge) fit."""
    y = np.asarray(y, np.float64)
    T = y.shape[0] - 1
    if y.ndim != 1 or T < 3:
        raise ConfigError(f"a change point needs a curve over at least 4 generations, got shape {y.shape}")
    g = np.arange(T + 1, dtype=np.float64)
    line = np.stack([np.ones_like(g), g], 1)
    r1 = y - line @ np.linalg.lstsq(line, y, rcond=None)[0]
    sse1 = float(r1 @ r1)
    best = None
    for tau in range(1, T):
        X = np.concatenate([line, np.maximum(0.0, g - tau)[:, None]], 1)
        coef = np.linalg.lstsq(X, y, rcond=None)[0]
        r = y - X @ coef
        sse = float(r @ r)
        if best is None or sse < best[0] - 1e-12 * max(sse1, 1e-300):
            best = (sse, tau, coef)
    sse, tau, coef = best
    return ChangePoint(tau, float(coef[1]), float(coef[1] + coef[2]), sse / sse1 if sse1 > 0 else 0.0)


def change_point_over_seeds(Y, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Change point of the seed-mean curve of Y [S, T + 1] with a percentile interval over seeds (seeds
    resampled with replacement, the change point of each resampled mean curve), and each seed's own tau."""
    Y = np.asarray(Y, np.float64)
    if Y.ndim != 2 or Y.shape[0] < 1:
        raise ConfigError(f"expected curves [seeds, generations], got shape {Y.shape}")
    cp = change_point(Y.mean(0))
    rng = np.random.default_rng(seed)
    S = Y.shape[0]
    taus = np.array([change_point(Y[rng.integers(0, S, S)].mean(0)).tau for _ in range(n_boot)])
    a = (1 - level) / 2
    return {"tau": cp.tau, "slope_before": cp.slope_before, "slope_after": cp.slope_after,
            "sse_ratio": cp.sse_ratio, "tau_lo": float(np.quantile(taus, a)), "tau_hi": float(np.quantile(taus, 1 - a)),
            "per_seed": [change_point(y).tau for y in Y]}
