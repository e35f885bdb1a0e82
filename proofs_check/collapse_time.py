"""Checks of ``collapsim.theory.collapse_time``: the lumping onto partitions, the exact mean collapse time,
and the constant of the diffusion approximation.

Exact enumeration in rational arithmetic (``fractions.Fraction``): for small K and n the full multinomial
chain over all count vectors (compositions of n into K parts) is built and its mean absorption times are
solved exactly by Gaussian elimination; the module's lumped chain on partitions must give the same time from
every count vector, and its law of c_1's partition must equal the enumerated one, to 1e-12. The diffusion
approximation's constant is checked against the exact (n + 1)-state two-category chain at n = 2000, where
it must be within 1% (and the neighbouring constants, Kimura's diploid 4 or 1, far off).

Run: ``python -m proofs_check.collapse_time`` (the test suite runs it too).
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import product

import numpy as np

from collapsim.theory import collapse_time as th


def _compositions(n: int, k: int):
    return [c for c in product(range(n + 1), repeat=k) if sum(c) == n]


def _multinomial(n: int, counts, probs) -> Fraction:
    coef = math.factorial(n)
    for c in counts:
        coef //= math.factorial(c)
    out = Fraction(coef)
    for c, p in zip(counts, probs):
        out *= Fraction(p) ** c
    return out


def _partition(c) -> tuple:
    return tuple(sorted((x for x in c if x), reverse=True))


def _solve(A, b):
    """Exact Gaussian elimination over Fractions."""
    m = len(b)
    A = [row[:] + [b[i]] for i, row in enumerate(A)]
    for col in range(m):
        piv = next(r for r in range(col, m) if A[r][col] != 0)
        A[col], A[piv] = A[piv], A[col]
        for r in range(m):
            if r != col and A[r][col] != 0:
                f = A[r][col] / A[col][col]
                A[r] = [x - f * y for x, y in zip(A[r], A[col])]
    return [A[i][m] / A[i][i] for i in range(m)]


def _full_absorption(n: int, k: int) -> dict:
    """h(c) for every count vector c of the full K-category chain, exactly."""
    states = _compositions(n, k)
    live = [c for c in states if sum(1 for x in c if x) > 1]
    index = {c: i for i, c in enumerate(live)}
    A = [[Fraction(int(i == j)) for j in range(len(live))] for i in range(len(live))]
    for c in live:
        probs = [Fraction(x, n) for x in c]
        for d in states:
            if d in index:
                A[index[c]][index[d]] -= _multinomial(n, d, probs)
    h = _solve(A, [Fraction(1)] * len(live))
    out = {c: h[index[c]] for c in live}
    out.update({c: Fraction(0) for c in states if c not in index})
    return out


def check_partition_count():
    brute = [len({_partition(c) for c in _compositions(n, n)}) for n in range(1, 8)]
    assert brute == [th.partition_count(n) for n in range(1, 8)], brute
    assert th.partition_count(10) == 42 and th.partition_count(100) == 190569292  # OEIS A000041


def check_partition_distribution():
    q = [Fraction(1, 2), Fraction(1, 4), Fraction(1, 6), Fraction(1, 12)]
    n = 5
    want: dict = {}
    for c in _compositions(n, len(q)):
        want[_partition(c)] = want.get(_partition(c), 0) + _multinomial(n, c, q)
    got = th.partition_distribution(np.array([float(x) for x in q]), n)
    assert set(got) == set(want), (set(got) ^ set(want))
    for s in want:
        assert abs(got[s] - float(want[s])) < 1e-12, (s, got[s], float(want[s]))


def check_lumped_chain_equals_full_chain():
    for n, k in ((6, 3), (5, 4), (4, 2)):
        full = _full_absorption(n, k)
        lumped = th.lumped_absorption_times(n)
        for c, h in full.items():
            assert abs(lumped[_partition(c)] - float(h)) < 1e-12 * max(1.0, float(h)), (n, k, c, lumped[_partition(c)], h)


def check_mean_collapse_time_exact():
    """E tau = 1 + E h(c_1), c_1 ~ Multinomial(n, q), against the enumerated full chain."""
    q = [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
    n = 6
    full = _full_absorption(n, len(q))
    want = 1 + sum(_multinomial(n, c, q) * full[c] for c in _compositions(n, len(q)))
    got = th.mean_collapse_time(np.array([float(x) for x in q]), n)
    assert abs(got - float(want)) < 1e-12 * float(want), (got, float(want))
    assert th.mean_collapse_time([1.0], 7) == 0.0


def check_two_category_chain():
    """The (n + 1)-state binomial chain equals the lumped chain (n = 12) at every count."""
    n = 12
    h = th.binomial_absorption_times(n)
    lumped = th.lumped_absorption_times(n)
    for c in range(n + 1):
        part = _partition((c, n - c))
        assert abs(h[c] - lumped[part]) < 1e-9 * max(1.0, h[c]), (c, h[c], lumped[part])


def check_diffusion_constant():
    """-2n [p ln p + (1 - p) ln(1 - p)] is within 1% of the exact two-category chain at n = 2000; the
    constants 1 and 4 are off by a factor of 2."""
    n = 2000
    h = th.binomial_absorption_times(n)
    for c in (1000, 400, 100):
        p = c / n
        exact = h[c]
        approx = th.diffusion_mean_collapse_time([p, 1 - p], n)
        assert abs(approx / exact - 1) < 0.01, (p, exact, approx)
        assert abs(2 * approx / exact - 1) > 0.9 and abs(approx / 2 / exact - 1) > 0.4
    # K > 2 (Littler's form), from the uniform start over 4 categories: within 10% already at n = 10 and 12,
    # and closer at the larger n (the discrete chain approaches the diffusion).
    errors = []
    for n in (10, 12):
        q = np.full(4, 0.25)
        lumped = th.lumped_absorption_times(n)
        exact_from_q = 1 + sum(w * lumped[s] for s, w in th.partition_distribution(q, n).items())
        errors.append(abs(th.diffusion_mean_collapse_time(q, n) / exact_from_q - 1))
    assert errors[1] < errors[0] < 0.1, errors


CHECKS = [check_partition_count, check_partition_distribution, check_lumped_chain_equals_full_chain,
          check_mean_collapse_time_exact, check_two_category_chain, check_diffusion_constant]


if __name__ == "__main__":
    for check in CHECKS:
        check()
        print(f"ok  {check.__name__}")
