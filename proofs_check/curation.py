"""Checks of every exact statement in ``collapsim.theory.curation`` (equations Q1-Q5) by exact enumeration.

The rewards are chosen so that w = e^{r / b} is rational (r = b log w), so the Bradley-Terry winner's law
(Q1) is a finite sum over all V^K ordered K-tuples computed in rational arithmetic (``fractions.Fraction``):
P(tuple) prod p, and draw j of the tuple wins with probability w_j / sum w. Several rewards (Q3): one such
sum per reward, averaged. One curated generation at finite n: every count vector of Multinomial(n, m) with m
the enumerated winner's law mixed with the truth, its probability in rationals, each metric evaluated on it.
The stationary point (Q5) is checked by the enumerated map at the module's fixed point. None of this calls
the integral (Q2) or the binomial sums the module uses; the module's numbers are compared to 1e-12.

Run: ``python -m proofs_check.curation`` (the test suite runs it too).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np

from collapsim.theory import curation as th


def _close(got, want, tol=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.allclose(got, want, rtol=tol, atol=tol), (got, want, np.max(np.abs(got - want)))


def _winner_exact(p, w, k: int) -> list[Fraction]:
    """Law of the winner of k i.i.d. draws from p (Fractions) with weights w (Fractions), over all k-tuples."""
    q = [Fraction(0)] * len(p)
    for tup in product(range(len(p)), repeat=k):
        prob = math.prod((p[i] for i in tup), start=Fraction(1))
        if prob == 0:
            continue
        total = sum(w[i] for i in tup)
        for i in tup:
            q[i] += prob * w[i] / total
    return q


def _rewards(w, beta):
    """The reward vector r = beta log w whose Bradley-Terry weights e^{r / beta} are w."""
    return np.array([beta * math.log(float(v)) for v in w])


CASES = [  # (p, [w per reward], k)
    ([Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)], [[Fraction(1), Fraction(2), Fraction(5)]], 2),
    ([Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)], [[Fraction(1), Fraction(2), Fraction(5)]], 3),
    ([Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)], [[Fraction(1), Fraction(2), Fraction(5)]], 5),
    ([Fraction(1, 4), Fraction(0), Fraction(1, 8), Fraction(5, 8)], [[Fraction(3), Fraction(7), Fraction(1), Fraction(1, 3)]], 4),
    ([Fraction(1, 3)] * 3, [[Fraction(1), Fraction(1), Fraction(1)]], 3),  # equal rewards: q = p
    ([Fraction(2, 5), Fraction(2, 5), Fraction(1, 5)],
     [[Fraction(1), Fraction(4), Fraction(2)], [Fraction(9), Fraction(1), Fraction(1, 2)]], 3),  # R = 2 (Q3)
]


def check_winner_law_by_enumeration():
    """(Q1)-(Q3): the integral (Q2) equals the exact sum over all K-tuples, one reward and several."""
    for beta in (1.0, 0.37):
        for p, ws, k in CASES:
            exact = np.mean([[float(v) for v in _winner_exact(p, w, k)] for w in ws], axis=0)
            got = th.winner_law(np.array([float(v) for v in p]), np.array([_rewards(w, beta) for w in ws]), k, beta)
            _close(got, exact)
            _close(got.sum(), 1.0)


def check_k_minus_one_differs():
    """The check above can fail: the winner of K - 1 draws is a different law (off by one draw)."""
    p, ws, k = CASES[1]
    exact = [float(v) for v in _winner_exact(p, ws[0], k - 1)]
    got = th.winner_law(np.array([float(v) for v in p]), _rewards(ws[0], 1.0), k, 1.0)
    assert np.max(np.abs(got - exact)) > 1e-2, (got, exact)


def _compositions(n: int, v: int):
    if v == 1:
        yield (n,)
        return
    for c in range(n + 1):
        for rest in _compositions(n - c, v - 1):
            yield (c,) + rest


def check_one_generation_by_enumeration():
    """One curated generation from the truth at finite n (mix alpha, replace = alpha 0): every metric's
    expectation over all count vectors of Multinomial(n, alpha p* + (1 - alpha) q(p*)), in rationals where
    the metric is rational, against the module's exact generation-1 row."""
    truth = [Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)]
    w, k, n, beta = [Fraction(1), Fraction(2), Fraction(5)], 3, 5, 1.0
    reward = _rewards(w, beta)
    bottom = np.array([False, False, True])
    for alpha in (Fraction(0), Fraction(1, 4)):
        q = _winner_exact(truth, w, k)
        m = [alpha * t + (1 - alpha) * x for t, x in zip(truth, q)]
        sums = dict.fromkeys(("gini_simpson", "support", "tail_mass", "sq_error", "expected_reward",
                              "bottom_decile_mass", "entropy", "kl", "tv"), 0.0)
        exact = dict.fromkeys(("gini_simpson", "support", "tail_mass", "sq_error", "bottom_decile_mass"), Fraction(0))
        for c in _compositions(n, 3):
            prob = Fraction(math.factorial(n)) * math.prod((m[i] ** c[i] / math.factorial(c[i]) for i in range(3)),
                                                           start=Fraction(1))
            p = [Fraction(ci, n) for ci in c]
            exact["gini_simpson"] += prob * (1 - sum(x * x for x in p))
            exact["support"] += prob * sum(ci > 0 for ci in c)
            exact["tail_mass"] += prob * sum(t for t, ci in zip(truth, c) if ci == 0)
            exact["sq_error"] += prob * sum((x - t) ** 2 for x, t in zip(p, truth))
            exact["bottom_decile_mass"] += prob * (truth[2] if c[2] > 0 else 0)
            sums["expected_reward"] += float(prob) * sum(float(x) * r for x, r in zip(p, reward))
            sums["entropy"] += float(prob) * -sum(float(x) * math.log(x) for x in p if x > 0)
            sums["kl"] += float(prob) * sum(float(x) * math.log(x / t) for x, t in zip(p, truth) if x > 0)
            sums["tv"] += float(prob) * 0.5 * sum(abs(float(x - t)) for x, t in zip(p, truth))
        for name, value in exact.items():
            sums[name] = float(value)
        curves, _, _ = th.predictions(np.array([float(t) for t in truth]), reward, k, beta, n,
                                      np.full(3, float(alpha)), bottom)
        for name, value in sums.items():
            _close(curves[name][1], value)
        assert np.isnan(curves["entropy"][2])  # the finite-n chain is not claimed exact after generation 1


def check_stationary_point():
    """(Q5): the module's fixed point p satisfies p = alpha p* + (1 - alpha) q(p) with q enumerated exactly
    (at p rounded to rationals: the residual is that rounding's, ~1e-15)."""
    truth = [Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)]
    w, k, alpha = [Fraction(1), Fraction(2), Fraction(5)], 3, 0.3
    p = th.stationary_point(np.array([float(t) for t in truth]), _rewards(w, 1.0), k, 1.0, alpha)
    q = _winner_exact([Fraction(x) for x in p], w, k)
    _close(p, [alpha * float(t) + (1 - alpha) * float(x) for t, x in zip(truth, q)], tol=1e-11)


def check_ideal_learner_composes_the_map():
    """(Q4): two generations of the ideal learner are the enumerated map applied twice."""
    truth = [Fraction(1, 2), Fraction(3, 10), Fraction(1, 5)]
    w, k = [Fraction(1), Fraction(2), Fraction(5)], 2
    alpha = [Fraction(1, 10), Fraction(0)]
    p, want = truth, []
    for a in alpha:
        p = [a * t + (1 - a) * x for t, x in zip(truth, _winner_exact(p, w, k))]
        want.append([float(x) for x in p])
    got = th.ideal_trajectory(np.array([float(t) for t in truth]), _rewards(w, 1.0), k, 1.0, [float(a) for a in alpha])
    _close(got[1:], want)


CHECKS = [check_winner_law_by_enumeration, check_k_minus_one_differs, check_one_generation_by_enumeration,
          check_stationary_point, check_ideal_learner_composes_the_map]

if __name__ == "__main__":
    for check in CHECKS:
        check()
        print(f"ok  {check.__name__}")
