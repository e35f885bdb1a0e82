"""Checks of the exact statements in ``collapsim.theory.calibration`` (eqs. C1 and C3), by exact enumeration in
rational arithmetic (``fractions.Fraction``), never calling the code under test for the identities:

* C1: for p = Multinomial(n, x) / n, sum_i Var p_i = (1 - sum_i x_i^2) / n (every count vector enumerated).
* C3: a law p read twice by counting m draws each (A, B independent given p), p_read = (A + B)/2:
  E (A_i - B_i)^2 / 4 = E Var(p_read,i | p) for every word, over the whole two-stage law.
* L2m (``collapsim.theory.llm``): a draw p' = B + x (G - 1) with B ~ Multinomial(n, x) / n and G a
  two-point factor (mean 1, variance c) per word, x itself random (a two-point law over input laws), has
  E p'_i = E x_i and E p'_i^2 = (1 - 1/n + c) E x_i^2 + E x_i / n, every outcome enumerated; then the
  module's ``moments`` at one step of ``mix`` from a fixed q matches the enumerated E p'^2 (to float precision).
* Then the module's estimator, given the exact population moments in place of sample ones, returns n exactly
  (the one call to the code: its algebra, at a case whose answer is known).

Run: ``python -m proofs_check.calibration`` (the test suite runs it too).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product
from math import factorial

import numpy as np


def _multinomial(n: int, x: list) -> list:
    """[(count vector, probability)] of Multinomial(n, x), exactly."""
    out = []
    for c in product(range(n + 1), repeat=len(x)):
        if sum(c) != n:
            continue
        pr = Fraction(factorial(n))
        for ci, xi in zip(c, x):
            pr *= xi ** ci / factorial(ci)
        out.append((c, pr))
    return out


def check_c1_total_variance():
    for x, n in (([Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)], 4),
                 ([Fraction(3, 5), Fraction(1, 5), Fraction(1, 10), Fraction(1, 10)], 3)):
        law = _multinomial(n, x)
        assert sum(pr for _, pr in law) == 1
        total = Fraction(0)
        for i in range(len(x)):
            mean = sum(pr * Fraction(c[i], n) for c, pr in law)
            assert mean == x[i]
            total += sum(pr * (Fraction(c[i], n) - mean) ** 2 for c, pr in law)
        assert total == (1 - sum(v * v for v in x)) / n, total


def check_c3_split_halves():
    x, n, m = [Fraction(1, 2), Fraction(1, 4), Fraction(1, 4)], 2, 2
    for i in range(len(x)):
        lhs = rhs = Fraction(0)
        for c, pr in _multinomial(n, x):  # the fitted law p = c / n
            p = [Fraction(ci, n) for ci in c]
            reads = _multinomial(m, p)
            # E[(A_i - B_i)^2] / 4 over two independent readings
            lhs += pr * sum(pa * pb * (Fraction(a[i] - b[i], m)) ** 2 for a, pa in reads for b, pb in reads) / 4
            # Var((A_i + B_i)/2 | p) = Var(A_i | p) / 2
            var_a = sum(pa * (Fraction(a[i], m) - p[i]) ** 2 for a, pa in reads)
            rhs += pr * var_a / 2
        assert lhs == rhs, (i, lhs, rhs)


def check_estimator_at_population_moments():
    """With S -> infinity the sample variance is the population one: feed laws whose (ddof=1) spread is exactly
    Var p per word (two points per word, weighted to match), and the estimator returns n."""
    from collapsim.theory import calibration as C

    x = np.array([0.5, 0.3, 0.2])
    n = 37
    var = x * (1 - x) / n
    # S = 2 laws x +- d with sample variance (ddof=1) 2 d^2 = var... for all words at once: d = sqrt(var / 2)
    # signs chosen so each law sums to 1 would need care; use S = 3 laws x + d (1, -1, 0) * e, where the ddof=1
    # variance of (1, -1, 0) is 1: d = sqrt(var).
    d = np.sqrt(var)
    e = np.array([1.0, -1.0, 0.0])[:, None]
    laws = x[None, :] + e * d[None, :]
    rho, _, _ = C._rho(laws, None)
    assert abs(1 / rho - n) < 1e-9 * n, 1 / rho


def _relative_step(inputs: list, n: int, c_root: Fraction) -> tuple[list, list]:
    """Exact (E p'_i, E p'_i^2) of one eq. (L2m) draw: inputs [(law x, probability)], B ~ Multinomial(n, x)/n,
    G_i = 1 -+ c_root with probability 1/2 each, independently per word (so Var G = c_root^2)."""
    K = len(inputs[0][0])
    m1, m2 = [Fraction(0)] * K, [Fraction(0)] * K
    for x, px in inputs:
        for cnt, pb in _multinomial(n, x):
            for signs in product((-1, 1), repeat=K):
                pr = px * pb / 2 ** K
                for i in range(K):
                    v = Fraction(cnt[i], n) + x[i] * signs[i] * c_root
                    m1[i] += pr * v
                    m2[i] += pr * v * v
    return m1, m2


def check_l2m_relative_step():
    n, c_root = 3, Fraction(1, 3)
    c = c_root * c_root
    inputs = [([Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)], Fraction(1, 4)),
              ([Fraction(1, 5), Fraction(1, 5), Fraction(3, 5)], Fraction(3, 4))]
    m1, m2 = _relative_step(inputs, n, c_root)
    for i in range(3):
        ex = sum(p * x[i] for x, p in inputs)
        ex2 = sum(p * x[i] * x[i] for x, p in inputs)
        assert m1[i] == ex, (i, m1[i], ex)
        assert m2[i] == (1 - Fraction(1, n) + c) * ex2 + ex / n, (i, m2[i])
    # the code: one mix step (a = 1/4) from the fixed law q, input x = a u + (1 - a) q, at n_eff = n and c
    from collapsim.theory import llm as L

    q = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
    u = [Fraction(1, 5), Fraction(1, 5), Fraction(3, 5)]
    a = Fraction(1, 4)
    x = [a * ui + (1 - a) * qi for ui, qi in zip(u, q)]
    _, e2 = _relative_step([(x, Fraction(1))], n, c_root)
    m, s = L.moments(np.array([float(v) for v in q]), np.array([float(v) for v in u]), float(n), np.array([0.25]),
                     mult=float(c))
    assert np.allclose(s[1], [float(v) for v in e2], rtol=1e-12, atol=0), (s[1], e2)
    assert np.allclose(m[1], [float(v) for v in x], rtol=1e-12, atol=0)


CHECKS = [check_c1_total_variance, check_c3_split_halves, check_l2m_relative_step,
          check_estimator_at_population_moments]

if __name__ == "__main__":
    for c in CHECKS:
        c()
        print("ok", c.__name__)
