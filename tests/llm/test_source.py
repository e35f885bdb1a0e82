"""The known-source language: its closed forms (eqs. S2-S6) against Monte Carlo, tolerance from the standard error."""

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.families.llm import source as S

SRC = S.build_source(vocab=64, branching=4, teleport=0.05, length=12, seed=3)


def _max_z(counts, n, p):
    """Largest |z| of empirical frequencies counts / n against probabilities p (binomial standard errors)."""
    se = np.sqrt(p * (1 - p) / n)
    return float(np.max(np.abs(counts / n - p) / se))


def test_transition_is_stochastic_and_stationary_law_is_fixed():
    np.testing.assert_allclose(SRC.transition.sum(1), 1.0, atol=1e-12)
    pi = S.stationary_law(SRC)
    np.testing.assert_allclose(pi @ SRC.transition, pi, atol=1e-13)
    # the marginals forget the opening law geometrically and reach pi
    far = SRC._replace(length=400)
    np.testing.assert_allclose(S.marginals(far)[-1], pi, atol=1e-10)


def test_per_position_marginals_and_unigram_law_match_monte_carlo():
    n = 40000
    x = S.sample_texts_numpy(SRC, n, np.random.default_rng(11))
    m = S.marginals(SRC)
    top = np.argsort(-S.unigram_law(SRC))[:16]
    for t in (0, 1, 5, SRC.length - 1):
        counts = np.bincount(x[:, t], minlength=SRC.vocab)
        assert _max_z(counts[top], n, m[t, top]) < 4.5, t
    counts = np.bincount(x.ravel(), minlength=SRC.vocab)
    # positions in a text are dependent, so compare the unigram law through per-text frequencies
    per_text = np.stack([np.bincount(r, minlength=SRC.vocab) for r in x[:4000]]) / SRC.length
    mean, se = per_text.mean(0), per_text.std(0, ddof=1) / np.sqrt(per_text.shape[0])
    u = S.unigram_law(SRC)
    assert np.max(np.abs(mean[top] - u[top]) / se[top]) < 4.5
    assert counts.sum() == n * SRC.length


def test_entropy_per_word_matches_the_monte_carlo_log_loss():
    x = S.sample_texts_numpy(SRC, 20000, np.random.default_rng(12))
    nll = -np.log(SRC.initial[x[:, 0]]) - np.log(SRC.transition[x[:, :-1], x[:, 1:]]).sum(1)
    per_word = nll / SRC.length
    se = per_word.std(ddof=1) / np.sqrt(per_word.size)
    assert abs(per_word.mean() - S.text_entropy_per_word(SRC)) < 4 * se
    # the entropy rate is the long-text limit: a long text's per-word entropy approaches it
    assert abs(S.text_entropy_per_word(SRC._replace(length=4000)) - S.entropy_rate(SRC)) < 2e-3


def test_jax_sampler_draws_the_same_law():
    import jax

    rows = np.asarray(S.sample_rows(jax.random.key(0), S.jax_tables(SRC), 20000, SRC.length, SRC.eot))
    assert rows.shape == (20000, SRC.length + 1) and (rows[:, 0] == SRC.eot).all()
    assert rows[:, 1:].max() < SRC.vocab
    m = S.marginals(SRC)
    top = np.argsort(-S.unigram_law(SRC))[:16]
    for t in (0, SRC.length - 1):
        counts = np.bincount(rows[:, 1 + t], minlength=SRC.vocab)
        assert _max_z(counts[top], 20000, m[t, top]) < 4.5, t


def test_word_tokenizer_round_trips_words_to_ids():
    tok = S.word_tokenizer(SRC)
    text = S.to_text(SRC, [0, 5, 7, SRC.eot, 3])
    assert tok.encode(text).ids == [0, 5, 7, 3]
    assert tok.token_to_id(S.END_OF_TEXT) == SRC.eot


@pytest.mark.parametrize("kw", [dict(vocab=1), dict(branching=0), dict(teleport=0.0), dict(length=1)])
def test_bad_source_settings_are_one_line_errors(kw):
    with pytest.raises(ConfigError):
        S.build_source(**kw)
