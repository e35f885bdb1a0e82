"""Checks of ``collapsim.theory.ngram`` and the n-gram family's exact laws, by exact enumeration.

- eq. (N1): E[sum_x Q'_x^2 | N] = S + N (1 - S) / (N + kappa)^2 for the refit (C + kappa Q) / (N + kappa) of
  Multinomial(N, Q) counts, in rational arithmetic over every count vector (small N, K, several kappa);
- eq. (N3): the per-text visit-count law of every context, against the enumeration of all V^L texts of a
  small order-2 chain (and of an order-2 chain lifted to order 3);
- the unigram law and the real transition counts W* (the held-out cross-entropy's weights) against the same
  enumeration.

Run: ``python -m proofs_check.ngram`` (the test suite runs it too).
"""

from __future__ import annotations

from fractions import Fraction
from itertools import product
from math import factorial

import numpy as np

from collapsim.families import ngram as G
from collapsim.theory import ngram as th


def _texts(chain, L):
    """Every text of L tokens with its probability (float64), for an order-k chain."""
    k, V = chain.order, chain.vocab
    for x in product(range(V), repeat=L):
        c = 0
        for j in range(k - 1):
            c = c * V + x[j]
        pr = chain.opening[c]
        for t in range(k - 1, L):
            pr *= chain.table[c, x[t]]
            c = (c % V ** (k - 2)) * V + x[t] if k > 1 else 0
        yield x, pr


def check_refit_second_moment():
    for K, N in ((2, 3), (3, 4)):
        Q = [Fraction(1, 2), Fraction(1, 2)] if K == 2 else [Fraction(1, 2), Fraction(1, 3), Fraction(1, 6)]
        S = sum(q * q for q in Q)
        for kappa in (Fraction(0), Fraction(1), Fraction(5, 2)):
            total = Fraction(0)
            for c in product(range(N + 1), repeat=K):
                if sum(c) != N:
                    continue
                pr = Fraction(factorial(N))
                for ci, qi in zip(c, Q):
                    pr = pr * qi**ci / factorial(ci)
                total += pr * sum(((ci + kappa * qi) / (N + kappa)) ** 2 for ci, qi in zip(c, Q))
            assert total == S + N * (1 - S) / (N + kappa) ** 2, (K, N, kappa)


def check_visit_counts_by_enumeration():
    rng = np.random.default_rng(3)
    V, L = 3, 5
    table = rng.dirichlet(np.ones(V), size=V)
    table[0, 2] = 0.0  # a sparse row
    table /= table.sum(1, keepdims=True)
    base = G.Chain(2, rng.dirichlet(np.ones(V)), table)
    for chain in (base, G.lift(base, 3)):
        k, R = chain.order, chain.table.shape[0]
        steps = L - k + 1
        want = np.zeros((R, steps + 1))
        for x, pr in _texts(chain, L):
            visits = np.zeros(R, int)
            for t in range(k - 1, L):
                c = 0
                for j in range(t - k + 1, t):
                    c = c * V + x[j]
                visits[c] += 1
            want[np.arange(R), visits] += pr
        got = th.visit_count_pmf(chain.opening, chain.table, L, k)
        assert np.allclose(got, want, atol=1e-13), np.abs(got - want).max()
        # Two texts: the convolution square.
        two = th.total_visit_pmf(got, 2)
        conv = np.stack([np.convolve(r, r) for r in want])
        assert np.allclose(two, conv, atol=1e-12)


def check_unigram_and_real_counts_by_enumeration():
    rng = np.random.default_rng(4)
    V, L = 3, 4
    chain = G.Chain(2, rng.dirichlet(np.ones(V)), rng.dirichlet(np.ones(V), size=V))
    u = np.zeros(V)
    W1 = np.zeros((1, V))
    for x, pr in _texts(chain, L):
        for t in range(L):
            u[x[t]] += pr / L
            W1[0, x[t]] += pr
    assert np.allclose(G.unigram_law(chain, L), u, atol=1e-14)
    o, W = G.window_counts(chain, 1, L)
    assert np.allclose(W, W1, atol=1e-14) and np.allclose(o, [1.0])
    # Order 2 seen by order 2: W*[c, x] = expected transitions c -> x per text.
    W2 = np.zeros((V, V))
    for x, pr in _texts(chain, L):
        for t in range(1, L):
            W2[x[t - 1], x[t]] += pr
    assert np.allclose(G.window_counts(chain, 2, L)[1], W2, atol=1e-14)


CHECKS = [check_refit_second_moment, check_visit_counts_by_enumeration, check_unigram_and_real_counts_by_enumeration]

if __name__ == "__main__":
    for check in CHECKS:
        check()
        print("ok", check.__name__)
