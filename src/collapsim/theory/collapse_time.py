"""Time to collapse of the categorical family under pure replacement: exact where small, diffusion otherwise.

The chain. Generation 0 is the truth q (K,) itself (the categorical family's ``init``); generation t >= 1
is the count vector c_t ~ Multinomial(n, c_{t-1} / n) divided by n, with c_1 ~ Multinomial(n, q): neutral
haploid Wright-Fisher drift with population n. The collapse generation is

    tau = min {t >= 0 : support(p_t) = 1}        (a category that is gone never returns)

so tau = 0 only when q has one category, and otherwise E tau = 1 + E h(c_1), where h(c) is the mean
absorption time from counts c.

Exact (:func:`mean_collapse_time`). The resampling step is exchangeable: permuting the categories of c
permutes those of c', so h(c) depends only on the multiset of non-zero counts, a partition of n. The chain
lumps (Kemeny and Snell 1960, Thm 6.3.2) onto the partitions of n; there are p(n) of them (42 for n = 10,
190 million for n = 100), whatever K. The lumped transition P(lambda -> mu) is the probability that
Multinomial(n, lambda / n) has sorted non-zero counts mu, computed by a dynamic programme over the parts
of lambda whose state is the partition of the counts placed so far (:func:`partition_distribution`); the
same programme gives the law of c_1's partition from q, for any K. Then h solves (I - Q) h = 1 on the
non-absorbing partitions. With two categories the chain is the (n + 1)-state binomial chain, solved
directly for any n up to :data:`BINOMIAL_LIMIT`.

Approximation (:func:`diffusion_mean_collapse_time`). In the diffusion limit (time in units of n
generations, generator (1/2) sum_ij x_i (delta_ij - x_j) d_i d_j), the mean time until one of K types
remains, started from frequencies p, is

    E tau ~= -2 n sum_i (1 - p_i) ln(1 - p_i)                      (Littler 1975, eq. 2.13 haploid form)

which for K = 2 is Kimura's (1955) -2n [p ln p + (1 - p) ln(1 - p)] for a haploid population of n. The
constant 2 (a haploid population of n has variance p(1 - p)/n per generation; a diploid one of N has 2N
genes, hence Kimura's 4N) is checked against the exact binomial chain in ``proofs_check/collapse_time.py``.
It is an approximation: it ignores the discrete first step and is poor when n is small or when many p_i
are below 1/n.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from collapsim.errors import ConfigError

#: Largest number of partitions of n for which the exact lumped chain is built (n <= 17).
PARTITION_LIMIT = 300
#: Largest n for the two-category (n + 1)-state chain: an (n + 1)^2 matrix solve.
BINOMIAL_LIMIT = 3000

DIFFUSION_LABEL = "diffusion approx. -2n sum (1-p) ln(1-p)"


def partition_count(n: int) -> int:
    """p(n), the number of partitions of n (Euler's pentagonal recurrence)."""
    p = [1] + [0] * n
    for m in range(1, n + 1):
        total, k = 0, 1
        while True:
            g1, g2 = k * (3 * k - 1) // 2, k * (3 * k + 1) // 2
            if g1 > m:
                break
            sign = 1 if k % 2 else -1
            total += sign * (p[m - g1] + (p[m - g2] if g2 <= m else 0))
            k += 1
        p[m] = total
    return p[n]


def partition_distribution(probs, n: int) -> dict:
    """Law of the sorted non-zero counts of Multinomial(n, probs): partition (tuple, decreasing) -> prob.

    Dynamic programme over categories: the state is the multiset of counts placed so far; category i adds
    a count c with weight probs_i^c / c!; n! times the weight of each full state is its probability.
    Cost: categories x sum_{m <= n} p(m) states x (n + 1) counts.
    """
    probs = np.asarray(probs, np.float64)
    probs = probs[probs > 0]
    log_fact = [math.lgamma(c + 1) for c in range(n + 1)]
    states = {(): 1.0}
    for p in probs:
        powers = [p ** c * math.exp(-log_fact[c]) for c in range(n + 1)]
        nxt: dict = {}
        for state, w in states.items():
            room = n - sum(state)
            nxt[state] = nxt.get(state, 0.0) + w  # count 0
            for c in range(1, room + 1):
                key = tuple(sorted(state + (c,), reverse=True))
                nxt[key] = nxt.get(key, 0.0) + w * powers[c]
        states = nxt
    scale = math.exp(log_fact[n])
    return {s: w * scale for s, w in states.items() if sum(s) == n}


@lru_cache(maxsize=16)
def lumped_absorption_times(n: int) -> dict:
    """Mean generations to one category left, from each partition of n: partition -> h (h((n,)) = 0)."""
    if partition_count(n) > PARTITION_LIMIT:
        raise ConfigError(f"the exact chain for n = {n} has {partition_count(n)} states (limit {PARTITION_LIMIT})")
    states = sorted(partition_distribution(np.ones(n) / n, n))  # every partition of n has positive probability
    live = [s for s in states if len(s) > 1]
    index = {s: i for i, s in enumerate(live)}
    Q = np.zeros((len(live), len(live)))
    for s in live:
        for t, w in partition_distribution(np.asarray(s, np.float64) / n, n).items():
            if t in index:
                Q[index[s], index[t]] += w
    h = np.linalg.solve(np.eye(len(live)) - Q, np.ones(len(live)))
    out = {s: float(h[index[s]]) for s in live}
    out[(n,)] = 0.0
    return out


@lru_cache(maxsize=16)
def binomial_absorption_times(n: int) -> np.ndarray:
    """Two categories: h (n + 1,), mean generations to fixation from count c of one of them (h_0 = h_n = 0)."""
    from scipy.stats import binom

    c = np.arange(n + 1)
    P = binom.pmf(c[None, :], n, c[:, None] / n)  # P[c, c'] = Binomial(n, c / n) at c'
    inner = slice(1, n)
    h = np.zeros(n + 1)
    h[inner] = np.linalg.solve(np.eye(n - 1) - P[inner, inner], np.ones(n - 1))
    return h


def exact_available(truth, n: int) -> bool:
    """Whether :func:`mean_collapse_time` can compute the exact mean for this truth and n."""
    k = int(np.count_nonzero(np.asarray(truth) > 0))
    return k <= 1 or (k == 2 and n <= BINOMIAL_LIMIT) or partition_count(n) <= PARTITION_LIMIT


def mean_collapse_time(truth, n: int) -> float:
    """Exact E tau for the categorical family started at ``truth`` (K,), n samples per generation.

    Raises :class:`ConfigError` when n is too large for the exact chain (see :func:`exact_available`).
    """
    q = np.asarray(truth, np.float64)
    q = q[q > 0] / q.sum()
    if n < 1:
        raise ConfigError(f"samples must be at least 1, got {n}")
    if q.size <= 1:
        return 0.0
    if q.size == 2 and n <= BINOMIAL_LIMIT:
        from scipy.stats import binom

        h = binomial_absorption_times(n)
        return 1.0 + float(binom.pmf(np.arange(n + 1), n, q[0]) @ h)
    if not exact_available(q, n):
        raise ConfigError(f"no exact collapse time for K = {q.size}, n = {n}: {partition_count(n)} partitions")
    h = lumped_absorption_times(n)
    return 1.0 + sum(w * h[s] for s, w in partition_distribution(q, n).items())


def diffusion_mean_collapse_time(truth, n: int) -> float:
    """APPROXIMATION: -2 n sum_i (1 - p_i) ln(1 - p_i), the diffusion mean time to one type (module docstring)."""
    q = np.asarray(truth, np.float64)
    q = q[q > 0] / q.sum()
    if q.size <= 1:
        return 0.0
    return float(-2.0 * n * np.sum((1.0 - q) * np.log1p(-q)))
