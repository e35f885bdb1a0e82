"""The jitted sampler: padding invariance, exact log-probs, truncation, penalty, end token, distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.gpt2.checkpoint import load_checkpoint
from collapsim.gpt2.model import forward
from collapsim.engine.decoding import apply_repetition_penalty, decode_logits
from collapsim.gpt2.sampling import sample, sampling_params
from collapsim.gpt2.tokenizer import left_pad


@pytest.fixture(scope="module")
def ck(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


PROMPTS = [[5, 17, 42, 8, 99, 3], [250], [7, 7, 130]]


@pytest.mark.slow
def test_left_padding_does_not_change_greedy_output(ck):
    ids, mask = left_pad(PROMPTS, pad_id=0)
    batch = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), sampling_params(0.0),
                   max_new_tokens=12)
    for i, p in enumerate(PROMPTS):
        alone = sample(ck.params, ck.config, np.array([p]), np.ones((1, len(p)), bool), jax.random.PRNGKey(0),
                       sampling_params(0.0), max_new_tokens=12)
        np.testing.assert_array_equal(np.asarray(batch.tokens[i]), np.asarray(alone.tokens[0]))
        np.testing.assert_allclose(np.asarray(batch.logprob[i]), np.asarray(alone.logprob[0]), atol=1e-5)


@pytest.mark.slow
def test_logprob_is_under_the_untruncated_model(ck):
    """Sampled with temperature, top-k, top-p and a penalty; logprob must still be the plain model's."""
    ids, mask = left_pad(PROMPTS, pad_id=0)
    sp = sampling_params(temperature=0.7, top_k=20, top_p=0.9, repetition_penalty=1.2)
    out = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(3), sp, max_new_tokens=10)
    full = np.concatenate([ids, np.asarray(out.tokens)], axis=1)
    fmask = np.concatenate([mask, np.ones(out.tokens.shape, bool)], axis=1)
    logp = np.asarray(jax.nn.log_softmax(forward(ck.params, ck.config, full, fmask), -1))
    T = ids.shape[1]
    want = np.take_along_axis(logp[:, T - 1:-1], np.asarray(out.tokens)[..., None], -1)[..., 0]
    np.testing.assert_allclose(np.asarray(out.logprob), want, atol=1e-4)
    # Truncation and a lower temperature only move mass onto the tokens that can be drawn.
    assert (np.asarray(out.decode_logprob) >= np.asarray(out.logprob) - 1e-5).mean() > 0.9


@pytest.mark.slow
def test_top_k_one_is_greedy_and_deterministic_keys(ck):
    ids, mask = left_pad(PROMPTS, pad_id=0)
    greedy = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), sampling_params(0.0), max_new_tokens=8)
    k1 = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(9), sampling_params(1.3, top_k=1),
                max_new_tokens=8)
    np.testing.assert_array_equal(np.asarray(greedy.tokens), np.asarray(k1.tokens))
    np.testing.assert_allclose(np.asarray(k1.decode_logprob), 0.0, atol=1e-6)
    a = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(1), max_new_tokens=8)
    b = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(1), max_new_tokens=8)
    c = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(2), max_new_tokens=8)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(c.tokens))


def _reference_filter(z, k, p):
    """Plain numpy top-k then top-p over one row (Hugging Face's definitions)."""
    z = z.copy()
    if k > 0:
        z[z < np.sort(z)[::-1][k - 1]] = -np.inf
    if p < 1:
        order = np.argsort(-z)
        probs = np.exp(z[order] - z[order][0])
        probs /= probs.sum()
        before = np.cumsum(probs) - probs
        remove = order[(before >= p) & (np.arange(len(z)) > 0)]
        z[remove] = -np.inf
    return z


@pytest.mark.parametrize("k, p", [(0, 1.0), (5, 1.0), (0, 0.5), (10, 0.8), (3, 0.01), (40, 0.95)])
def test_truncation_matches_reference(k, p):
    rng = np.random.default_rng(k + int(100 * p))
    z = rng.normal(0, 2, (4, 40)).astype(np.float32)
    width = k if k else (40 if p < 1 else 0)
    got = np.asarray(decode_logits(jnp.asarray(z), top_k=jnp.int32(k), top_p=jnp.float32(p), width=width))
    for row in range(4):
        np.testing.assert_array_equal(got[row], _reference_filter(z[row], k, p))


def test_top_k_keeps_every_token_tied_with_the_kth():
    """HF's TopKLogitsWarper keeps ties at the threshold; the GPT-2 sampler used to keep exactly k."""
    z = jnp.asarray([[3.0, 1.0, 2.0, 2.0, 0.0]])
    got = np.asarray(decode_logits(z, top_k=jnp.int32(2), width=2))
    np.testing.assert_array_equal(np.isfinite(got), [[True, False, True, True, False]])


def test_repetition_penalty_hf_definition():
    logits = jnp.array([[2.0, -2.0, 3.0, -1.0]])
    seen = jnp.array([[True, True, False, False]])
    np.testing.assert_allclose(np.asarray(apply_repetition_penalty(logits, seen, 2.0)), [[1.0, -4.0, 3.0, -1.0]])


def test_end_token_stops_and_pads(ck):
    ids, mask = left_pad(PROMPTS, pad_id=0)
    free = np.asarray(sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), sampling_params(0.0),
                             max_new_tokens=12).tokens)
    eos = int(free[0, 3])
    out = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), sampling_params(0.0), max_new_tokens=12,
                 eos_token_id=eos, pad_token_id=1)
    toks, valid, lp = np.asarray(out.tokens), np.asarray(out.valid), np.asarray(out.logprob)
    for r in range(len(PROMPTS)):
        hits = np.flatnonzero(free[r] == eos)
        stop = hits[0] + 1 if hits.size else 12
        np.testing.assert_array_equal(toks[r, :stop], free[r, :stop])
        assert valid[r, :stop].all() and not valid[r, stop:].any()
        assert (toks[r, stop:] == 1).all() and (lp[r, stop:] == 0).all()
    assert valid[0].sum() == 4


@pytest.mark.slow
def test_first_token_frequencies_match_the_model(ck):
    """Monte Carlo: the first sampled token follows softmax(logits / T) truncated to the top k.

    Pearson chi-square over tokens (those with expected count < 5 pooled into one bin) must stay below
    df + 5 sqrt(2 df), five standard deviations of the chi-square law; no mass may fall outside the top k.
    """
    n = 4000
    prompt = np.array([[5, 17, 42]])
    logits = np.asarray(forward(ck.params, ck.config, prompt))[0, -1].astype(np.float64)
    for sp, k in [(sampling_params(1.0), 0), (sampling_params(0.8, top_k=5), 5)]:
        out = sample(ck.params, ck.config, np.repeat(prompt, n, 0), np.ones((n, 3), bool), jax.random.PRNGKey(7),
                     sp, max_new_tokens=1)
        z = logits / float(sp.temperature)
        if k:
            z = np.where(z >= np.sort(z)[-k], z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        counts = np.bincount(np.asarray(out.tokens[:, 0]), minlength=len(p))
        assert counts[p == 0].sum() == 0
        big = n * p >= 5
        obs = np.append(counts[big], counts[~big & (p > 0)].sum())
        exp = np.append(n * p[big], n * p[~big & (p > 0)].sum())
        obs, exp = obs[exp > 0], exp[exp > 0]
        chi2 = ((obs - exp) ** 2 / exp).sum()
        df = len(exp) - 1
        assert df >= 1 and chi2 < df + 5 * np.sqrt(2 * df), (k, chi2, df)


@pytest.mark.slow
def test_bfloat16_sampling_runs_on_cpu(ck):
    ids, mask = left_pad(PROMPTS, pad_id=0)
    out = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), sampling_params(0.9, top_p=0.9),
                 max_new_tokens=5, dtype=jnp.bfloat16)
    t = np.asarray(out.tokens)
    assert ((0 <= t) & (t < ck.config.vocab_size)).all() and np.isfinite(np.asarray(out.logprob)).all()


def test_bad_requests_are_config_errors(ck):
    ids, mask = left_pad(PROMPTS, pad_id=0)
    with pytest.raises(ConfigError, match="n_positions"):
        sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), max_new_tokens=ck.config.n_positions)
    with pytest.raises(ConfigError, match="left-padded"):
        sample(ck.params, ck.config, ids[:, ::-1], mask[:, ::-1], jax.random.PRNGKey(0), max_new_tokens=2)
    with pytest.raises(ConfigError, match="top_p"):
        sampling_params(top_p=0.0)
    with pytest.raises(ConfigError, match="temperature"):
        sampling_params(temperature=-1.0)


@pytest.mark.slow
def test_settings_sweep_under_vmap(ck):
    """Temperatures as an array axis: one compiled sampler, vmapped, equals separate calls."""
    ids, mask = left_pad(PROMPTS, pad_id=0)
    temps = jnp.array([0.0, 0.5, 1.5])

    def run(t):
        sp = sampling_params()._replace(temperature=t, top_k=jnp.int32(10))
        return sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(4), sp, max_new_tokens=5,
                      candidates=10).tokens

    swept = np.asarray(jax.vmap(run)(temps))
    for i, t in enumerate([0.0, 0.5, 1.5]):
        alone = sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(4), sampling_params(t, top_k=10),
                       max_new_tokens=5, candidates=10).tokens
        np.testing.assert_array_equal(swept[i], np.asarray(alone))
    with pytest.raises(ConfigError, match="candidates"):
        jax.vmap(lambda t: sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(4),
                                  sampling_params()._replace(temperature=t), max_new_tokens=2).tokens)(temps)
