"""Fine-tuning: padding never counts, the loss goes down, perplexity is exp(mean NLL), bf16 runs."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.gpt2.checkpoint import load_checkpoint
from collapsim.gpt2 import train as T
from collapsim.gpt2.train import adamw, fit, lm_loss, make_train_step, perplexity


@pytest.fixture(scope="module")
def ck(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


def _data(n=12, T=10, seed=0, vocab=300):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, (n, T)).astype(np.int32)
    mask = np.ones((n, T), bool)
    for i in range(n):
        mask[i, rng.integers(3, T + 1):] = False
    return np.where(mask, ids, 0), mask


@pytest.mark.slow  # default suite kept under 10 minutes; CI runs the slow set too
def test_padding_never_counts(ck):
    ids, mask = _data()
    base = float(lm_loss(ck.params, ck.config, ids, mask))
    # Different pad ids, extra pad columns and an all-padding row change nothing.
    ids2 = np.where(mask, ids, 77)
    more = np.concatenate([ids2, np.full((ids.shape[0], 4), 5)], 1)
    more_mask = np.concatenate([mask, np.zeros((ids.shape[0], 4), bool)], 1)
    more = np.concatenate([more, np.full((1, more.shape[1]), 9)])
    more_mask = np.concatenate([more_mask, np.zeros((1, more.shape[1]), bool)])
    assert abs(float(lm_loss(ck.params, ck.config, more, more_mask)) - base) < 1e-5


def test_perplexity_is_exp_of_token_mean_nll(ck):
    ids, mask = _data(n=7)
    ppl = perplexity(ck.params, ck.config, ids, mask, batch_size=3)  # batches of 3, last one padded
    assert ppl == pytest.approx(float(np.exp(lm_loss(ck.params, ck.config, ids, mask))), rel=1e-5)
    with pytest.raises(ConfigError):
        perplexity(ck.params, ck.config, ids[:, :1], mask[:, :1])


@pytest.mark.slow
def test_fit_lowers_training_loss_and_leaves_input_params_intact(ck):
    ids, mask = _data(n=10)
    before = float(lm_loss(ck.params, ck.config, ids, mask))
    wte = np.asarray(ck.params["wte"]).copy()
    res = fit(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), epochs=4, batch_size=4,
              optimizer=adamw(3e-3))
    assert res.losses.shape == (4, 3)
    after = float(lm_loss(res.params, ck.config, ids, mask))
    assert after < before - 0.5
    np.testing.assert_array_equal(np.asarray(ck.params["wte"]), wte)  # donation did not eat the caller's copy
    # Held-out data from the same random source does not improve like the training data does.
    assert perplexity(res.params, ck.config, ids, mask) < np.exp(before - 0.5)


def test_gradient_clipping_happens_before_adamw():
    """Adam is invariant to a constant gradient scale, but not to per-step clipping: a huge first
    gradient followed by a small one moves the parameter differently with and without clipping, and the
    clipped run equals Adam fed the clipped gradients by hand."""
    import optax

    p = {"w": jnp.zeros(3)}
    g1, g2 = {"w": jnp.array([300.0, 400.0, 0.0])}, {"w": jnp.array([-0.3, 0.4, 0.0])}

    def run(opt, grads):
        s = opt.init(p)
        x = p
        for g in grads:
            u, s = opt.update(g, s, x)
            x = optax.apply_updates(x, u)
        return np.asarray(x["w"])

    clipped = run(adamw(0.1, clip_norm=1.0), [g1, g2])
    by_hand = run(adamw(0.1, clip_norm=None), [{"w": g1["w"] / 500.0}, g2])
    unclipped = run(adamw(0.1, clip_norm=None), [g1, g2])
    np.testing.assert_allclose(clipped, by_hand, rtol=1e-6)
    assert np.abs(clipped - unclipped).max() > 1e-3


@pytest.mark.slow  # default suite kept under 10 minutes; CI runs the slow set too
def test_bfloat16_training_step_runs_on_cpu(ck):
    ids, mask = _data(n=4, T=6)
    f32 = float(lm_loss(ck.params, ck.config, ids, mask))
    res = fit(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), epochs=1, batch_size=4, dtype=jnp.bfloat16)
    # One batch holds all the data, so the first step's loss is the bf16 loss at the starting weights.
    assert abs(float(res.losses[0, 0]) - f32) < 0.1
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(res.params))
    assert not np.array_equal(np.asarray(res.params["wte"]), np.asarray(ck.params["wte"]))


@pytest.mark.slow  # default suite kept under 10 minutes; CI runs the slow set too
def test_partial_last_batch_trains_every_row_at_its_exact_size(ck):
    """7 rows in batches of 4: a full batch, then the 3 remaining rows, no padded row. Against a reference
    written out here (loss and gradient of exactly those 3 rows, one AdamW update), the losses and the
    parameters agree; the 3 rows run as power-of-two chunks 2 + 1, so remainders 1, 2 and 3 add two
    compilations of the chunk gradient in all."""
    import optax

    ids, mask = _data(n=7, T=10, seed=3)
    key, opt = jax.random.PRNGKey(4), adamw(1e-2)
    grad = T._chunk_gradient(ck.config, jnp.dtype(jnp.float32))
    compiled_before = grad._cache_size()  # other tests in the session may share this cached function
    res = fit(ck.params, ck.config, ids, mask, key, epochs=1, batch_size=4, optimizer=opt)

    order = np.asarray(jax.random.permutation(jax.random.split(key)[1], 7))
    p = jax.tree_util.tree_map(jnp.array, ck.params)
    s = T.start_schedule(opt.init(p), 2)
    p, s, first = make_train_step(ck.config, opt)(p, s, ids[order[:4]], mask[order[:4]])
    rest = order[4:]
    last, g = jax.value_and_grad(lm_loss)(p, ck.config, ids[rest], mask[rest])
    u, s = opt.update(g, s, p)
    p = optax.apply_updates(p, u)

    np.testing.assert_allclose(res.losses[0], [float(first), float(last)], rtol=1e-5)
    # The key bias is skipped: its exact gradient is 0 (softmax ignores a per-query constant), so both
    # computations step on rounding noise, which Adam scales up to the full rate.
    D = ck.config.n_embd
    not_key = np.r_[0:D, 2 * D:3 * D]
    for path, got in jax.tree_util.tree_leaves_with_path(res.params):
        got, want = np.asarray(got), np.asarray(functools.reduce(lambda t, k: t[k.key], path, p))
        if path[-1].key == "attn_b":
            got, want = got[:, not_key], want[:, not_key]
        np.testing.assert_allclose(got, want, atol=2e-6, err_msg=jax.tree_util.keystr(path))
    assert T.chunk_sizes(3) == [2, 1] and T.chunk_sizes(10) == [8, 2] and T.chunk_sizes(16) == [16]

    for n in (5, 6, 7):  # remainders 1, 2, 3
        fit(ck.params, ck.config, ids[:n], mask[:n], key, epochs=1, batch_size=4, optimizer=opt)
    assert grad._cache_size() - compiled_before <= 2  # chunks of 2 and 1 rows, whatever the remainder
