"""Checks of ``collapsim.theory.ngram_curation`` (eqs. NC1-NC4) by exact enumeration of every text.

Tiny chains (V = 3 tokens, L = 3, orders 1, 2 and 3) in rational arithmetic (``fractions.Fraction``): the
law p(x) of each of the 27 texts, the Bradley-Terry winner of K = 2 and 3 texts by enumerating every ordered
K-tuple of texts (draw j of a tuple wins with probability w_j / sum w), the ideal learner's refit from the
winner's expected transition and opening counts, mixed with a second chain's real texts. The rewards are
lattice rewards with step d = log 2 and temperature b = 1, so each text's Bradley-Terry weight e^{d S / b} =
2^S is rational. None of this calls the forward-backward recursion, the integral (Q2) or the binomial sums;
the module's numbers are compared to 1e-12.

Run: ``python -m proofs_check.ngram_curation`` (the test suite runs it too).
"""

from __future__ import annotations

import math
from fractions import Fraction as Fr
from itertools import product

import numpy as np

from collapsim.theory import ngram_curation as th

V, L = 3, 3
STEP, BETA = math.log(2.0), 1.0


def _close(got, want, tol=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.allclose(got, want, rtol=tol, atol=tol), (got, want, np.max(np.abs(got - want)))


def _chain(order: int, seed: int, zeros: bool = False):
    """A chain with rational entries: opening (V^(k-1),) and table (V^(k-1), V), some entries 0 if asked."""
    r = np.random.default_rng(seed)
    R = V ** (order - 1)
    raw = r.integers(1, 6, size=(R, V))
    if zeros:
        raw[r.random((R, V)) < 0.3] = 0
        raw[raw.sum(axis=1) == 0, 0] = 1
    table = [[Fr(int(a), int(row.sum())) for a in row] for row in raw]
    op = r.integers(1, 4, size=R)
    opening = [Fr(int(a), int(op.sum())) for a in op]
    return opening, table


def _contexts(x, order):
    """(opening context, [(context, next token)] over positions k..L) of the text x."""
    def ctx(tokens):
        c = 0
        for tok in tokens:
            c = c * V + tok
        return c
    first = ctx(x[:order - 1])
    return first, [(ctx(x[t - order + 1:t]), x[t]) for t in range(order - 1, L)]


def _text_laws(opening, table, order):
    """{text: p(text)} over all V^L texts."""
    out = {}
    for x in product(range(V), repeat=L):
        first, moves = _contexts(x, order)
        out[x] = opening[first] * math.prod((table[c][b] for c, b in moves), start=Fr(1))
    return out


def _winner(p, units, k):
    """{text: q(text)}: the Bradley-Terry winner of k i.i.d. texts, weight 2^S(x), every ordered k-tuple."""
    texts = [x for x in p if p[x] > 0]
    w = {x: Fr(2) ** sum(int(units[t]) for t in x) for x in texts}
    q = {x: Fr(0) for x in p}
    for tup in product(texts, repeat=k):
        prob = math.prod((p[x] for x in tup), start=Fr(1))
        total = sum(w[x] for x in tup)
        for x in tup:
            q[x] += prob * w[x] / total
    return q


def _counts(law, order):
    """(opening law (R,), expected transition counts (R, V)) of one text drawn from ``law`` {text: prob}."""
    R = V ** (order - 1)
    o = [Fr(0)] * R
    C = [[Fr(0)] * V for _ in range(R)]
    for x, pr in law.items():
        first, moves = _contexts(x, order)
        o[first] += pr
        for c, b in moves:
            C[c][b] += pr
    return o, C


def _refit(o, C, old_opening, old_table, order):
    table = [[C[a][b] / sum(C[a]) for b in range(V)] if sum(C[a]) > 0 else list(old_table[a])
             for a in range(len(C))]
    return (list(old_opening) if order == 1 else o), table


def _exact_map(opening, table, unit_rows, k, order, alpha=Fr(0), real=None):
    """The ideal learner's next model by enumeration (averaged over the rewards, mixed with real texts)."""
    p = _text_laws(opening, table, order)
    R = V ** (order - 1)
    o = [Fr(0)] * R
    C = [[Fr(0)] * V for _ in range(R)]
    for units in unit_rows:
        qo, qC = _counts(_winner(p, units, k), order)
        for a in range(R):
            o[a] += qo[a] / len(unit_rows)
            for b in range(V):
                C[a][b] += qC[a][b] / len(unit_rows)
    if alpha:
        ro, rC = real
        o = [alpha * ro[a] + (1 - alpha) * o[a] for a in range(R)]
        C = [[alpha * rC[a][b] + (1 - alpha) * C[a][b] for b in range(V)] for a in range(R)]
    return _refit(o, C, opening, table, order)


def _floats(model):
    return np.array(model[0], float), np.array(model[1], float)


CASES = [  # (order, chain seed, units per reward, K, alpha)
    (2, 0, [[1, 0, 0]], 2, Fr(0)),
    (2, 1, [[1, 0, 0]], 3, Fr(0)),
    (2, 2, [[0, 2, 1]], 3, Fr(1, 4)),  # mix with a second chain's real texts
    (2, 3, [[1, 0, 0], [0, 1, 1]], 2, Fr(0)),  # several rewards (Q3)
    (1, 4, [[0, 1, 2]], 3, Fr(0)),  # order 1: one row, the opening kept
    (3, 5, [[1, 0, 1]], 2, Fr(1, 3)),  # order 3: contexts of two tokens, mixed
]


def check_curated_map_by_enumeration():
    """Eqs. (NC1-NC3): the module's next model equals the enumerated winner's count refit, and its expected
    reward (NC1's law of S carried through) equals the enumerated refit chain's mean text reward."""
    for order, seed, unit_rows, k, alpha in CASES:
        opening, table = _chain(order, seed, zeros=seed % 2 == 1)
        real = _counts(_text_laws(*_chain(order, seed + 100), order), order)
        want = _exact_map(opening, table, unit_rows, k, order, alpha, real)
        got = th.curated_map(np.array(opening, float), np.array(table, float), np.array(unit_rows), STEP, k, BETA,
                             L, order, float(alpha), np.array(real[0], float), np.array(real[1], float))
        _close(got[0], _floats(want)[0])
        _close(got[1], _floats(want)[1])
        reward = STEP * np.array(unit_rows, float)
        new_p = _text_laws(*want, order)
        mean_reward = sum(pr * Fr(sum(int(u[t]) for u in unit_rows for t in x), len(unit_rows))
                          for x, pr in new_p.items())
        _close(th.model_metrics(*got, reward, L, order)["expected_reward"], STEP * float(mean_reward))


def check_winner_reward_law():
    """The law of S under p and under the winner (NC1) against the enumerated text laws."""
    opening, table = _chain(2, 7)
    units = np.array([2, 0, 1])
    p = _text_laws(opening, table, 2)
    q = _winner(p, units, 3)
    S = th.levels(units, L)
    want_p, want_q = np.zeros(S), np.zeros(S)
    for x in p:
        s = sum(int(units[t]) for t in x)
        want_p[s] += float(p[x])
        want_q[s] += float(q[x])
    _, _, law, q_law = th.tilted_statistics(np.array(opening, float), np.array(table, float), units, STEP, 3, BETA,
                                            L, 2)
    _close(law, want_p)
    _close(q_law, want_q)


def check_two_generations():
    """The trajectory (the map composed twice) against the enumerated map applied twice."""
    opening, table = _chain(2, 8)
    units = [[1, 0, 0]]
    model = (opening, table)
    for _ in range(2):
        model = _exact_map(*model, units, 2, 2)
    traj = th.ideal_trajectory(np.array(opening, float), np.array(table, float), np.array(units), STEP, 2, BETA, L, 2,
                               np.zeros(2))
    _close(traj[2][0], _floats(model)[0])
    _close(traj[2][1], _floats(model)[1])


def check_stationary_point():
    """(NC4): the enumerated map leaves the module's fixed point where it is."""
    opening, table = _chain(2, 9)
    real = _counts(_text_laws(opening, table, 2), 2)
    units = [[1, 0, 0]]
    alpha = 0.5
    fixed = th.stationary_point(np.array(opening, float), np.array(table, float), np.array(units), STEP, 2, BETA, L,
                                2, alpha, np.array(real[0], float), np.array(real[1], float))
    exact = ([Fr(v) for v in fixed[0]], [[Fr(v) for v in row] for row in fixed[1]])
    again = _exact_map(*exact, units, 2, 2, Fr(alpha), real)
    _close(_floats(again)[0], fixed[0], 1e-10)
    _close(_floats(again)[1], fixed[1], 1e-10)


def check_finite_n_rows():
    """Generation 1 at finite n: the opening law's expected entropy and support (n = 3 i.i.d. openings, every
    sequence enumerated) and, for k = 1, the refit row's expected reward (n = 2 texts, every pair)."""
    law = [Fr(1, 2), Fr(1, 3), Fr(1, 6), Fr(0)]
    n = 3
    ent = sup = 0.0
    for seq in product(range(len(law)), repeat=n):
        pr = float(math.prod((law[i] for i in seq), start=Fr(1)))
        c = np.bincount(seq, minlength=len(law)) / n
        ent += pr * -float(np.sum(c[c > 0] * np.log(c[c > 0])))
        sup += pr * float(np.sum(c > 0))
    got = th.opening_expectations(np.array(law, float), n)
    _close(got["opening_entropy"], ent)
    _close(got["opening_support"], sup)
    # k = 1: texts are 3 tokens from a curated unigram text law; the refit row is the token share over n L.
    opening, table = _chain(1, 11)
    units = [0, 1, 2]
    q = _winner(_text_laws(opening, table, 1), units, 2)
    kappa = Fr(1, 2)
    texts = list(q)
    want = Fr(0)
    for a, b in product(texts, repeat=2):
        tokens = np.bincount(a + b, minlength=V)
        row = [(Fr(int(tokens[i])) + kappa * table[0][i]) / (2 * L + kappa) for i in range(V)]
        want += q[a] * q[b] * L * sum(row[i] * units[i] for i in range(V))
    _, counts = th.expected_counts(np.array(opening, float), np.array(table, float), np.array([units]), STEP, 2, BETA,
                                   L, 1)
    got = th.order_one_reward(np.array(table[0], float), counts[0], np.array(units, float), 2, L, float(kappa))
    _close(got, float(want))


CHECKS = [check_curated_map_by_enumeration, check_winner_reward_law, check_two_generations, check_stationary_point,
          check_finite_n_rows]


if __name__ == "__main__":
    for check in CHECKS:
        check()
        print(f"ok  {check.__name__}")
