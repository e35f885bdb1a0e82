"""Checks of the exact statements in ``collapsim.theory.calibration`` (eqs. C1 and C3), by exact enumeration in
rational arithmetic (``fractions.Fraction``), never calling the code under test for the identities:

* C1: for p = Multinomial(n, x) / n, sum_i Var p_i = (1 - sum_i x_i^2) / n (every count vector enumerated).
* C3: a law p read twice by counting m draws each (A, B independent given p), p_read = (A + B)/2:
  E (A_i - B_i)^2 / 4 = E Var(p_read,i | p) for every word, over the whole two-stage law.
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


CHECKS = [check_c1_total_variance, check_c3_split_halves, check_estimator_at_population_moments]

if __name__ == "__main__":
    for c in CHECKS:
        c()
        print("ok", c.__name__)
