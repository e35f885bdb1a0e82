"""Exact expectations for recursively refit categorical distributions: Wright-Fisher drift with an anchor.

REFERENCES.md section 2; every equation is checked in proofs_check/categorical.py.

Notation: truth q = p* (shape (K,), every entry > 0, sum 1), M draws per generation, schedule alpha of shape
(T,) with alpha[t - 1] = a_t the weight of the truth in the law that makes generation t. Generation 0 is the
truth itself, so every curve has T + 1 entries and index 0 holds the truth's own value. Each of the M draws of
generation t comes from the mixture a_t q + (1 - a_t) p_{t-1} (meaning (a) of REFERENCES.md), so

  c_t ~ Multinomial(M, x),  x = a_t q + (1 - a_t) p_{t-1},  p_t = c_t / M                         (eq. C1)

and, because a multinomial's coordinates are binomial, each category's count is a Markov chain on its own:
  c_t^i | c_{t-1}^i ~ Binomial(M, a_t q_i + (1 - a_t) c_{t-1}^i / M).                             (eq. C2)
Generation 1 is Binomial(M, q_i) whatever a_1 is, since p_0 = q. Under replacement (a = 0) the states 0 and
M are absorbing.

Means. E[p' | p] = x, so E p_t = a_t q + (1 - a_t) E p_{t-1}; from E p_0 = q this stays q for every
schedule (the recursion is still what the code iterates, so a change of convention would show).    (eq. C3)

Second moments. With S = sum_i p_i^2, R = sum_i q_i p_i, Q = sum_i q_i^2 and the binomial moment
E[(c'/M)^2 | c] = x^2 + x (1 - x) / M, summing over i with sum_i x_i = 1 gives the exact affine map
  E[S' | p] = (1 - 1/M) [a^2 Q + 2 a (1 - a) R + (1 - a)^2 S] + 1/M,
  E[R' | p] = a Q + (1 - a) R,                                                                      (eq. C4)
so (E S_t, E R_t) follow it too, from S_0 = R_0 = Q. Gini-Simpson G = 1 - S, squared error
sum (p - q)^2 = S - 2 R + Q. Under replacement 1 - S' = (1 - 1/M)(1 - S) in expectation, hence
  E G_t = (1 - 1/M)^t G_0 exactly.                                                                  (eq. C5)
For a constant a in (0, 1] the map is a contraction; its fixed point is the stationary value.        (eq. C6)

Per-category marginals. Let P_i(a) be the (M+1) x (M+1) matrix of (C2): row c is the Binomial(M, x_c) pmf,
x_c = a q_i + (1 - a) c / M. With pi_1^i the Binomial(M, q_i) pmf,
  forward:  pi_t^i = pi_{t-1}^i P_i(a_t),  E_t h(c^i) = pi_t^i . h                                  (eq. C7)
for any function h of the count; under replacement every category shares P = P(0), so also
  backward: V_1 = H, V_t = P V_{t-1},  E_t h(c^i) = pi_1^i . V_t                                     (eq. C8)
for a matrix H of category-independent columns h. The metrics are sums over categories of such functions:
entropy of -(c/M) log(c/M), support of [c > 0], tail and bottom-decile mass of q_i [c = 0] and q_i [c > 0],
Gini-Simpson of (c/M)^2, TV of |c/M - q_i| / 2. KL(model || truth) needs only means:
  E KL_t = -E H_t - sum_i E[p_i] log q_i  (= H(q) - E H_t, by C3).                                   (eq. C9)
TV under (C8): |c/M - q| = (c/M - q) + 2 (q - c/M) [c <= k] with k = floor(M q), so
  E |c/M - q| = E c/M - q + 2 (q P(c <= k) - E[(c/M) [c <= k]])    (E c/M - q = 0 by C3),           (eq. C10)
two category-independent columns per distinct threshold k.

Stationary law (constant a > 0, q_i < 1): every x_c lies in (0, 1), P_i has all entries positive and a unique
stationary pmf, the solution of pi (I - P_i + 1 1^T) = 1^T.                                         (eq. C11)

Fixation (replacement): c^i / M is a bounded martingale (E[c'/M | c] = c/M) absorbed at 0 or 1, so
P(category i eventually takes all M draws) = E p_inf^i = q_i.                                       (eq. C12)

Approximations (small noise, large M q_i; NOT exact, labelled as such where they are returned):
  E H_t ~ H(q) - t (K - 1) / (2M)   (Miller-Madow bias per generation, K_eff = K, clipped at 0),     (eq. A1)
  stationary E sum (p - q)^2 ~ G_0 / (2 a M): the fixed point of (C4) is exactly
  G_0 / (M (2a - a^2) + (1 - a)^2), whose leading term this is when a -> 0 with a M -> infinity.    (eq. A2)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import gammaln, xlogy

from collapsim.errors import ConfigError
from collapsim import memory

# marginals(method="auto") runs forward when K_distinct * (T - 1) * (M + 1)^2 is at most this: about a second
# of vector-matrix products; beyond it, under replacement, the backward recursion (C8) is much cheaper.
FORWARD_BUDGET = 2e9
# Stacks of per-category transition matrices are built in chunks of at most this many bytes.
_CHUNK_BYTES = 64 * 2**20
# The backward method gives TV through (C10) while it needs at most this many threshold columns (2 each);
# a zipf truth with K = M = 1000 needs 23; a truth with hundreds of distinct floor(M q_i) would make it slow.
BACKWARD_TV_MAX_THRESHOLDS = 64

# Columns of the category-independent function matrix H (eq. C8).
_ENT, _SURV, _FIX, _SQ = range(4)


class CategoricalTheory(NamedTuple):
    """Exact expected metrics, each of shape (T + 1,), plus per-category survival and fixation (K, T + 1)."""

    entropy: np.ndarray
    gini_simpson: np.ndarray
    support: np.ndarray
    tail_mass: np.ndarray
    bottom_decile_mass: np.ndarray | None  # None when no ``bottom`` mask was given
    kl: np.ndarray
    tv: np.ndarray | None  # None when the backward method had too many thresholds for (C10)
    sq_error: np.ndarray
    survival: np.ndarray  # P(c_t^i > 0)
    fixation: np.ndarray  # P(c_t^i = M)


# ----------------------------------------------------------------------------------------------- inputs


def _truth(truth) -> np.ndarray:
    q = np.asarray(truth, dtype=np.float64)
    if q.ndim != 1 or q.size == 0:
        raise ConfigError(f"truth must be a non-empty vector of probabilities, got shape {q.shape}")
    if not np.all(np.isfinite(q)) or np.any(q <= 0):
        raise ConfigError("every truth probability must be finite and > 0 (a zero category can never appear)")
    if abs(q.sum() - 1.0) > 1e-9:
        raise ConfigError(f"truth probabilities must sum to 1, got {q.sum():.12g}")
    return q


def _whole(value, name: str, least: int) -> int:
    try:
        ok = not isinstance(value, (bool, np.bool_)) and int(value) == value and value >= least
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def _samples(M) -> int:
    return _whole(M, "M (samples per generation)", 1)


def _schedule(alpha) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim != 1:
        raise ConfigError(f"alpha must be an array of shape (T,), got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
        raise ConfigError("alpha must lie in [0, 1]")
    return a


def _constant_alpha(alpha) -> float:
    a = float(alpha)
    if not np.isfinite(a) or not 0 < a <= 1:
        raise ConfigError(f"a stationary law needs a constant alpha in (0, 1], got {alpha!r}")
    return a


def _mask(bottom, K: int) -> np.ndarray | None:
    if bottom is None:
        return None
    b = np.asarray(bottom)
    if b.shape != (K,) or b.dtype != np.bool_:
        raise ConfigError(f"bottom must be a boolean mask of shape ({K},), got {b.dtype} {b.shape}")
    return b


# ------------------------------------------------------------------------------- closed forms (C3-C6)


def _moment_map(q: np.ndarray, M: int, a: float):
    """(A, b) with (S', R') = A (S, R) + b in expectation (eq. C4)."""
    Q, r = float(np.sum(q * q)), 1.0 - 1.0 / M
    A = np.array([[r * (1 - a) ** 2, r * 2 * a * (1 - a)], [0.0, 1 - a]])
    b = np.array([r * a * a * Q + 1.0 / M, a * Q])
    return A, b


def _second_moments(truth, M, alpha) -> tuple[np.ndarray, np.ndarray, float]:
    """(E S_t, E R_t) of shape (T + 1,) from (C4), and Q = sum q^2."""
    q, M, alpha = _truth(truth), _samples(M), _schedule(alpha)
    Q = float(np.sum(q * q))
    S, R = np.empty(alpha.size + 1), np.empty(alpha.size + 1)
    S[0] = R[0] = Q
    for t, a in enumerate(alpha, start=1):
        A, b = _moment_map(q, M, a)
        S[t], R[t] = A @ (S[t - 1], R[t - 1]) + b
    return S, R, Q


def expected_gini_simpson(truth, M: int, alpha) -> np.ndarray:
    """E[1 - sum p_t^2] (eqs. C4, C5), shape (T + 1,); alpha (T,), zeros for replacement."""
    S, _, _ = _second_moments(truth, M, alpha)
    return 1.0 - S


def expected_sq_error(truth, M: int, alpha) -> np.ndarray:
    """E[sum (p_t - q)^2] = E S - 2 E R + Q (eq. C4), shape (T + 1,)."""
    S, R, Q = _second_moments(truth, M, alpha)
    return S - 2 * R + Q


def stationary_gini_sq_error(truth, M: int, alpha: float) -> tuple[float, float]:
    """(Gini-Simpson, squared error) as t -> infinity for a constant alpha in (0, 1]: the fixed point of (C4).

    In closed form the error is G_0 / (M (2a - a^2) + (1 - a)^2), which (A2) approximates by G_0 / (2 a M).
    """
    q, M, a = _truth(truth), _samples(M), _constant_alpha(alpha)
    A, b = _moment_map(q, M, a)
    S, R = np.linalg.solve(np.eye(2) - A, b)
    Q = float(np.sum(q * q))
    return float(1.0 - S), float(S - 2 * R + Q)


def _expected_p(q: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """E p_t^i (eq. C3), shape (K, T + 1)."""
    out = np.empty((q.size, alpha.size + 1))
    out[:, 0] = q
    for t, a in enumerate(alpha, start=1):
        out[:, t] = a * q + (1 - a) * out[:, t - 1]
    return out


# ----------------------------------------------------------------------- per-category chains (C2, C7-C11)


def _log_binom_coef(M: int) -> np.ndarray:
    k = np.arange(M + 1)
    return gammaln(M + 1) - gammaln(k + 1) - gammaln(M - k + 1)


def _binomial_pmf(M: int, x, log_coef: np.ndarray | None = None) -> np.ndarray:
    """Binomial(M, x) pmf over counts 0..M, shape x.shape + (M + 1,).

    Rows with x = 0 or x = 1 are exact unit vectors (0 log 0 = 0), never nan.
    """
    log_coef = _log_binom_coef(M) if log_coef is None else log_coef
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)[..., None]  # rounding of a q + (1-a) c/M
    k = np.arange(M + 1)
    # One log per row, not per entry (xlogy on every entry cost half the time of a scheduled mix run); rows
    # with x = 0 or 1 are unit vectors, set exactly rather than through 0 * log 0.
    log_x = np.log(np.where(x > 0, x, 1.0))
    log_1mx = np.log1p(-np.where(x < 1, x, 0.0))
    pmf = np.exp(log_coef + k * log_x + (M - k) * log_1mx)
    pmf = np.where(x == 0, k == 0, np.where(x == 1, k == M, pmf))
    # Each log term is O(M) in size, so each entry carries a relative error ~ M eps and a row sums to
    # 1 +- 1e-14; renormalising keeps T-step products stochastic to ~T eps instead of ~T M eps.
    return pmf / pmf.sum(axis=-1, keepdims=True)


def transition_matrix(q, M: int, alpha: float, log_coef: np.ndarray | None = None) -> np.ndarray:
    """P_i(alpha) of (C2): row c is the Binomial(M, alpha q_i + (1 - alpha) c / M) pmf.

    Args:
      q: scalar or array (G,) of truth probabilities.
    Returns:
      (M + 1, M + 1) for a scalar q, else (G, M + 1, M + 1).
    """
    q = np.asarray(q, dtype=np.float64)
    x = alpha * q[..., None] + (1 - alpha) * (np.arange(M + 1) / M)
    return _binomial_pmf(M, x, log_coef)


def _count_functions(M: int) -> np.ndarray:
    """H of (C8), shape (M + 1, 4): -(c/M) log(c/M), [c > 0], [c = M], (c/M)^2 for c = 0..M."""
    u = np.arange(M + 1) / M
    H = np.empty((M + 1, 4))
    H[:, _ENT] = -xlogy(u, u)
    H[:, _SURV] = u > 0
    H[:, _FIX] = u == 1
    H[:, _SQ] = u * u
    return H


def _forward(q: np.ndarray, M: int, alpha: np.ndarray) -> np.ndarray:
    """E_t h(c^i) for t = 1..T by (C7), shape (G, T, 5): the four columns of H, then E|c/M - q_i|.

    Cost O(G T (M + 1)^2) multiply-adds, plus O(G (M + 1)^2) exponentials each time alpha_t changes value.
    """
    G, T = q.size, alpha.size
    out = np.empty((G, T, 5))
    if T == 0:
        return out
    log_coef, H, grid = _log_binom_coef(M), _count_functions(M), np.arange(M + 1) / M
    shared = None  # P(0) is the same for every category: built once, used as a plain matrix product
    chunk = max(1, int(_CHUNK_BYTES // (8 * (M + 1) ** 2)))
    for lo in range(0, G, chunk):
        qc = q[lo : lo + chunk]
        dev = np.abs(grid - qc[:, None])
        pi = _binomial_pmf(M, qc, log_coef)  # generation 1 is Binomial(M, q_i) whatever alpha_1 is
        P, built_for = None, None
        for t in range(1, T + 1):
            if t > 1:
                a = alpha[t - 1]
                if a == 0:
                    if shared is None:
                        shared = transition_matrix(0.0, M, 0.0, log_coef)
                    pi = pi @ shared
                else:
                    if built_for != a:  # a constant schedule builds each stack once
                        P, built_for = transition_matrix(qc, M, a, log_coef), a
                    pi = np.matmul(pi[:, None, :], P)[:, 0, :]
            out[lo : lo + chunk, t - 1, :4] = pi @ H
            out[lo : lo + chunk, t - 1, 4] = np.sum(pi * dev, axis=1)
    return out


def _tv_thresholds(q: np.ndarray, M: int) -> np.ndarray:
    """k_i = floor(M q_i) of (C10), shape (G,). A rounding error in M q only moves a term (q - c/M) ~ 1e-16."""
    return np.floor(M * q).astype(np.int64)


def _backward(q: np.ndarray, M: int, T: int, with_tv: bool) -> np.ndarray:
    """E_t h(c^i) for t = 1..T under replacement by (C8), shape (G, T, 5); column 4 (E|c/M - q_i|, eq. C10)
    is nan unless ``with_tv``.

    Cost O(T (M + 1)^2 n_col + G (M + 1) T) with n_col = 4, plus 1 + 2 per distinct floor(M q_i) with TV.
    Measured for K = M = 1000, T = 200, zipf truth q_i ~ 1/i (23 distinct thresholds, 51 columns), whole
    ``marginals`` call, 2-core CPU, numpy with OpenBLAS: 0.5 s (0.12 s without TV) with the CPU idle, about
    2 s while another process held a core. The forward method would need 2e11 multiply-adds for the same.
    """
    G = q.size
    out = np.full((G, T, 5), np.nan)
    if T == 0:
        return out
    log_coef = _log_binom_coef(M)
    H = _count_functions(M)
    if with_tv:
        ks, col = np.unique(_tv_thresholds(q, M), return_inverse=True)
        n = ks.size
        c = np.arange(M + 1)[:, None]
        below = c <= ks[None, :]  # (M + 1, n): [c <= k]
        # columns: 4 = c/M, 5 + j = [c <= k_j], 5 + n + j = (c/M) [c <= k_j]
        H = np.concatenate([H, c / M, below, (c / M) * below], axis=1)
    P = transition_matrix(0.0, M, 0.0, log_coef) if T > 1 else None
    V = np.empty((T, M + 1, H.shape[1]))
    V[0] = H
    for t in range(1, T):
        V[t] = np.dot(P, V[t - 1])  # np.dot: matmul with a skinny C-ordered right side ran 20x slower here
    pi1 = _binomial_pmf(M, q, log_coef)  # (G, M + 1)
    out[:, :, :4] = np.einsum("gm,tmf->gtf", pi1, V[:, :, :4], optimize=True)
    if with_tv:
        mean = pi1 @ V[:, :, 4].T  # E c_t / M, (G, T): q up to rounding (C3); used as computed so that
        # (C10) is an identity of the computed distributions and TV matches the forward method to ~1e-15
        for j in range(n):  # each category needs only its own threshold's two columns
            sel = col == j
            cdf = pi1[sel] @ V[:, :, 5 + j].T  # P(c_t <= k)
            partial = pi1[sel] @ V[:, :, 5 + n + j].T  # E[(c_t / M) [c_t <= k]]
            out[sel, :, 4] = mean[sel] - q[sel, None] + 2.0 * (q[sel, None] * cdf - partial)
    return out


def _stationary_pmfs(q: np.ndarray, M: int, a: float) -> np.ndarray:
    """Stationary pmf of P_i(a) for each entry of q (eq. C11), shape (G, M + 1). Cost O(G (M + 1)^3)."""
    log_coef = _log_binom_coef(M)
    out = np.empty((q.size, M + 1))
    chunk = max(1, int(_CHUNK_BYTES // (8 * (M + 1) ** 2)))
    for lo in range(0, q.size, chunk):
        P = transition_matrix(q[lo : lo + chunk], M, a, log_coef)
        # pi (I - P + 1 1^T) = 1^T: adding the all-ones matrix makes the singular I - P invertible.
        A = np.eye(M + 1) - P + 1.0
        out[lo : lo + chunk] = np.linalg.solve(np.swapaxes(A, 1, 2), np.ones((P.shape[0], M + 1, 1)))[..., 0]
    return out


def _assemble(q, per_group, inverse, Ep, bottom) -> dict:
    """Sum per-category expectations into the metric curves.

    Args:
      q: (K,) truth. per_group: (G, n, 5) expectations of the H columns and |c/M - q| for the n time points
      (NaN in column 4 when TV is unknown). inverse: (K,) group of each category. Ep: (K, n) E p_i.
    """
    E = per_group[inverse]  # (K, n, 5)
    survival, fixation = E[:, :, _SURV], E[:, :, _FIX]
    entropy = E[:, :, _ENT].sum(0)
    S = E[:, :, _SQ].sum(0)
    Q = float(np.sum(q * q))
    out = {
        "entropy": entropy,
        "gini_simpson": 1.0 - S,
        "support": survival.sum(0),
        "tail_mass": (q[:, None] * (1.0 - survival)).sum(0),
        "bottom_decile_mass": None if bottom is None else (q[bottom, None] * survival[bottom]).sum(0),
        "kl": -entropy - (Ep * np.log(q)[:, None]).sum(0),  # (C9)
        "tv": None if np.isnan(E[:, :, 4]).any() else 0.5 * E[:, :, 4].sum(0),
        "sq_error": S - 2 * (q[:, None] * Ep).sum(0) + Q,
        "survival": survival,
        "fixation": fixation,
    }
    return out


def forward_cost(truth, M: int, T: int) -> float:
    """Multiply-adds of the forward method (C7): K_distinct (T - 1) (M + 1)^2; about 2 ns each here.

    The backward method serves replacement at any size; a mix run pays this, so callers can decline a
    theory that would take minutes (K = M = 1000, T = 200: 2e11, several minutes).
    """
    return float(np.unique(_truth(truth)).size * max(T - 1, 0) * (M + 1) ** 2)


class Cost(NamedTuple):
    """What an exact routine will take, estimated before it allocates anything: the method it will use, its
    peak bytes (the dominant arrays, counted with the temporaries NumPy makes) and its seconds (2-core CPU)."""

    method: str
    bytes: float
    seconds: float


# Seconds per multiply-add of a NumPy loop of vector-matrix products (forward), of a BLAS matrix product
# (backward), and per exponential of a transition-matrix entry; measured on the 2-core development machine
# (K = M = 1000, T = 200 replace: 0.5 s backward; mix forward, K = 50, M = 200, T = 300: 1.1 s).
_S_PER_FORWARD_MAC, _S_PER_BLAS_MAC, _S_PER_ENTRY = 2e-9, 1e-10, 3e-8


def marginals_cost(truth, M: int, alpha, method: str = "auto") -> Cost:
    """Estimate :func:`marginals`' memory and time without allocating (same arguments; ``method`` resolved).

    Forward (C7): one chunk of transition matrices (``_CHUNK_BYTES``, at least one (M + 1)^2 matrix) and the
    shared P(0), each with ~4 temporaries, plus the per-category pmfs; time K_distinct (T - 1) (M + 1)^2
    multiply-adds plus an exponential per matrix entry each time alpha_t changes. Backward (C8): P with ~4
    temporaries, the T stacked (M + 1) x n_col columns and the per-category pmfs; time T (M + 1)^2 n_col
    BLAS multiply-adds. Both: the (K, T + 1, 5) per-category expectations, twice.
    """
    q, M, alpha = _truth(truth), _samples(M), _schedule(alpha)
    groups = np.unique(q)
    G, K, T, side = groups.size, q.size, alpha.size, float(M + 1)
    replacement = not np.any(alpha)
    if method == "auto":
        cheap = G * max(T - 1, 0) * side**2 <= FORWARD_BUDGET
        method = "forward" if (cheap or not replacement) else "backward"
    shared = K * (T + 1) * 5 * 8 * 2 + G * T * 5 * 8
    if method == "forward":
        stack = max(_CHUNK_BYTES, side**2 * 8)
        nbytes = shared + 4 * stack + 4 * side**2 * 8 + 3 * min(G, max(1, _CHUNK_BYTES // (8 * side**2))) * side * 8
        later = alpha[1:]  # a stack is rebuilt whenever a nonzero alpha_t differs from the one before it
        builds = np.count_nonzero((later != 0) & (later != np.concatenate([[np.nan], later[:-1]])))
        seconds = G * max(T - 1, 0) * side**2 * _S_PER_FORWARD_MAC + (builds * G + 1) * side**2 * _S_PER_ENTRY
    else:
        cols = 4 + (1 + 2 * min(np.unique(_tv_thresholds(groups, M)).size, BACKWARD_TV_MAX_THRESHOLDS))
        nbytes = shared + 4 * side**2 * 8 + T * side * cols * 8 + 2 * G * side * 8
        seconds = T * side**2 * cols * _S_PER_BLAS_MAC + side**2 * _S_PER_ENTRY + G * side * T * cols * _S_PER_BLAS_MAC
    return Cost(method, float(nbytes), float(seconds))


def marginals(truth, M: int, alpha, bottom=None, method: str = "auto") -> CategoricalTheory:
    """Every expected metric exactly, from the per-category chains (eqs. C2, C7-C10).

    Args:
      truth: (K,) probabilities, all > 0. M: draws per generation. alpha: (T,), zeros for replacement.
      bottom: optional boolean mask (K,) of the categories whose surviving truth mass is tracked.
      method: "forward" (C7: any schedule, TV always; O(K_distinct T M^2)), "backward" (C8: replacement
        only; O(T M^2 + K M T), TV while the distinct floor(M q_i) are few), or "auto": forward when
        alpha is not all zero or K_distinct T (M + 1)^2 <= FORWARD_BUDGET, else backward.
    Returns:
      CategoricalTheory; every curve (T + 1,) with index 0 the truth's own value; survival and fixation
      (K, T + 1). Categories with equal q_i share one chain, so a uniform truth costs one category.
    """
    q, M, alpha = _truth(truth), _samples(M), _schedule(alpha)
    bottom = _mask(bottom, q.size)
    if method not in ("auto", "forward", "backward"):
        raise ConfigError(f"method must be auto, forward or backward, got {method!r}")
    replacement = not np.any(alpha)
    if method == "backward" and not replacement:
        raise ConfigError("the backward method needs pure replacement (alpha all zero): P differs per category")
    groups, inverse = np.unique(q, return_inverse=True)
    T = alpha.size
    cost = marginals_cost(q, M, alpha, method)  # generation 1 needs no matrix, so auto counts T - 1 steps
    method = cost.method
    memory.check_fits(cost.bytes, f"the exact categorical theory (K={q.size}, M={M}, T={T}, {method} method)")
    if method == "forward":
        later = _forward(groups, M, alpha)
    else:
        with_tv = np.unique(_tv_thresholds(groups, M)).size <= BACKWARD_TV_MAX_THRESHOLDS
        later = _backward(groups, M, T, with_tv)
    first = np.empty((groups.size, 1, 5))  # generation 0: the truth itself, p_0 = q
    first[:, 0, _ENT] = -xlogy(groups, groups)
    first[:, 0, _SURV] = 1.0
    first[:, 0, _FIX] = groups == 1.0
    first[:, 0, _SQ] = groups**2
    first[:, 0, 4] = 0.0
    parts = _assemble(q, np.concatenate([first, later], axis=1), inverse, _expected_p(q, alpha), bottom)
    return CategoricalTheory(**parts)


def stationary(truth, M: int, alpha: float, bottom=None) -> dict:
    """Limits t -> infinity of every expected metric for a constant alpha in (0, 1] (eqs. C3, C9, C11).

    Returns a dict of floats: entropy, support, tail_mass, gini_simpson, sq_error, tv, kl (and
    bottom_decile_mass when ``bottom`` is given). Cost: one dense (M + 1)-square solve per distinct truth
    probability, O(K_distinct (M + 1)^3) (K = 50 distinct, M = 200: well under a second).
    """
    q, M, a = _truth(truth), _samples(M), _constant_alpha(alpha)
    bottom = _mask(bottom, q.size)
    groups, inverse = np.unique(q, return_inverse=True)
    side = float(M + 1)  # one chunk of matrices with the solve's copies, and the (G, M + 1) pmfs
    memory.check_fits(4 * max(_CHUNK_BYTES, side**2 * 8) + 3 * groups.size * side * 8,
               f"the exact stationary law (K={q.size} distinct {groups.size}, M={M})")
    pi = _stationary_pmfs(groups, M, a)  # (G, M + 1)
    grid = np.arange(M + 1) / M
    per_group = np.empty((groups.size, 1, 5))
    per_group[:, 0, :4] = pi @ _count_functions(M)
    per_group[:, 0, 4] = np.sum(pi * np.abs(grid - groups[:, None]), axis=1)
    parts = _assemble(q, per_group, inverse, q[:, None], bottom)  # E p = q at the fixed point of (C3)
    keys = ["entropy", "support", "tail_mass", "gini_simpson", "sq_error", "tv", "kl"]
    if bottom is not None:
        keys.append("bottom_decile_mass")
    return {k: float(parts[k][0]) for k in keys}


def fixation_probability(truth, M: int, T: int) -> np.ndarray:
    """P(c_t^i = M) under replacement, shape (K, T + 1); tends to q_i as t -> infinity (eq. C12)."""
    return marginals(truth, M, np.zeros(_whole(T, "T (generations)", 0))).fixation


# -------------------------------------------------------------------------------- approximations (A1, A2)


def approx_entropy(truth, M: int, T: int) -> np.ndarray:
    """APPROXIMATION (A1), shape (T + 1,): H(q) - t (K - 1) / (2M), clipped at 0.

    Miller-Madow: refitting K categories from M draws loses about (K - 1) / (2M) nats in expectation while
    every M q_i is large; it ignores lost categories and overstates the loss once the tail dies.
    """
    q, M, T = _truth(truth), _samples(M), _whole(T, "T (generations)", 0)
    H0 = float(-np.sum(xlogy(q, q)))
    return np.maximum(H0 - np.arange(T + 1) * (q.size - 1) / (2.0 * M), 0.0)


def approx_stationary_sq_error(truth, M: int, alpha: float) -> float:
    """APPROXIMATION (A2): G_0 / (2 alpha M), the stationary E sum (p - q)^2 for small alpha and large alpha M.

    The exact value is ``stationary_gini_sq_error(...)[1]`` = G_0 / (M (2a - a^2) + (1 - a)^2): about 3%
    above the approximation at alpha = 0.1, M = 200 (the -a^2 M term), and far below it as alpha M -> 0.
    """
    q, M, a = _truth(truth), _samples(M), _constant_alpha(alpha)
    return float((1.0 - np.sum(q * q)) / (2.0 * a * M))


# ---------------------------------------------------------------------------------------------- the CLI


def predictions(policy: str, truth, M: int, alpha, bottom=None) -> dict:
    """Exact expected curves keyed by metric name, each (T + 1,); {} for policies without exact theory.

    "replace" ignores alpha's values (only its length T); "mix" uses the schedule. TV is absent when the
    backward method could not give it; bottom_decile_mass only with a ``bottom`` mask. Gini-Simpson and
    squared error come from the 2 x 2 recursion (C4), which agrees with the marginals to rounding.
    """
    if policy not in ("replace", "mix"):
        return {}
    alpha = _schedule(alpha)
    if policy == "replace":
        alpha = np.zeros_like(alpha)
    m = marginals(truth, M, alpha, bottom)
    out = {
        "entropy": m.entropy,
        "gini_simpson": expected_gini_simpson(truth, M, alpha),
        "support": m.support,
        "tail_mass": m.tail_mass,
        "kl": m.kl,
        "sq_error": expected_sq_error(truth, M, alpha),
    }
    if m.bottom_decile_mass is not None:
        out["bottom_decile_mass"] = m.bottom_decile_mass
    if m.tv is not None:
        out["tv"] = m.tv
    return out


ENTROPY_APPROX_LABEL = "small-noise approx: -(K-1)/(2M) per generation"
SQ_ERROR_APPROX_LABEL = "small-noise approx: G0/(2 alpha M)"


def approximations(policy: str, truth, M: int, alpha) -> dict:
    """Approximate curves: {metric: {label: (T + 1,) array}}; only where (A1) or (A2) applies, else {}.

    "replace": the entropy line (A1). "mix" with a constant alpha > 0: the stationary squared error (A2) as
    a flat curve (it describes the limit, not the transient from 0).
    """
    alpha = _schedule(alpha)
    T = alpha.size
    if policy == "replace":
        return {"entropy": {ENTROPY_APPROX_LABEL: approx_entropy(truth, M, T)}}
    if policy == "mix" and T > 0 and np.all(alpha == alpha[0]) and alpha[0] > 0:
        level = approx_stationary_sq_error(truth, M, float(alpha[0]))
        return {"sq_error": {SQ_ERROR_APPROX_LABEL: np.full(T + 1, level)}}
    return {}


#: An exact per-category theory runs in a run's pipeline only within this time (seconds, estimated by
#: :func:`marginals_cost`) and this share of the machine's memory; beyond either, the run keeps the closed
#: forms that cost O(T) (Gini-Simpson and squared error, eq. C4) and the labelled approximations, and says so.
THEORY_SECONDS_BUDGET = 60.0
THEORY_MEMORY_SHARE = 0.5


def theory_plan(truth, M: int, alpha, available: int | None = None) -> tuple[Cost, str]:
    """(the exact theory's estimated cost, '' when it fits, else the one-line reason it is skipped)."""
    cost = marginals_cost(truth, M, alpha)
    avail = memory.available_bytes() if available is None else available
    if avail and cost.bytes > THEORY_MEMORY_SHARE * avail:
        return cost, (f"needs ~{memory.gib(cost.bytes)} of memory ({cost.method} method), this machine has {memory.gib(avail)}")
    if cost.seconds > THEORY_SECONDS_BUDGET:
        return cost, f"would take ~{cost.seconds:,.0f} s ({cost.method} method)"
    return cost, ""


def closed_form_predictions(policy: str, truth, M: int, alpha) -> dict:
    """The exact curves that cost O(T) at any size: Gini-Simpson and squared error (eq. C4), (T + 1,) each."""
    alpha = np.zeros_like(_schedule(alpha)) if policy == "replace" else _schedule(alpha)
    return {"gini_simpson": expected_gini_simpson(truth, M, alpha), "sq_error": expected_sq_error(truth, M, alpha)}
