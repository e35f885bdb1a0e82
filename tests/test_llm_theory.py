"""The Wright-Fisher theory of a language model's unigram law (collapsim.theory.llm)."""

import numpy as np
import pytest
from scipy.special import xlogy

from collapsim.theory import categorical as cat
from collapsim.theory import llm as th

K = 30


def zipf(k, s=1.0):
    w = np.arange(1, k + 1.0) ** -s
    return w / w.sum()


@pytest.mark.parametrize("alpha", [np.zeros(8), np.full(8, 0.2), np.linspace(0.5, 0.05, 8)])
def test_gini_simpson_is_the_exact_categorical_recursion(alpha):
    """With the anchor equal to the start (u = q) and an integer n_eff, (L2) is eq. (C4) of the categorical
    theory, an independent implementation."""
    q = zipf(K)
    got = th.curves(q, q, 150, alpha, 1000)["gini_simpson"]
    np.testing.assert_allclose(got, cat.expected_gini_simpson(q, 150, alpha), rtol=0, atol=1e-13)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # theory.categorical._binomial_pmf overflows in exp at M = 2000 (exact rows still)
def test_small_noise_entropy_agrees_with_exact_marginals_while_every_count_is_large():
    q = zipf(K, 0.5)
    M, T = 2000, 6
    approx = th.curves(q, q, M, np.zeros(T), 10)["unigram_entropy"]
    exact = cat.marginals(q, M, np.zeros(T)).entropy
    assert np.max(np.abs(approx - exact)) < 0.03 * (exact[0] - exact[-1])  # 2% measured at M = 2000


def test_support_and_tail_at_generation_zero_are_the_iid_closed_forms():
    q, u, N = zipf(K), np.full(K, 1.0 / K), 40
    c = th.curves(q, u, 100, np.zeros(3), N)
    assert c["support"][0] == pytest.approx(np.sum(1 - (1 - q) ** N), abs=1e-12)
    assert c["tail_mass"][0] == pytest.approx(np.sum(u * (1 - q) ** N), abs=1e-12)
    assert np.all(np.diff(c["support"]) < 0)  # replacement only loses words


def _wright_fisher(q, u, M, alpha, chains, rng, n_words=1000):
    """Per-chain (chains, T + 1) unigram entropy, Gini-Simpson and support (distinct words among n_words
    i.i.d. draws from p, the measurement of eq. L4) of eq. (L1), by multinomial draws."""
    T = alpha.size
    ent, gini, sup = np.empty((chains, T + 1)), np.empty((chains, T + 1)), np.empty((chains, T + 1))
    p = np.tile(q, (chains, 1))
    for t in range(T + 1):
        ent[:, t] = -xlogy(p, p).sum(1)
        gini[:, t] = 1 - (p * p).sum(1)
        sup[:, t] = [(rng.multinomial(n_words, pi / pi.sum()) > 0).sum() for pi in p]
        if t < T:
            x = alpha[t] * u + (1 - alpha[t]) * p
            p = np.stack([rng.multinomial(M, xi / xi.sum()) for xi in x]) / M
    return ent, gini, sup


@pytest.mark.parametrize("alpha", [0.0, 0.2])
@pytest.mark.slow
def test_fit_recovers_the_population_of_simulated_wright_fisher_chains(alpha):
    """The fit sees only the first half of the curves and must find n_eff within 20% (200 chains); then the
    held-out half of the exact metrics is predicted within 4.5 standard errors."""
    q = zipf(K)
    M, T = 400, 8
    a = np.full(T, alpha)
    ent, gini, sup = _wright_fisher(q, q, M, a, 200, np.random.default_rng(5))
    per_chain = {"unigram_entropy": ent, "gini_simpson": gini, "support": sup, "tail_mass": ent * 0}
    rep = th.fit_and_predict(per_chain, q, q, a, 1000)
    assert 0.8 * M < rep.n_eff < 1.25 * M
    assert rep.fit_generations == T // 2
    assert rep.heldout_error["unigram_entropy"]["max_abs_z"] < 4.5
    assert rep.heldout_error["gini_simpson"]["max_abs_z"] < 4.5
    assert not rep.at_bound
    lo, hi = rep.interval
    assert lo < M < hi
