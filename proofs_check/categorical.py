"""Checks of every exact statement in ``collapsim.theory.categorical`` (equations C1-C12).

Two kinds of evidence. Symbolic (sympy): the binomial moments from the probability generating function,
the affine map (C4) for the second moments derived from them, its replacement solution (C5) and fixed point
(C6), and the martingale behind the fixation probability (C12); the module's numbers are then compared with
the derived expressions at concrete values to 1e-12. Exact enumeration: for small K and M the whole
multinomial chain (C1) over all count vectors is built in rational arithmetic (``fractions.Fraction``), so
the distribution of every generation is known exactly; every metric's expectation, per-category survival and
fixation, and the stationary law under a constant alpha are compared with the module's per-category
(M + 1)-state computations (C2, C7-C11) to 1e-12. Only the final expectations of entropy and KL are floats.

Run: ``python -m proofs_check.categorical`` (the test suite runs it too).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np
import sympy as sp
from sympy.stats import E as expect
from sympy.stats import Binomial

from collapsim.theory import categorical as th

x, s, a = sp.symbols("x s a", nonnegative=True)
M = sp.Symbol("M", positive=True, integer=True)
Qs, Rs, Ss = sp.symbols("Q R S", nonnegative=True)


def _close(got, want, tol=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.allclose(got, want, rtol=tol, atol=tol), (got, want, np.max(np.abs(got - want)))


def _binomial_moments():
    """(E c, E c^2) for c ~ Binomial(M, x) with symbolic M, from the pgf E s^c = (1 - x + x s)^M."""
    pgf = (1 - x + x * s) ** M
    first = sp.diff(pgf, s).subs(s, 1)
    factorial2 = sp.diff(pgf, s, 2).subs(s, 1)  # E c (c - 1)
    return sp.simplify(first), sp.expand(sp.simplify(factorial2 + first))


def _claimed_map():
    """The module's (C4), as sympy expressions in (Q, R, S, a, M)."""
    S_next = (1 - 1 / M) * (a**2 * Qs + 2 * a * (1 - a) * Rs + (1 - a) ** 2 * Ss) + 1 / M
    R_next = a * Qs + (1 - a) * Rs
    return S_next, R_next


def check_binomial_moments():
    """E c' = M x and E c'^2 = M x (1 - x) + M^2 x^2, for symbolic M (pgf) and, concretely, from the pmf."""
    m1, m2 = _binomial_moments()
    assert sp.simplify(m1 - M * x) == 0
    assert sp.simplify(m2 - (M * x * (1 - x) + M**2 * x**2)) == 0
    for m in range(1, 8):  # the pgf is the pmf's generating function (binomial theorem), and sympy.stats agrees
        pmf_sum = sum(sp.binomial(m, k) * x**k * (1 - x) ** (m - k) * s**k for k in range(m + 1))
        assert sp.expand(pmf_sum - ((1 - x + x * s) ** m)) == 0
        X = Binomial("X", m, x)
        assert sp.simplify(expect(X) - m1.subs(M, m)) == 0
        assert sp.simplify(expect(X**2) - m2.subs(M, m)) == 0
    return "E c = M x, E c^2 = M x (1-x) + M^2 x^2"


def check_second_moment_recursion():
    """(C3, C4) derived from the binomial moments, then the module iterated against the derived map."""
    _, m2 = _binomial_moments()
    S_next, R_next = _claimed_map()
    # Termwise, for any one category: x_i = a q_i + (1 - a) u_i (u = current model), so
    # E[(c_i'/M)^2 | u] = m2 / M^2 = x_i^2 (1 - 1/M) + x_i / M, and x_i^2 expands into the Q, R, S terms.
    qi, ui = sp.symbols("q_i u_i", nonnegative=True)
    xi = a * qi + (1 - a) * ui
    per_cat = sp.simplify(m2.subs(x, xi) / M**2)
    assert sp.simplify(per_cat - ((1 - 1 / M) * xi**2 + xi / M)) == 0
    assert sp.expand(xi**2 - (a**2 * qi**2 + 2 * a * (1 - a) * qi * ui + (1 - a) ** 2 * ui**2)) == 0
    # Summed over categories sum_i x_i / M = 1 / M. Check the whole sum for K = 3 and K = 4 explicitly.
    for K in (3, 4):
        q = list(sp.symbols(f"q1:{K}", nonnegative=True))
        u = list(sp.symbols(f"u1:{K}", nonnegative=True))
        q.append(1 - sum(q))
        u.append(1 - sum(u))
        xs = [a * qq + (1 - a) * uu for qq, uu in zip(q, u)]
        derived_S = sum(m2.subs(x, xx) / M**2 for xx in xs)
        derived_R = sum(qq * xx for qq, xx in zip(q, xs))  # E[c_i'/M | u] = x_i  (eq. C3)
        subs = {Qs: sum(qq**2 for qq in q), Rs: sum(qq * uu for qq, uu in zip(q, u)), Ss: sum(uu**2 for uu in u)}
        assert sp.simplify(derived_S - S_next.subs(subs)) == 0
        assert sp.simplify(derived_R - R_next.subs(subs)) == 0
    # The map is affine in (S, R), so expectations over the previous generation follow it. Iterate the
    # sympy map numerically and compare with the module, under a schedule that includes 0 and 1.
    step = sp.lambdify((Qs, Rs, Ss, a, M), [S_next, R_next])
    truth = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    alpha = np.array([0.3, 0.0, 1.0, 0.25, 0.1, 0.0, 0.6])
    Q = float(np.sum(truth**2))
    S_ref, R_ref = [Q], [Q]
    for a_ in alpha:
        S_t, R_t = step(Q, R_ref[-1], S_ref[-1], a_, 9)
        S_ref.append(S_t)
        R_ref.append(R_t)
    S_ref, R_ref = np.array(S_ref), np.array(R_ref)
    _close(th.expected_gini_simpson(truth, 9, alpha), 1 - S_ref)
    _close(th.expected_sq_error(truth, 9, alpha), S_ref - 2 * R_ref + Q)
    # (C3): R stays Q because E p_t stays q.
    _close(R_ref, np.full(alpha.size + 1, Q))
    return "E S' = (1-1/M)[a^2 Q + 2a(1-a) R + (1-a)^2 S] + 1/M, E R' = a Q + (1-a) R"


def check_replacement_gini():
    """(C5) at a = 0 the map gives 1 - S' = (1 - 1/M)(1 - S), so E G_t = (1 - 1/M)^t G_0 by induction."""
    S_next, _ = _claimed_map()
    assert sp.simplify((1 - S_next.subs(a, 0)) - (1 - 1 / M) * (1 - Ss)) == 0
    t, G0 = sp.symbols("t G0", nonnegative=True)
    closed = (1 - 1 / M) ** t * G0
    assert sp.simplify(closed.subs(t, t + 1) - (1 - 1 / M) * closed) == 0 and closed.subs(t, 0) == G0
    truth = np.array([0.4, 0.3, 0.2, 0.1])
    G_0 = 1 - np.sum(truth**2)
    want = G_0 * (1 - 1 / 7) ** np.arange(41)
    _close(th.expected_gini_simpson(truth, 7, np.zeros(40)), want)
    _close(th.marginals(truth, 7, np.zeros(40)).gini_simpson, want)
    return "replace: E G_t = (1 - 1/M)^t G_0"


def check_stationary_moments():
    """(C6) fixed point of (C4) for constant a: error G_0 / (M [1 - (1 - a)^2 (1 - 1/M)]); (A2) its leading term."""
    S_next, R_next = _claimed_map()
    sol = sp.solve([sp.Eq(Ss, S_next), sp.Eq(Rs, R_next)], [Ss, Rs], dict=True)
    assert len(sol) == 1
    err = sp.simplify((sol[0][Ss] - 2 * sol[0][Rs] + Qs))
    G0 = 1 - Qs
    closed = G0 / (M * (1 - (1 - a) ** 2 * (1 - 1 / M)))
    assert sp.simplify(err - closed) == 0
    # Equivalently G_0 / (M (2a - a^2) + (1 - a)^2): (A2) is its leading term when a -> 0 and a M -> inf.
    assert sp.simplify(closed - G0 / (M * (2 * a - a**2) + (1 - a) ** 2)) == 0
    e, a0, m0 = sp.symbols("e alpha0 m0", positive=True)
    ratio = sp.simplify((closed * 2 * a * M / G0).subs({a: e * a0, M: 1 / (e**2 * m0)}))
    assert sp.limit(ratio, e, 0) == 1
    # but not when a M stays bounded: with 1/M = e m0 the ratio tends to 2 a0 / (2 a0 + m0), not 1.
    bounded = sp.simplify((closed * 2 * a * M / G0).subs({a: e * a0, M: 1 / (e * m0)}))
    assert sp.simplify(sp.limit(bounded, e, 0) - 2 * a0 / (2 * a0 + m0)) == 0
    truth = np.array([0.5, 0.25, 0.125, 0.125])
    gini, sq = th.stationary_gini_sq_error(truth, 30, 0.2)
    Q = float(np.sum(truth**2))
    _close(sq, float(closed.subs({Qs: Q, M: 30, a: 0.2})))
    _close(gini, 1 - float(sol[0][Ss].subs({Qs: Q, M: 30, a: 0.2})))
    # The recursion converges to it (contraction factor (1 - a)^2 (1 - 1/M) < 1).
    _close(th.expected_sq_error(truth, 30, np.full(400, 0.2))[-1], sq)
    _close(th.expected_gini_simpson(truth, 30, np.full(400, 0.2))[-1], gini)
    return "stationary E sum (p - q)^2 = G0 / (M (2a - a^2) + (1-a)^2) ~ G0 / (2 a M) for a -> 0, a M -> inf"


def check_fixation_is_truth_probability():
    """(C12) under replacement E[c'/M | c] = c/M: a bounded martingale absorbed at 0 or 1, so P(fix) = q_i."""
    m1, _ = _binomial_moments()
    c = sp.Symbol("c", nonnegative=True)
    assert sp.simplify(m1.subs(x, c / M) / M - c / M) == 0
    # Absorption: from any interior state both 0 and M are reached with positive probability in one step,
    # so P(not absorbed by t) -> 0 geometrically and E p_inf = E p_0 = q_i with p_inf in {0, 1}.
    for truth, m in [(np.array([0.5, 0.3, 0.2]), 5), (np.array([0.4, 0.4, 0.1, 0.1]), 6)]:
        fix = th.fixation_probability(truth, m, 250)
        _close(fix[:, -1], truth, 1e-10)
        _close(fix.sum(0)[-1], 1.0, 1e-10)
        assert np.all(np.diff(fix, axis=1) >= -1e-15)  # absorbing: fixation can only accumulate
    return "E[c'/M | c] = c/M, fixation probability = q_i"


# ------------------------------------------------------------------------- exact enumeration of the chain


def _compositions(m: int, k: int):
    """All count vectors (c_1..c_k) of non-negative integers summing to m."""
    return [c for c in product(range(m + 1), repeat=k) if sum(c) == m]


def _multinomial(m: int, counts, probs) -> Fraction:
    coef = math.factorial(m)
    for c in counts:
        coef //= math.factorial(c)
    out = Fraction(coef)
    for c, p in zip(counts, probs):
        out *= p**c
    return out


def _full_step(states, q, m: int, alpha: Fraction):
    """Exact multinomial transition matrix of (C1) over ``states``, as a list of rows of Fractions."""
    rows = []
    for c in states:
        xs = [alpha * qq + (1 - alpha) * Fraction(cc, m) for qq, cc in zip(q, c)]
        rows.append([_multinomial(m, c2, xs) for c2 in states])
    return rows


def _metrics(c, q, m: int, bottom):
    """Every metric of one count vector: exact Fractions except entropy and KL (floats)."""
    p = [Fraction(cc, m) for cc in c]
    return {
        "entropy": -sum(float(pp) * math.log(pp) for pp in p if pp > 0),
        "gini_simpson": 1 - sum(pp * pp for pp in p),
        "support": sum(1 for pp in p if pp > 0),
        "tail_mass": sum(qq for qq, pp in zip(q, p) if pp == 0),
        "bottom_decile_mass": sum(qq for qq, pp, b in zip(q, p, bottom) if b and pp > 0),
        "tv": sum(abs(pp - qq) for pp, qq in zip(p, q)) / 2,
        "kl": sum(float(pp) * math.log(pp / qq) for pp, qq in zip(p, q) if pp > 0),
        "sq_error": sum((pp - qq) ** 2 for pp, qq in zip(p, q)),
        "survival": [int(pp > 0) for pp in p],
        "fixation": [int(pp == 1) for pp in p],
    }


def _expectation(dist, states, q, m, bottom) -> dict:
    """E of every metric under an exact distribution over ``states`` (floats at the very end)."""
    per_state = [_metrics(c, q, m, bottom) for c in states]
    out = {}
    for key in per_state[0]:
        if key in ("survival", "fixation"):
            out[key] = [float(sum(w * f[key][i] for w, f in zip(dist, per_state))) for i in range(len(q))]
        elif key in ("entropy", "kl"):
            out[key] = sum(float(w) * f[key] for w, f in zip(dist, per_state))
        else:
            out[key] = float(sum(w * f[key] for w, f in zip(dist, per_state)))
    return out


def _exact_curves(q, m: int, alpha, bottom) -> dict:
    """Exact expected curves (T + 1,) and per-category (K, T + 1) by propagating the full chain."""
    states = _compositions(m, len(q))
    p0 = list(q)  # generation 0 is the truth itself
    gen0 = {
        "entropy": -sum(float(pp) * math.log(pp) for pp in p0),
        "gini_simpson": float(1 - sum(pp * pp for pp in p0)),
        "support": float(len(q)),
        "tail_mass": 0.0,
        "bottom_decile_mass": float(sum(qq for qq, b in zip(q, bottom) if b)),
        "tv": 0.0,
        "kl": 0.0,
        "sq_error": 0.0,
        "survival": [1.0] * len(q),
        "fixation": [float(pp == 1) for pp in p0],
    }
    dist = [_multinomial(m, c, q) for c in states]  # generation 1 ~ Multinomial(M, q) whatever alpha_1
    rows = [gen0, _expectation(dist, states, q, m, bottom)]
    for alpha_t in alpha[1:]:
        P = _full_step(states, q, m, alpha_t)
        dist = [sum(dist[i] * P[i][j] for i in range(len(states))) for j in range(len(states))]
        assert sum(dist) == 1
        rows.append(_expectation(dist, states, q, m, bottom))
    out = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    out["survival"], out["fixation"] = out["survival"].T, out["fixation"].T
    return out


def _compare(theory, exact, skip=()):
    for key, want in exact.items():
        if key in skip:
            continue
        got = getattr(theory, key)
        assert got is not None, key
        _close(got, want)


CASES = [  # (truth as exact rationals, M, bottom mask); the second has a tie, exercising the grouping
    ((Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)), 4, (False, False, True)),
    ((Fraction(1, 3), Fraction(1, 4), Fraction(1, 4), Fraction(1, 6)), 3, (False, True, False, True)),
]


def check_exact_enumeration_schedule():
    """(C2, C3, C7, C9) against the exact full multinomial chain, alpha schedule [0, 1/3, 1/5, 1/2, 0]."""
    alpha = [Fraction(0), Fraction(1, 3), Fraction(1, 5), Fraction(1, 2), Fraction(0)]
    worst = 0
    for q, m, bottom in CASES:
        exact = _exact_curves(q, m, alpha, bottom)
        truth, mask = np.array([float(v) for v in q]), np.array(bottom)
        for method in ("auto", "forward"):
            _compare(th.marginals(truth, m, np.array([float(v) for v in alpha]), mask, method=method), exact)
        worst = max(worst, len(_compositions(m, len(q))))
    return f"every metric, survival and fixation exact to 1e-12 (full chains up to {worst} states)"


def check_exact_enumeration_replacement():
    """(C7, C8, C10) against the exact full chain under replacement, forward and backward methods."""
    for q, m, bottom in CASES:
        alpha = [Fraction(0)] * 6
        exact = _exact_curves(q, m, alpha, bottom)
        truth, mask = np.array([float(v) for v in q]), np.array(bottom)
        for method in ("forward", "backward"):
            _compare(th.marginals(truth, m, np.zeros(6), mask, method=method), exact)
        pred = th.predictions("replace", truth, m, np.full(6, 0.7), mask)  # replace ignores alpha's values
        for key, curve in pred.items():
            _close(curve, exact[key])
    return "replace: forward and backward (TV by thresholds) exact to 1e-12"


def _solve_exact(A, b):
    """Solve A y = b over the rationals by Gauss-Jordan elimination."""
    n = len(A)
    aug = [list(row) + [bb] for row, bb in zip(A, b)]
    for col in range(n):
        piv = next(r for r in range(col, n) if aug[r][col] != 0)
        aug[col], aug[piv] = aug[piv], aug[col]
        inv = 1 / aug[col][col]
        aug[col] = [v * inv for v in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0:
                f = aug[r][col]
                aug[r] = [v - f * w for v, w in zip(aug[r], aug[col])]
    return [row[n] for row in aug]


def check_exact_stationary():
    """(C11) the full chain's exact stationary law under constant alpha vs ``stationary(...)``."""
    for (q, m, bottom), alpha in zip(CASES, (Fraction(1, 3), Fraction(1, 2))):
        states = _compositions(m, len(q))
        P = _full_step(states, q, m, alpha)
        n = len(states)
        # pi (P - I) = 0 with the last balance equation replaced by sum pi = 1 (the chain is irreducible).
        A = [[P[i][j] - (1 if i == j else 0) for i in range(n)] for j in range(n)]
        A[-1] = [Fraction(1)] * n
        pi = _solve_exact(A, [Fraction(0)] * (n - 1) + [Fraction(1)])
        assert all(v > 0 for v in pi)
        exact = _expectation(pi, states, q, m, bottom)
        got = th.stationary(np.array([float(v) for v in q]), m, float(alpha), np.array(bottom))
        for key, value in got.items():
            _close(value, exact[key])
        gini, sq = th.stationary_gini_sq_error(np.array([float(v) for v in q]), m, float(alpha))
        _close([gini, sq], [exact["gini_simpson"], exact["sq_error"]])
    return "stationary metrics exact to 1e-12 (alpha 1/3 and 1/2)"


def check_backward_matches_forward():
    """(C8) equals (C7) under replacement on a moderate case: K = 20 zipf, M = 60, T = 30."""
    truth = 1.0 / np.arange(1, 21)
    truth /= truth.sum()
    bottom = np.arange(20) >= 18
    f = th.marginals(truth, 60, np.zeros(30), bottom, method="forward")
    b = th.marginals(truth, 60, np.zeros(30), bottom, method="backward")
    worst = 0.0
    for key in f._fields:
        _close(getattr(b, key), getattr(f, key))
        worst = max(worst, float(np.max(np.abs(getattr(b, key) - getattr(f, key)))))
    return f"backward = forward, max difference {worst:.1e}"


CHECKS = [
    check_binomial_moments,
    check_second_moment_recursion,
    check_replacement_gini,
    check_stationary_moments,
    check_fixation_is_truth_probability,
    check_exact_enumeration_schedule,
    check_exact_enumeration_replacement,
    check_exact_stationary,
    check_backward_matches_forward,
]

if __name__ == "__main__":
    for check in CHECKS:
        print(f"ok  {check.__name__}: {check()}")
