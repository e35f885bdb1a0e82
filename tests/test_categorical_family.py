"""The categorical family: its sampler, the decoding transforms (against Hugging Face's), Monte Carlo against
the exact Wright-Fisher theory, the shortcut against the explicit path, and decoding's faster tail loss."""

import numpy as np
import pytest
from scipy import stats

import jax
import jax.numpy as jnp

from collapsim.engine.decoding import decode_probs
from collapsim.engine import LoopConfig, run_loop
from collapsim.runs.summary import summarize
from collapsim.errors import ConfigError
from collapsim.families import categorical as fam
from collapsim.theory import categorical as th

SEEDS = 4000


def _within(values, theory, k=4.0, name=""):
    """Every generation's Monte Carlo mean within k standard errors of theory (generation 0 exact)."""
    s = summarize(values)
    np.testing.assert_allclose(s["mean"][0], theory[0], rtol=1e-5, atol=1e-6, err_msg=name)
    se = np.maximum(s["stderr"][1:], 1e-7)  # a metric constant across chains (e.g. support 50 early) has se 0
    z = (s["mean"][1:] - theory[1:]) / se
    assert np.all(np.abs(z) <= k), f"{name}: max |z| = {np.abs(z).max():.2f} at generation {np.argmax(np.abs(z)) + 1}"


@pytest.mark.parametrize("vocab", [1, 2, 7, 50, 130])
def test_sampler_frequencies_match_the_probabilities(vocab):
    p = fam.zipf_truth(vocab, 1.1)
    p[1::3] = 0.0  # dead categories must never be drawn, wherever they sit
    p[0] = max(p[0], 1e-3)
    p /= p.sum()
    n = 400_000
    x = np.asarray(fam.sample_tokens(jax.random.key(vocab), jnp.asarray(p, jnp.float32), n))
    counts = np.bincount(x, minlength=vocab)
    assert counts.shape == (vocab,) and x.min() >= 0
    assert np.all(counts[p == 0] == 0)
    alive = p > 0
    if alive.sum() > 1:
        assert stats.chisquare(counts[alive], n * p[alive]).pvalue > 1e-4


def test_a_dead_last_category_is_never_drawn_even_at_the_top_of_the_unit_interval():
    p = jnp.asarray([0.25, 0.75, 0.0], jnp.float32)
    x = fam.sample_tokens(jax.random.key(0), p, 200_000)
    assert int(x.max()) == 1


def _hf_decode(p, temperature, top_k, top_p):
    torch = pytest.importorskip("torch")
    lp = pytest.importorskip("transformers.generation.logits_process")
    scores = torch.log(torch.tensor(p, dtype=torch.float64))[None]
    ids = torch.zeros((1, 1), dtype=torch.long)
    if temperature != 1.0:
        scores = lp.TemperatureLogitsWarper(temperature)(ids, scores)
    if top_k:
        scores = lp.TopKLogitsWarper(top_k)(ids, scores)
    if top_p < 1.0:
        scores = lp.TopPLogitsWarper(top_p)(ids, scores)
    return torch.softmax(scores, -1)[0].numpy()


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.7, 0, 1.0), (1.0, 10, 1.0), (1.0, 0, 0.8), (0.8, 20, 0.9), (1.5, 5, 0.5)])
def test_decoding_matches_hugging_face_logits_warpers(temperature, top_k, top_p):
    p = fam.zipf_truth(50, 1.0)
    family = fam.categorical(50, top_k, tempered=temperature != 1.0, nucleus=top_p < 1.0)
    params = fam.make_params(p, temperature, top_p)
    ours = np.asarray(decode_probs(params["truth"], temperature=params["temperature"] if temperature != 1.0 else None,
                                   top_k=top_k, top_p=params["top_p"] if top_p < 1.0 else None), np.float64)
    ref = _hf_decode(np.asarray(params["truth"], np.float64), temperature, top_k, top_p)
    np.testing.assert_array_equal(ours > 0, ref > 0)
    np.testing.assert_allclose(ours, ref, atol=2e-6)


def test_top_k_keeps_ties_and_dead_categories_stay_dead():
    p = jnp.asarray([0.3, 0.2, 0.2, 0.0, 0.3], jnp.float32)
    q = np.asarray(decode_probs(p, top_k=3))
    np.testing.assert_allclose(q, [0.3, 0.2, 0.2, 0.0, 0.3] / np.float32(1.0), atol=1e-7)  # tie at the 3rd: all kept
    q = np.asarray(decode_probs(p, temperature=0.5))
    assert q[3] == 0 and abs(q.sum() - 1) < 1e-6


@pytest.mark.parametrize("policy,init,alpha", [("replace", "zipf", 0.0), ("mix", "uniform", 0.2), ("mix", "zipf", "schedule")])
def test_every_metric_matches_exact_theory(policy, init, alpha):
    K, M, T = 20, 40, 30
    truth = fam.initial_truth(init, K)
    params = fam.make_params(truth)
    alpha_t = 0.6 / np.arange(1, T + 1) ** 0.5 if alpha == "schedule" else np.full(T, alpha)
    out = run_loop(fam.categorical(K), LoopConfig(policy, M, T, False), params, alpha_t, SEEDS, seed=13)
    predicted = th.predictions(policy, fam.simulated_truth(params), M, alpha_t, np.asarray(params["bottom"]))
    assert set(predicted) == set(out), "every recorded metric should have an exact prediction here"
    for name, curve in predicted.items():
        _within(out[name], curve, name=name)


def test_the_theory_tests_have_power():
    """Population size M + 10 instead of M is rejected by the same 4-standard-error rule."""
    K, M, T = 20, 40, 30
    params = fam.make_params(fam.zipf_truth(K))
    out = run_loop(fam.categorical(K), LoopConfig("replace", M, T, True), params, np.zeros(T), SEEDS, seed=3)
    wrong = th.predictions("replace", fam.simulated_truth(params), M + 10, np.zeros(T))
    s = summarize(out["entropy"])
    assert abs(s["mean"][-1] - wrong["entropy"][-1]) > 4 * s["stderr"][-1]


@pytest.mark.parametrize("policy", ["replace", pytest.param("mix", marks=pytest.mark.slow)])
def test_shortcut_and_explicit_paths_give_the_same_distribution(policy):
    K, M, T = 20, 30, 25
    family = fam.categorical(K, 8, tempered=True)  # through a decoding transform too
    params = fam.make_params(fam.zipf_truth(K), temperature=0.9)
    alpha = np.full(T, 0.25)
    a = run_loop(family, LoopConfig(policy, M, T, False), params, alpha, SEEDS, seed=21)
    b = run_loop(family, LoopConfig(policy, M, T, True), params, alpha, SEEDS, seed=22)
    for metric in ("entropy", "support", "tv"):
        for g in (1, 5, T):
            x, y = a[metric][:, g], b[metric][:, g]
            se = np.hypot(x.std() / np.sqrt(len(x)), y.std() / np.sqrt(len(y)))
            assert abs(x.mean() - y.mean()) <= 4 * max(se, 1e-7), (metric, g)
            if metric != "support":
                assert stats.ks_2samp(x, y).pvalue > 1e-3, (metric, g)


@pytest.mark.parametrize("decoding", [pytest.param(dict(temperature=0.7), marks=pytest.mark.slow), dict(top_k=10)],
                         ids=["temperature0.7", "top-k10"])
def test_decoding_loses_the_tail_faster(decoding):
    K, M, T, seeds = 50, 200, 10, 1000
    truth = fam.zipf_truth(K)
    temperature, top_k = decoding.get("temperature", 1.0), decoding.get("top_k", 0)
    plain = run_loop(fam.categorical(K), LoopConfig("replace", M, T, True), fam.make_params(truth), np.zeros(T), seeds, seed=5)
    cut = run_loop(fam.categorical(K, top_k, tempered=temperature != 1.0), LoopConfig("replace", M, T, True),
                   fam.make_params(truth, temperature), np.zeros(T), seeds, seed=6)
    for g in (1, 5, 10):  # later the undecoded chains catch up: top-k has nothing more to cut
        a, b = summarize(plain["tail_mass"]), summarize(cut["tail_mass"])
        assert b["mean"][g] - a["mean"][g] > 4 * np.hypot(a["stderr"][g], b["stderr"][g]), g
        a, b = summarize(plain["bottom_decile_mass"]), summarize(cut["bottom_decile_mass"])
        assert a["mean"][g] - b["mean"][g] > 4 * np.hypot(a["stderr"][g], b["stderr"][g]), g


def test_initial_truths_and_bottom_decile():
    z = fam.zipf_truth(30, 1.2)
    assert np.isclose(z.sum(), 1) and np.all(np.diff(z) < 0) and np.isclose(z[0] / z[1], 2**1.2)
    np.testing.assert_array_equal(fam.dirichlet_truth(10, 0.5, seed=4), fam.dirichlet_truth(10, 0.5, seed=4))
    mask = fam.bottom_decile_mask(z)
    assert mask.sum() == 3 and mask[-3:].all()
    assert fam.bottom_decile_mask(np.full(25, 0.04)).sum() == 3
    with pytest.raises(ConfigError, match="zero in float32"):
        fam.make_params(np.array([1.0, 1e-60]))
    with pytest.raises(ConfigError, match="unknown --init"):
        fam.initial_truth("nope", 5)


def test_wordfreq_truth_is_the_real_english_word_distribution():
    pytest.importorskip("wordfreq")
    p, words = fam.wordfreq_truth(100)
    assert words[0] == "the" and len(set(words)) == 100
    assert np.isclose(p.sum(), 1) and np.all(np.diff(p) <= 1e-12)
    assert p[0] > 0.04  # "the" is roughly 5% of English text


def test_smoothing_revives_categories():
    K, M, T = 10, 5, 30
    params = fam.make_params(fam.uniform_truth(K), smoothing=0.5)
    out = run_loop(fam.categorical(K), LoopConfig("replace", M, T, True), params, np.zeros(T), 50, seed=1)
    assert np.all(out["support"] == K) and np.all(out["tail_mass"] == 0)


@pytest.mark.parametrize("vocab,n", [(5, 40), (30, 3000)])
def test_conditional_binomial_counts_are_multinomial(vocab, n):
    p = fam.zipf_truth(vocab, 1.1)
    p[2] = 0.0  # a dead category gets nothing
    p /= p.sum()
    draws = 20_000
    c = np.asarray(jax.vmap(lambda k: fam.binomial_counts(k, jnp.asarray(p, jnp.float32), n))(jax.random.split(jax.random.key(vocab), draws)))
    assert np.all(c.sum(1) == n) and np.all(c[:, 2] == 0) and c.min() >= 0
    se_mean = np.sqrt(n * p * (1 - p) / draws)
    assert np.all(np.abs(c.mean(0) - n * p) <= 4 * se_mean + 1e-9)
    var = n * p * (1 - p)  # multinomial variances and the (0, 1) covariance -n p0 p1
    assert np.all(np.abs(c.var(0) - var) <= 0.1 * var + 1e-9)
    assert np.cov(c[:, 0], c[:, 1])[0, 1] == pytest.approx(-n * p[0] * p[1], rel=0.1)


def test_sampler_choice_and_a_deep_search_tree_for_a_large_vocabulary():
    assert fam.use_binomial_counts(10, 10_000) and not fam.use_binomial_counts(1000, 1000)
    K = 2548
    assert len(fam.search_widths(K)) == 4
    p = fam.zipf_truth(K)
    p[-1] = 0.0
    p /= p.sum()
    n = 400_000
    x = np.asarray(fam.sample_tokens(jax.random.key(5), jnp.asarray(p, jnp.float32), n))
    counts = np.bincount(x, minlength=K)
    assert counts[-1] == 0
    top = 200  # the categories with enough expected counts for a chi-square test, the rest pooled
    obs = np.append(counts[:top], counts[top:].sum())
    exp = np.append(n * p[:top], n * p[top:].sum())
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-4


@pytest.mark.parametrize("vocab", [1, 2, 31, 32, 33, 129, 1000, 1025, 10_000, 100_000])
def test_search_widths_cover_the_vocabulary_with_narrow_levels(vocab):
    widths = fam.search_widths(vocab)
    assert np.prod(widths) >= vocab and max(widths) <= max(32, 1) and min(widths) >= 1
    # no level is wasted: dropping a child from the first level would no longer cover K
    assert (widths[0] - 1) * np.prod(widths[1:]) < vocab


@pytest.mark.parametrize("vocab", [1, 5, 33, 1000, 4099, 100_000])
def test_cumulative_probs_is_the_exact_cdf_of_the_quantised_probabilities(vocab):
    p = fam.zipf_truth(vocab, 1.2)
    p[3::7] = 0.0
    p = np.asarray(p / p.sum(), np.float32)
    c = np.asarray(fam.cumulative_probs(jnp.asarray(p * 3.0)), np.float64)  # unnormalised input
    q = np.round(p.astype(np.float64) * 2.0**fam.QUANTUM_BITS)  # the quantised probabilities, in float64
    steps = np.diff(np.concatenate([[0.0], c]))
    assert np.all(steps[p == 0] == 0.0)  # a dead category gets exactly no mass
    assert np.all(c == np.floor(c))  # integers, so every order of addition gives the same sums
    # each step is its probability to the quantum, whatever the rounding of 3 p / sum(3 p) in float32
    assert np.max(np.abs(steps - q)) <= 1.0
    assert abs(c[-1] / 2.0**fam.QUANTUM_BITS - 1.0) < vocab * 2.0**-23 + 1e-6


def test_sampler_frequencies_at_vocabulary_1000_with_dead_categories():
    K, n = 1000, 1_000_000
    p = fam.zipf_truth(K, 0.8)
    p[5::4] = 0.0
    p /= p.sum()
    x = np.asarray(fam.sample_tokens(jax.random.key(11), jnp.asarray(p, jnp.float32), n))
    counts = np.bincount(x, minlength=K)
    assert counts.shape == (K,) and np.all(counts[p == 0] == 0)
    alive = p > 0
    assert stats.chisquare(counts[alive], n * p[alive] * counts.sum() / (n * p[alive]).sum()).pvalue > 1e-4
