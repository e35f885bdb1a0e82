"""K-wise Bradley-Terry curation of an n-gram count model: the exact ideal-learner map on lattice rewards.

Setting. The model is an order-k chain over V tokens (contexts of k - 1 tokens, R = V^(k-1) of them):
``opening`` (R,) the law of the first k - 1 tokens as one context, ``table`` (R, V) the next-token rows (the
layout of :mod:`collapsim.families.ngram`). A text x of L tokens scores R(x) = sum_t r(x_t) (a per-token reward
vector r (V,), summed over the text). A curated text is the Bradley-Terry winner of K i.i.d. model texts at
temperature b, so by eq. (Q2) of :mod:`collapsim.theory.curation` applied to texts, its law is

    q(x) = p(x) g(R(x)),   g(rho) = K w(rho),   w(rho) = e^{rho/b} int_0^inf exp(-t e^{rho/b}) M(t)^(K-1) dt,
    M(t) = E_p[exp(-t e^{R(X)/b})]                                                              (eq. NC1)

q depends on x only through p(x) and R(X)'s law under p. So on a lattice -- r = d u with u (V,) whole numbers
(``units``) and a step d -- R(X) = d S(X) with S in {0 .. L max u}, and

  * the law of S under p, and E_q of any additive text statistic, come from a forward-backward recursion over
    (context, reward so far): F_t[c, s] = P(context at predicting position t is c, units so far s) forward, and
    G_t[c, s] = E_p[g(d (s + units still to come)) | context c at t] backward (G at the end: g(d s));
  * the winner's expected transition counts are
        E_q[C_ab] = sum_t sum_s F_t[a, s] table[a, b] G_{t+1}[next(a, b), s + u_b]             (eq. NC2)
    and its opening law q_open[c] = opening[c] G_0[c, S_open(c)] (S_open(c): the opening tokens' units);
  * the ideal learner (infinitely many texts; the count fit of :mod:`collapsim.families.ngram`) refits
        opening' = alpha o* + (1 - alpha) q_open,
        table'[a] = (alpha W*[a] + (1 - alpha) E_q[C_a.]) / (alpha W*[a].sum() + (1 - alpha) E_q[N_a])  (eq. NC3)
    with (o*, W*) the real texts' opening law and expected transition counts per text (mix, each text real
    with probability alpha; replace is alpha = 0), and a context no text visits keeping its row (the fit's
    rule). Exact for n = inf; iterated it gives the ideal learner's trajectory, and its fixed point under a
    constant alpha > 0 the stationary point (eq. NC4).

Cost: O(L R V (L max u + 1)) per reward and map, both directions; :func:`map_work` counts it.
Several rewards r_1..r_m (each K-tuple judged by one at random): q = (1/m) sum_j q_j (eq. Q3), so every
expectation above is the average over the rewards of its value under each.

At finite n, one generation from the truth: the n training texts are i.i.d. from alpha p* + (1 - alpha) q
(each curated text is the winner of its own K draws), so the refit opening law is the count law of n i.i.d.
openings (its expected entropy and support: binomial sums, exact, :func:`opening_expectations`), and for k = 1
(one row, the refit is the token counts over n L tokens) the refit model is linear in the counts, so its
expected reward is exact at any n (:func:`order_one_reward`). For k >= 2 the refit row is C_a / N_a, a ratio,
and E[reward of the refit model] is not a function of E_q[C] alone: the ideal learner's value is then an
approximation at finite n (bias O(1/n)). Checked by exact enumeration of texts in ``proofs_check/ngram_curation.py``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from collapsim.theory import curation

#: Multiply-adds the adapter spends on the ideal learner's trajectory (and again on the stationary point); it
#: stops there with a note. Measured: about 25e6 per second on the loaded 2-core machine (V = 64, L = 16, rank:
#: 1.2e8 per map, 5 s), so the budget is about 20 s.
MAX_WORK = 5e8
#: Largest (R, V, levels) temporary of one recursion step, in float64 entries (8 bytes each: 400 MB).
MAX_CELLS = 5e7


def successors(contexts: int, vocab: int) -> np.ndarray:
    """next (R, V) int: the context after context c and token x, (c V + x) mod R (drops the oldest token)."""
    c = np.arange(contexts)[:, None]
    return (c * vocab + np.arange(vocab)[None]) % contexts


def opening_units(units: np.ndarray, contexts: int) -> np.ndarray:
    """S_open (R,): the summed units of the k - 1 tokens of each context (its base-V digits)."""
    vocab = units.shape[0]
    out, c = np.zeros(contexts, np.int64), np.arange(contexts)
    span = 1
    while span < contexts:
        out += units[(c // span) % vocab]
        span *= vocab
    return out


def levels(units: np.ndarray, length: int) -> int:
    """Number of values S = sum of a text's units can take: L max u + 1."""
    return int(length * units.max()) + 1


def map_work(vocab: int, order: int, length: int, units) -> float:
    """Multiply-adds of one evaluation of the curated map (forward and backward, every reward)."""
    units = np.atleast_2d(np.asarray(units))
    steps = length - order + 1
    return float(sum(2.0 * steps * vocab ** (order - 1) * vocab * levels(u, length) for u in units))


def forward(opening, table, units, length: int, order: int) -> np.ndarray:
    """F (L - k + 2, R, S): F[t, c, s] = P(context at predicting position t is c and the units so far are s),
    t = 0 the first predicting position (the opening tokens counted), t = L - k + 1 after the last token."""
    R, V = table.shape
    S, steps = levels(units, length), length - order + 1
    nxt = successors(R, V)
    F = np.zeros((steps + 1, R, S))
    F[0, np.arange(R), opening_units(units, R)] = opening
    shift = np.arange(S)[None, :] + units[:, None]  # (V, S): where units s land after token x
    for t in range(steps):
        moved = np.zeros((R, V, S + int(units.max())))
        moved[:, np.arange(V)[:, None], shift] = F[t][:, None, :] * table[:, :, None]
        moved = moved[:, :, :S]  # a text's total never exceeds L max u
        np.add.at(F[t + 1], nxt.reshape(-1), moved.reshape(R * V, S))
    return F


def tilted_statistics(opening, table, units, step: float, k: int, beta: float, length: int, order: int):
    """(q_open (R,), E_q[C] (R, V) per text, law of S under p (S,), law of S under q (S,)) for one reward on
    the lattice r = step * units (eqs. NC1-NC2)."""
    opening, table = np.asarray(opening, np.float64), np.asarray(table, np.float64)
    units = np.asarray(units, np.int64)
    R, V = table.shape
    F = forward(opening, table, units, length, order)
    law = F[-1].sum(axis=0)
    values = step * np.arange(law.size)
    q_law = curation.winner_law_one(law, values, k, beta)
    g = np.where(law > 0, q_law / np.where(law > 0, law, 1.0), 0.0)
    nxt = successors(R, V)
    S = law.size
    pad = np.arange(S)[None, :] + units[:, None]  # (V, S)
    G = np.broadcast_to(g, (R, S)).copy()
    counts = np.zeros((R, V))
    for t in range(F.shape[0] - 2, -1, -1):
        ahead = np.concatenate([G, np.zeros((R, int(units.max())))], axis=1)  # beyond L max u: unreachable
        after = ahead[nxt[:, :, None], pad[None]]  # (R, V, S): G_{t+1}[next(a, b), s + u_b]
        counts += table * np.einsum("as,abs->ab", F[t], after)
        G = np.einsum("ab,abs->as", table, after)
    q_open = opening * G[np.arange(R), opening_units(units, R)]
    return q_open, counts, law, q_law


def curated_map(opening, table, units, step: float, k: int, beta: float, length: int, order: int,
                alpha: float = 0.0, real_opening=None, real_pairs=None):
    """The ideal learner's next model (opening', table') of eq. (NC3): units (m, V) for m rewards (averaged,
    eq. Q3), alpha the real share, (real_opening (R,), real_pairs (R, V)) the real texts' opening law and
    expected transition counts per text (needed when alpha > 0)."""
    table = np.asarray(table, np.float64)
    q_open, counts = expected_counts(opening, table, units, step, k, beta, length, order, alpha, real_opening,
                                     real_pairs)
    visits = counts.sum(axis=1, keepdims=True)
    new_table = np.where(visits > 0, counts / np.where(visits > 0, visits, 1.0), table)
    new_opening = np.asarray(opening, np.float64) if order == 1 else q_open / q_open.sum()
    return new_opening, new_table


def position_law(opening, table, length: int, order: int) -> np.ndarray:
    """p (V,): the law of the token at a uniform position 1..L of the chain's texts."""
    opening, table = np.asarray(opening, np.float64), np.asarray(table, np.float64)
    R, V = table.shape
    nxt = successors(R, V)
    total = np.zeros(V)
    c = np.arange(R)
    span = 1
    while span < R:  # the opening's k - 1 tokens
        total += np.bincount((c // span) % V, weights=opening, minlength=V)
        span *= V
    m = opening
    for _ in range(length - order + 1):
        pair = m[:, None] * table
        total += pair.sum(axis=0)
        m = np.bincount(nxt.reshape(-1), weights=pair.reshape(-1), minlength=R)
    return total / length


def model_metrics(opening, table, reward, length: int, order: int) -> dict:
    """The n-gram family's expected_reward (L p . mean r, reward (m, V)), unigram_entropy, gini_simpson and
    opening_entropy of one model (no sampling: the ideal learner's values)."""
    p = position_law(opening, table, length, order)
    o = np.asarray(opening, np.float64)
    logp = np.log(np.where(p > 0, p, 1.0))
    logo = np.log(np.where(o > 0, o, 1.0))
    return {
        "expected_reward": float(length * p @ np.atleast_2d(reward).mean(axis=0)),
        "unigram_entropy": float(-p @ logp),
        "gini_simpson": float(1.0 - p @ p),
        "opening_entropy": float(-o @ logo),
    }


def ideal_trajectory(opening, table, units, step: float, k: int, beta: float, length: int, order: int, alpha,
                     real_opening=None, real_pairs=None) -> list:
    """[(opening_t, table_t)] for t = 0..T under eq. (NC3), alpha (T,) the real share per generation."""
    out = [(np.asarray(opening, np.float64), np.asarray(table, np.float64))]
    for a in np.asarray(alpha, np.float64):
        out.append(curated_map(*out[-1], units, step, k, beta, length, order, float(a), real_opening, real_pairs))
    return out


def stationary_point(opening, table, units, step: float, k: int, beta: float, length: int, order: int,
                     alpha: float, real_opening, real_pairs, tol: float = 1e-12, max_iter: int = 2000):
    """The fixed point (opening, table) of eq. (NC3) under a constant alpha in (0, 1] (eq. NC4), by iterating
    the map from the given model; ValueError if it has not settled (sum of absolute changes < tol)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"the stationary point needs a real share alpha in (0, 1], got {alpha}")
    model = (np.asarray(opening, np.float64), np.asarray(table, np.float64))
    for _ in range(max_iter):
        nxt = curated_map(*model, units, step, k, beta, length, order, alpha, real_opening, real_pairs)
        change = np.abs(nxt[0] - model[0]).sum() + np.abs(nxt[1] - model[1]).sum()
        model = nxt
        if change < tol:
            return model
    raise ValueError(f"the curated n-gram map did not settle in {max_iter} iterations (alpha {alpha})")


def opening_expectations(law, texts: int) -> dict:
    """E[opening_entropy], E[opening_support] of the count law of ``texts`` i.i.d. openings from law (R,):
    count c ~ Binomial(n, law_c), each term a function of one count."""
    law = np.asarray(law, np.float64)
    c = np.arange(texts + 1)
    x = c / texts
    xlogx = np.where(c > 0, x * np.log(np.where(c > 0, x, 1.0)), 0.0)
    pmf = stats.binom.pmf(c[None], texts, law[:, None])
    return {"opening_entropy": -float((pmf @ xlogx).sum()),
            "opening_support": float(np.sum(1.0 - (1.0 - law) ** texts))}


def order_one_reward(table_row, counts_per_text, reward, texts: int, length: int, prior_weight: float = 0.0) -> float:
    """Exact E[expected_reward] of a k = 1 model refit on n texts whose expected token counts per text are
    ``counts_per_text`` (V,): row' = (C + kappa row) / (n L + kappa) is linear in the counts C."""
    mean = (texts * np.asarray(counts_per_text, np.float64) + prior_weight * np.asarray(table_row, np.float64))
    return float(length * (mean / (texts * length + prior_weight)) @ np.atleast_2d(reward).mean(axis=0))


def expected_counts(opening, table, units, step: float, k: int, beta: float, length: int, order: int,
                    alpha: float = 0.0, real_opening=None, real_pairs=None):
    """(opening law (R,), expected transition counts per text (R, V)) of one training text: a real one with
    probability alpha, else a curated one (eq. NC2, averaged over the rewards)."""
    units = np.atleast_2d(np.asarray(units, np.int64))
    parts = [tilted_statistics(opening, table, u, step, k, beta, length, order)[:2] for u in units]
    q_open = np.mean([p[0] for p in parts], axis=0)
    counts = np.mean([p[1] for p in parts], axis=0)
    if alpha > 0:
        q_open = alpha * np.asarray(real_opening, np.float64) + (1 - alpha) * q_open
        counts = alpha * np.asarray(real_pairs, np.float64) + (1 - alpha) * counts
    return q_open, counts
