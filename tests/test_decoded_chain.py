"""The ideal learner of a decoded loop on a Markov source (collapsim.theory.decoded_chain) and the decoded
Wright-Fisher moments built on it (collapsim.theory.llm, eq. L5): closed forms against Monte Carlo."""

import numpy as np
import pytest
from scipy.special import softmax

from collapsim.theory import decoded_chain as D
from collapsim.theory import llm as th

K, L = 5, 6


def chain(seed=0):
    rng = np.random.default_rng(seed)
    f = rng.dirichlet(np.ones(K))
    P = rng.dirichlet(np.full(K, 0.7), size=K)
    return f, P


def sample_texts(g, Q, n, rng):
    """n texts (n, L) of the chain (g, Q) by inverse CDF."""
    x = np.empty((n, L), np.int64)
    x[:, 0] = np.minimum(np.searchsorted(np.cumsum(g), rng.random(n), side="right"), K - 1)
    cdf = np.cumsum(Q, axis=1)
    for s in range(1, L):
        x[:, s] = np.minimum((cdf[x[:, s - 1]] <= rng.random(n)[:, None]).sum(1), K - 1)
    return x


@pytest.mark.parametrize("tau,k", [(0.7, 0), (1.0, 3), (0.8, 2), (1.3, 4)])
def test_decode_is_softmax_of_the_tempered_log_probabilities_over_the_top_k(tau, k):
    _, P = chain(1)
    got = D.decode(P, tau, k)
    for row, g in zip(P, got):
        kept = np.sort(np.argsort(row)[::-1][:k]) if k else np.arange(K)
        want = np.zeros(K)
        want[kept] = softmax(np.log(row[kept]) / tau)
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15)


def test_without_decoding_the_source_is_a_fixed_point_under_both_policies():
    f, P = chain(2)
    u = D.marginals(f, P, L).mean(0)
    for a in (0.0, 0.3):
        d = D.trajectory(f, P, L, np.full(4, a))
        np.testing.assert_allclose(d, np.tile(u, (5, 1)), atol=1e-13)
        np.testing.assert_allclose(D.unigram_factors(f, P, L, np.full(4, a)), 1.0, atol=1e-12)


@pytest.mark.parametrize("a", [0.0, 0.25])
def test_learned_chain_is_the_ratio_of_expected_counts_of_the_mixed_texts(a):
    """Eq. (D2) against texts: a share a of source texts, the rest decoded texts of another chain. For the
    ratio estimator Q'_ij = E n_ij / E n_i, each text's n_ij - Q'_ij n_i has mean 0 (n: its transition
    counts out of word i); likewise the first word against g'."""
    f, P = chain(3)
    g, Q = chain(4)
    tau, k = 0.8, 4
    g2, Q2 = D.learn(f, P, g, Q, a, L, tau, k)
    rng = np.random.default_rng(11)
    N = 40000
    real = rng.random(N) < a
    x = np.where(real[:, None], sample_texts(f, P, N, rng), sample_texts(D.decode(g, tau, k), D.decode(Q, tau, k), N, rng))
    n = np.zeros((N, K, K))
    for s in range(L - 1):
        np.add.at(n, (np.arange(N), x[:, s], x[:, s + 1]), 1.0)
    z = n - Q2[None] * n.sum(2, keepdims=True)
    zs = z.mean(0) / (z.std(0, ddof=1) / np.sqrt(N) + 1e-300)
    assert np.max(np.abs(zs[z.std(0) > 0])) < 4.5
    first = np.eye(K)[x[:, 0]]
    se = first.std(0, ddof=1) / np.sqrt(N)
    seen = se > 0  # a word top-k cut from the opening law has no spread: it must be exactly absent
    assert np.max(np.abs(first.mean(0) - g2)[seen] / se[seen]) < 4.5
    np.testing.assert_allclose(g2[~seen], first.mean(0)[~seen], atol=1e-15)


def test_decoded_unigram_law_is_the_word_frequency_of_decoded_texts():
    g, Q = chain(5)
    tau, k = 0.75, 3
    d = D.decoded_unigram(g, Q, L, tau, k)
    rng = np.random.default_rng(12)
    N = 20000
    x = sample_texts(D.decode(g, tau, k), D.decode(Q, tau, k), N, rng)
    freq = np.stack([(x == i).mean(1) for i in range(K)], 1)  # per text (N, K)
    se = freq.std(0, ddof=1) / np.sqrt(N)
    assert np.all(se > 0)
    assert np.max(np.abs(freq.mean(0) - d) / se) < 4.5


def _reweighted_wright_fisher(q, u, M, a, r, chains, rng, c=None):
    """Simulated chains (chains, K) of eq. (L5) after len(a) generations: each draw reweighted by r_t and
    divided by c_t when given, else normalised draw by draw (the model the theory linearises)."""
    p = np.tile(q, (chains, 1))
    for t in range(a.size):
        x = a[t] * u + (1 - a[t]) * p
        w = np.stack([rng.multinomial(M, xi / xi.sum()) for xi in x]) / M
        p = r[t] * w
        p = p / c[t] if c is not None else p / p.sum(1, keepdims=True)
    return p


def _problem(alpha, T, seed=13):
    rng = np.random.default_rng(seed)
    q, u = rng.dirichlet(np.ones(K) * 2), rng.dirichlet(np.ones(K) * 2)
    return q, u, rng.uniform(0.6, 1.5, size=(T, K)), np.full(T, alpha)


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_one_decoded_generation_is_exact(alpha):
    """One generation of eq. (L5) from a normalised law: c_1 = sum r x is the exact normaliser of the mean;
    E p and 1 - sum E p^2 against 40,000 reweighted multinomial draws, 4.5 standard errors."""
    q, u, r, a = _problem(alpha, 1)
    x = alpha * u + (1 - alpha) * q
    p = _reweighted_wright_fisher(q, u, 30, a, r, 40000, np.random.default_rng(14), c=[(r[0] * x).sum()])
    m, s = th.moments(q, u, 30, a, r)
    se = p.std(0, ddof=1) / np.sqrt(p.shape[0])
    assert np.max(np.abs(p.mean(0) - m[-1]) / se) < 4.5
    sq = (p * p).sum(1)
    assert abs(sq.mean() - s[-1].sum()) < 4.5 * sq.std(ddof=1) / np.sqrt(p.shape[0])


@pytest.mark.parametrize("alpha,M", [(0.0, 30), (0.2, 30), (0.0, 200)])
def test_decoded_moments_over_generations_are_close_to_draws_normalised_one_by_one(alpha, M):
    """Four generations with each draw normalised (the real model): the linearised normaliser of eq. (L5) is
    an approximation whose error in E sum p^2 is O(1/M); measured 5% of the four generations' change at
    M = 30 and 2.6% at M = 200, so the check allows 4.5 standard errors plus 8% of the change."""
    q, u, r, a = _problem(alpha, 4)
    p = _reweighted_wright_fisher(q, u, M, a, r, 40000, np.random.default_rng(15))
    m, s = th.moments(q, u, M, a, r)
    sq = (p * p).sum(1)
    change = abs(s[-1].sum() - s[0].sum())
    assert abs(sq.mean() - s[-1].sum()) < 4.5 * sq.std(ddof=1) / np.sqrt(p.shape[0]) + 0.08 * change
    assert np.max(np.abs(p.mean(0) - m[-1])) < 0.1 * np.max(np.abs(m[-1] - q))


def test_decoded_curves_tend_to_the_ideal_learner_without_noise():
    f, P = chain(7)
    alpha = np.zeros(5)
    d = D.trajectory(f, P, L, alpha, 0.8, 3)
    r = D.unigram_factors(f, P, L, alpha, 0.8, 3)
    c = th.curves(d[0], D.marginals(f, P, L).mean(0), 1e12, alpha, 100, r)
    ent = -(d * np.log(np.where(d > 0, d, 1))).sum(-1)
    np.testing.assert_allclose(c["unigram_entropy"], ent, atol=1e-6)
    np.testing.assert_allclose(c["gini_simpson"], 1 - (d * d).sum(-1), atol=1e-9)
