"""K-wise Bradley-Terry curation of a categorical law: the exact law of the winner, the ideal learner's map,
its stationary point under mix, and the exact expected metrics of one curated generation at finite n.

Setting (Ferbach, Bertrand, Bose, Gidel, NeurIPS 2024). A synthetic training point is the winner of K i.i.d.
draws X_1..X_K from the model's law p over V tokens: draw j wins with probability
e^{r(X_j)/b} / sum_l e^{r(X_l)/b} (reward r, temperature b > 0). With w_y = e^{r(y)/b}, the winner's law is

    q(x) = K p(x) E[ w_x / (w_x + sum_{j<K} w_{X_j}) ]                                      (eq. Q1)

(by symmetry the winner is X_1 with probability 1/K, hence the factor K). Writing 1/a = int_0^inf e^{-a t} dt
and using the independence of the X_j,

    q(x) = K p(x) w_x int_0^inf e^{-t w_x} M(t)^(K-1) dt,   M(t) = sum_y p(y) e^{-t w_y}      (eq. Q2)

a one-dimensional integral (sum_x q(x) = int_0^inf -d/dt M(t)^K dt = 1). Several rewards r_1..r_R, each
K-tuple judged by one of them uniformly at random: q = (1/R) sum_rho q_rho (eq. Q3).

Numerics of (Q2): q depends on w only through ratios, so w is scaled to max 1 over the live tokens; with
t = e^s the integrand t w_x e^{-t w_x} M(t)^(K-1) is an analytic bump in s of width O(1) that decays doubly
exponentially on the right and like e^s on the left, so the trapezoid rule in s on a fine grid converges
geometrically (error ~ exp(-pi^2 / h) for step h); the grid runs from t = 1e-30 to t = 60 / min w. The result
is divided by its sum: the integral gives sum_x q(x) = (sum_y p(y))^K, so the rounding of sum p would grow K-fold
in every generation of an iterated map.

Chains (the categorical family's mix policy, replace being alpha = 0): the next model is the count
distribution of n i.i.d. draws from m_t = alpha_t p* + (1 - alpha_t) q(p_{t-1}) (each point real with
probability alpha_t, else a curated synthetic point). So

- the ideal learner (n = inf) is the deterministic map p_t = alpha_t p* + (1 - alpha_t) q(p_{t-1}) (eq. Q4):
  exact for n = inf, an approximation at finite n (q is not linear, so E q(p) != q(E p));
- one generation from the truth at finite n is exact: n p_1 ~ Multinomial(n, m_1), each count Binomial(n, m_1,i),
  so every metric's expectation is a sum of per-token binomial expectations (:func:`multinomial_expectations`);
- its stationary point under a constant alpha > 0 is the fixed point p = alpha p* + (1 - alpha) q(p) (eq. Q5).
Checked independently in ``proofs_check/curation.py`` (exact enumeration of K-tuples in rationals).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

#: Step of the trapezoid rule in s = log t for (Q2); the error is about exp(-pi^2 / STEP), far below float64.
STEP = 0.1
#: The integral's range in t, relative to the live rewards: below T_LOW the integrand is < T_LOW w_x; above
#: T_HIGH / min w every term carries e^{-60}.
T_LOW, T_HIGH = 1e-30, 60.0
#: Largest spread (max - min) / b of the live rewards the float64 integral resolves (e^-700 is near float64's
#: smallest number).
MAX_SPREAD = 700.0


def _rewards(reward) -> np.ndarray:
    """reward as (R, V) float64 (a (V,) vector is R = 1)."""
    r = np.asarray(reward, np.float64)
    return r[None] if r.ndim == 1 else r


def winner_law_one(p, reward, k: int, beta: float) -> np.ndarray:
    """q (V,) of eq. (Q1) for one reward vector (V,): the law of the Bradley-Terry winner of k i.i.d. draws
    from p (V,) (zeros allowed), by the integral (Q2). k = 1 returns p."""
    p = np.asarray(p, np.float64)
    if k == 1:
        return p.copy()
    live = p > 0
    s = np.asarray(reward, np.float64) / beta
    spread = s[live].max() - s[live].min()
    if spread > MAX_SPREAD:
        raise ValueError(f"reward spread / temperature {spread:.3g} exceeds {MAX_SPREAD:g}: not resolvable in float64")
    w = np.where(live, np.exp(s - s[live].max()), 0.0)  # max over the live tokens 1
    grid = np.arange(np.log(T_LOW), np.log(T_HIGH / w[live].min()) + STEP, STEP)
    t = np.exp(grid)[:, None]  # (G, 1)
    decay = np.exp(-t * w[live])  # (G, L)
    m = decay @ p[live]  # M(t), (G,)
    integrand = t * w[live] * decay * (m ** (k - 1))[:, None]  # (G, L): dt = t ds
    q = np.zeros_like(p)
    q[live] = k * p[live] * STEP * integrand.sum(axis=0)
    return q / q.sum()


def winner_law(p, reward, k: int, beta: float) -> np.ndarray:
    """q (V,) of eq. (Q3): the winner's law averaged over the R rewards of ``reward`` (R, V) or (V,)."""
    return np.mean([winner_law_one(p, r, k, beta) for r in _rewards(reward)], axis=0)


def ideal_trajectory(truth, reward, k: int, beta: float, alpha) -> np.ndarray:
    """p_0..p_T (T + 1, V) of the ideal learner, eq. (Q4): p_0 = truth, alpha (T,) the real share per generation
    (zeros: replace). Exact for n = inf only."""
    truth = np.asarray(truth, np.float64)
    alpha = np.asarray(alpha, np.float64)
    out = np.empty((alpha.size + 1, truth.size))
    out[0] = truth
    for t, a in enumerate(alpha, start=1):
        out[t] = a * truth + (1 - a) * winner_law(out[t - 1], reward, k, beta)
    return out


def stationary_point(truth, reward, k: int, beta: float, alpha: float, tol: float = 1e-13,
                     max_iter: int = 100_000) -> np.ndarray:
    """The fixed point (V,) of p = alpha truth + (1 - alpha) q(p) (eq. Q5) for alpha in (0, 1], by iterating the
    ideal learner's map from the truth; raises ValueError if it has not settled within ``max_iter`` steps."""
    if not 0 < alpha <= 1:
        raise ValueError(f"the stationary point needs a real share alpha in (0, 1], got {alpha}")
    truth = np.asarray(truth, np.float64)
    p = truth
    for _ in range(max_iter):
        nxt = alpha * truth + (1 - alpha) * winner_law(p, reward, k, beta)
        if np.abs(nxt - p).sum() < tol:
            return nxt
        p = nxt
    raise ValueError(f"the curated map did not settle in {max_iter} iterations (alpha {alpha})")


def law_metrics(p, truth, reward, bottom=None) -> dict:
    """The categorical family's metrics of a law p (V,) against the truth (V,), with expected_reward the mean
    over the R rewards (R, V) of sum p r: the ideal learner's values (no sampling)."""
    p, truth = np.asarray(p, np.float64), np.asarray(truth, np.float64)
    alive = p > 0
    logp = np.log(np.where(alive, p, 1.0))
    out = {
        "entropy": -np.sum(p * logp),
        "gini_simpson": 1.0 - np.sum(p * p),
        "support": float(alive.sum()),
        "tail_mass": float(truth[~alive].sum()),
        "tv": 0.5 * np.abs(p - truth).sum(),
        "kl": np.sum(p * (logp - np.log(truth))),
        "sq_error": np.sum((p - truth) ** 2),
        "expected_reward": float(p @ _rewards(reward).mean(axis=0)),
    }
    if bottom is not None:
        out["bottom_decile_mass"] = float(truth[alive & np.asarray(bottom, bool)].sum())
    return out


def multinomial_expectations(m, n: int, truth, reward, bottom=None) -> dict:
    """Exact expectations of the categorical family's metrics of p = c / n with c ~ Multinomial(n, m) (m (V,)):
    each metric is a sum over tokens of a function of one count, and count i is Binomial(n, m_i)."""
    m, truth = np.asarray(m, np.float64), np.asarray(truth, np.float64)
    # A law curated near its point mass holds subnormal shares (1e-310), on which scipy's binomial pmf
    # overflows; below 1e-250 a token's n draws are all zero to double precision anyway.
    m = np.clip(np.where(m < 1e-250, 0.0, m), 0.0, 1.0)
    c = np.arange(n + 1)
    pmf = stats.binom.pmf(c[None], n, m[:, None])  # (V, n + 1)
    x = c / n
    xlogx = np.where(c > 0, x * np.log(np.where(c > 0, x, 1.0)), 0.0)
    dead = (1.0 - m) ** n  # P(c_i = 0)
    out = {
        "entropy": -float((pmf @ xlogx).sum()),
        "gini_simpson": 1.0 - float(np.sum(m * (1 - m) / n + m * m)),
        "support": float(np.sum(1.0 - dead)),
        "tail_mass": float(truth @ dead),
        "tv": 0.5 * float(np.sum(pmf * np.abs(x[None] - truth[:, None]))),
        "kl": float((pmf @ xlogx).sum() - m @ np.log(truth)),
        "sq_error": float(np.sum(m * (1 - m) / n + (m - truth) ** 2)),
        "expected_reward": float(m @ _rewards(reward).mean(axis=0)),
    }
    if bottom is not None:
        out["bottom_decile_mass"] = float(truth @ np.where(np.asarray(bottom, bool), 1.0 - dead, 0.0))
    return out


def predictions(truth, reward, k: int, beta: float, n: int, alpha, bottom=None) -> tuple[dict, dict, str]:
    """(curves, approx, note) of a curated replace or mix run of T = len(alpha) generations from the truth.

    curves: metric -> (T + 1,), exact at generations 0 and 1 (one curated generation from the truth), nan
    after (the finite-n chain's law is not tracked). approx: metric -> {label: (T + 1,)}: the ideal learner
    (eq. Q4, exact for n = inf), and the ideal learner's law followed by one generation of exact finite-n
    sampling noise (exact at generation 1).
    """
    truth = np.asarray(truth, np.float64)
    alpha = np.asarray(alpha, np.float64)
    T = alpha.size
    ideal = ideal_trajectory(truth, reward, k, beta, alpha)
    first = {name: np.full(T + 1, np.nan) for name in law_metrics(truth, truth, reward, bottom)}
    at0 = law_metrics(truth, truth, reward, bottom)
    at1 = multinomial_expectations(ideal[1], n, truth, reward, bottom)
    for name in first:
        first[name][0], first[name][1] = at0[name], at1[name]
    ideal_curves = [law_metrics(p, truth, reward, bottom) for p in ideal]
    noisy = [at0] + [multinomial_expectations(p, n, truth, reward, bottom) for p in ideal[1:]]
    approx = {}
    for name in first:
        approx[name] = {"ideal learner (n = inf)": np.array([c[name] for c in ideal_curves])}
        if name != "expected_reward":  # linear in p: the noise leaves its mean alone
            approx[name]["ideal learner + one generation's sampling noise"] = np.array([c[name] for c in noisy])
    note = ("curated theory: exact at generations 0 and 1 (one curated generation from the truth); later generations "
            "drawn as approximations (the ideal learner, n = inf)") if T > 1 else ""
    return first, approx, note
