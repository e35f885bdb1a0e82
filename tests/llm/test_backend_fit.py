"""The backend made fit for long loops: one compilation per shape bucket and per optimizer structure,
Hugging Face Trainer's schedule and weight-decay rule, the float32 head, clear errors, packing."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.errors import ConfigError
from collapsim.gpt2 import sampling
from collapsim.gpt2.checkpoint import load_checkpoint
from collapsim.gpt2.model import forward
from collapsim.gpt2.tokenizer import left_pad, pack
from collapsim.gpt2.train import adamw, fit, lm_loss, make_train_step
from llm_fixtures import requires_hf


@pytest.fixture(scope="module")
def ck(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


def _prompts(B, T, seed=0, vocab=300):
    rng = np.random.default_rng(seed)
    return left_pad([list(rng.integers(0, vocab, rng.integers(1, T + 1))) for _ in range(B - 1)]
                    + [list(rng.integers(0, vocab, T))], pad_id=0)


@pytest.mark.slow
def test_sampler_compiles_once_per_bucket(ck):
    """Prompt lengths 3..7, batches 3..4, 5..7 new tokens and top-k 40 or 50 share one compilation; a
    prompt length in the next bucket (9) needs exactly one more."""
    sp = sampling.sampling_params(0.8, top_k=50, repetition_penalty=1.05)
    calls = [(3, 3, 5, 50), (4, 5, 7, 50), (3, 7, 6, 40), (4, 4, 8, 45)]
    sampling.sample(ck.params, ck.config, *_prompts(3, 3), jax.random.PRNGKey(0), sp, max_new_tokens=5)
    before = sampling._sample._cache_size()
    for i, (B, T, N, k) in enumerate(calls):
        out = sampling.sample(ck.params, ck.config, *_prompts(B, T, i), jax.random.PRNGKey(i),
                              sp._replace(top_k=jnp.int32(k)), max_new_tokens=N)
        assert out.tokens.shape == (B, N)
    assert sampling._sample._cache_size() == before
    sampling.sample(ck.params, ck.config, *_prompts(3, 9), jax.random.PRNGKey(0), sp, max_new_tokens=5)
    assert sampling._sample._cache_size() == before + 1


@pytest.mark.parametrize("sp", [pytest.param(sampling.sampling_params(0.0), marks=pytest.mark.slow),
                                sampling.sampling_params(0.9, top_k=20, repetition_penalty=1.2)])
def test_bucket_padding_changes_no_row(ck, sp):
    """Extra rows, extra left padding and extra decoding steps are computed and dropped: the returned rows
    equal an unpadded run (tokens exactly, log-probabilities to float32 summation order)."""
    ids, mask = _prompts(3, 5, seed=4)
    a = sampling.sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(5), sp, max_new_tokens=6)
    b = sampling.sample(ck.params, ck.config, ids, mask, jax.random.PRNGKey(5), sp, max_new_tokens=6, buckets=False)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    np.testing.assert_allclose(np.asarray(a.logprob), np.asarray(b.logprob), atol=1e-5)
    np.testing.assert_allclose(np.asarray(a.decode_logprob), np.asarray(b.decode_logprob), atol=1e-5)


@pytest.mark.slow
def test_learning_rate_is_data_not_a_compilation(ck):
    """adamw(5e-5), adamw(learning_rate=5e-5) and other settings share one compiled train step."""
    opts = [adamw(5e-5), adamw(learning_rate=5e-5), adamw(1e-3, weight_decay=0.1), adamw(2e-4, clip_norm=None)]
    steps = {id(make_train_step(ck.config, o)) for o in opts}
    assert len(steps) == 1
    step = make_train_step(ck.config, opts[0])
    ids, mask = jnp.asarray(_prompts(4, 8)[0]), jnp.ones((4, 8), bool)
    losses, sizes = [], []
    for o in opts:
        p = jax.tree_util.tree_map(jnp.array, ck.params)
        p, s, loss = step(p, o.init(p), ids, mask)
        p, s, loss = step(p, s, ids, mask)
        losses.append(float(loss))
        sizes.append(step._cache_size())
    assert sizes[1:] == sizes[:1] * 3
    assert losses[0] == losses[1] and losses[2] != losses[0]  # the rate really is used


def test_linear_schedule_and_decay_mask():
    """Zero gradients isolate weight decay: AdamW's update is then -lr_t * wd * w on weights and nothing on
    biases and LayerNorm gains; lr_t follows the linear schedule lr * (T - t) / T (no warmup), and with
    warmup w the first updates are lr * t / w."""
    params = {"attn_w": jnp.full((2,), 2.0), "attn_b": jnp.full((2,), 2.0), "ln_1_g": jnp.full((2,), 2.0)}
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    opt = adamw(0.1, weight_decay=0.5, total_steps=4)
    state, p, got = opt.init(params), params, []
    for _ in range(4):
        u, state = opt.update(zeros, state, p)
        got.append(-float(u["attn_w"][0]) / (0.5 * float(p["attn_w"][0])))
        assert float(u["attn_b"][0]) == 0.0 and float(u["ln_1_g"][0]) == 0.0
        p = jax.tree_util.tree_map(lambda a, b: a + b, p, u)
    np.testing.assert_allclose(got, [0.1, 0.075, 0.05, 0.025], rtol=1e-6)
    warm = adamw(0.1, weight_decay=0.5, warmup_steps=2, total_steps=6)
    state, got = warm.init(params), []
    for _ in range(4):
        u, state = warm.update(zeros, state, params)
        got.append(-float(u["attn_w"][0]) / 1.0)
    np.testing.assert_allclose(got, [0.0, 0.05, 0.1, 0.075], rtol=1e-6)


@pytest.mark.slow
def test_fit_restarts_the_schedule_in_each_call(ck):
    """total_steps=None: each fit decays the rate to 0 over its own steps (one Trainer.train() per call);
    a second call with the returned state trains again instead of running at rate 0."""
    ids, mask = _prompts(8, 10, seed=2)
    mask = np.ones_like(mask)
    r1 = fit(ck.params, ck.config, ids, mask, jax.random.PRNGKey(0), epochs=1, batch_size=4, optimizer=adamw(1e-2))
    assert int(r1.opt_state.schedule_step) == 2
    r2 = fit(r1.params, ck.config, ids, mask, jax.random.PRNGKey(1), epochs=1, batch_size=4,
             optimizer=adamw(1e-2), opt_state=r1.opt_state)
    assert int(r2.opt_state.count) == 4 and int(r2.opt_state.schedule_step) == 2
    assert not np.allclose(np.asarray(r2.params["wte"]), np.asarray(r1.params["wte"]))


@requires_hf
def test_adamw_matches_torch_adamw_with_hf_linear_schedule(tiny_ckpt, ck):
    """Three steps of our clip + AdamW + linear schedule + no-decay-on-bias/LayerNorm rule against torch's
    AdamW with Hugging Face's two parameter groups, clip_grad_norm_ and get_linear_schedule_with_warmup."""
    import torch
    from transformers import GPT2LMHeadModel, get_linear_schedule_with_warmup

    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(str(tiny_ckpt)).eval()  # eval: dropout off (collapsim has none)
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or ".ln_" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or ".ln_" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, 1, 3)
    ids, _ = _prompts(4, 12, seed=9)
    x = torch.tensor(ids, dtype=torch.long)
    for _ in range(3):
        opt.zero_grad()
        model(x, labels=x).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        sched.step()
    ours = adamw(3e-3, weight_decay=0.1, clip_norm=0.5, warmup_steps=1, total_steps=3)
    step = make_train_step(ck.config, ours)
    p = jax.tree_util.tree_map(jnp.array, ck.params)
    s = ours.init(p)
    for _ in range(3):
        p, s, _ = step(p, s, jnp.asarray(ids), jnp.ones(ids.shape, bool))
    sd = model.state_dict()
    np.testing.assert_allclose(np.asarray(p["wte"]), sd["transformer.wte.weight"].numpy(), atol=2e-6)
    # The key bias is skipped: its exact gradient is 0 (softmax ignores a per-query constant), so both sides
    # step on rounding noise, which Adam scales up to the full rate.
    D = ck.config.n_embd
    qv = np.r_[0:D, 2 * D:3 * D]
    np.testing.assert_allclose(np.asarray(p["blocks"]["attn_b"][1])[qv],
                               sd["transformer.h.1.attn.c_attn.bias"].numpy()[qv], atol=2e-6)
    np.testing.assert_allclose(np.asarray(p["blocks"]["fc_w"][0]), sd["transformer.h.0.mlp.c_fc.weight"].numpy(),
                               atol=2e-6)
    np.testing.assert_allclose(np.asarray(p["ln_f_g"]), sd["transformer.ln_f.weight"].numpy(), atol=2e-6)
    assert np.abs(np.asarray(p["wte"]) - np.asarray(ck.params["wte"])).max() > 1e-3


@pytest.mark.slow
def test_bf16_head_runs_in_float32(ck):
    """The logits of the bfloat16 path are float32 products, not bfloat16 numbers cast up."""
    ids = np.arange(1, 17, dtype=np.int32)[None]
    z = np.asarray(forward(ck.params, ck.config, ids, dtype=jnp.bfloat16))
    rounded = np.asarray(jnp.asarray(z).astype(jnp.bfloat16).astype(jnp.float32))
    assert (z != rounded).mean() > 0.5
    assert np.abs(z - np.asarray(forward(ck.params, ck.config, ids))).max() < 0.1


def test_token_ids_beyond_the_vocabulary_are_refused(ck):
    ids = np.array([[1, 2, ck.config.vocab_size]], np.int32)
    with pytest.raises(ConfigError, match="outside the model's vocabulary"):
        lm_loss(ck.params, ck.config, ids, np.ones(ids.shape, bool))
    # Padding may hold anything: masked positions are not checked.
    ok = float(lm_loss(ck.params, ck.config, ids, np.array([[True, True, False]])))
    assert np.isfinite(ok)


@pytest.mark.parametrize("index, words", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "weight_map"),
    ('{"weight_map": {}}', "weight_map"),
    ('{"weight_map": {"wte.weight": 3}}', "maps to 3"),
    ('{"weight_map": {"wte.weight": "../../etc/passwd"}}', "not a file name"),
])
def test_malformed_safetensors_index_is_one_line_exit_2(tiny_ckpt, tmp_path, index, words):
    folder = tmp_path / "ck"
    shutil.copytree(tiny_ckpt, folder)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(index)
    res = CliRunner().invoke(main, ["llm", "sample", "--checkpoint", str(folder), "--prompt", "the"],
                             catch_exceptions=False)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error: ") and words in lines[0], res.stderr


def test_pack_keeps_every_token_with_end_of_text_between_texts():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    ids, mask = pack(seqs, eos_id=0, length=4)
    assert ids.shape == (3, 4)
    np.testing.assert_array_equal(ids[mask], [1, 2, 3, 0, 4, 0, 5, 6, 7, 8, 9, 0])
    assert mask[:2].all() and mask[2].sum() == 4 and not mask[2, 4:].any()
    ids, mask = pack(seqs, eos_id=0, length=5, drop_last=True)
    assert ids.shape == (2, 5) and mask.all()
    with pytest.raises(ConfigError):
        pack([], eos_id=0, length=4)


@pytest.mark.slow
def test_finetune_pack_trains_on_long_lines(tiny_ckpt, tmp_path):
    """A line longer than --max-length: without --pack a note says how many tokens are unused; with it
    nothing is dropped and no note appears."""
    data = tmp_path / "d.txt"
    data.write_text("the quick brown fox jumps over the lazy dog " * 6 + "\nmodel collapse\n")
    base = ["llm", "finetune", "--checkpoint", str(tiny_ckpt), "--data", str(data), "--max-length", "8",
            "--epochs", "1"]
    res = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "a")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "training tokens lay beyond --max-length 8" in res.stdout
    res = CliRunner().invoke(main, [*base, "--pack", "--out", str(tmp_path / "b")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "--pack" not in res.output
    assert json.loads((tmp_path / "b" / "config.json").read_text())["n_layer"] == 2


def test_registered_row_is_timed_against_its_reference():
    """The hook for more rows of `collapsim bench llm`: a registered factory's row is timed on both sides."""
    from collapsim.commands.bench import llm as bench

    calls = {"ours": 0, "ref": 0}

    def factory(settings):
        return bench.Row("toy", lambda: calls.__setitem__("ours", calls["ours"] + 1),
                         lambda: calls.__setitem__("ref", calls["ref"] + 1), unit="generation")

    bench.register_row(factory)
    try:
        (r,) = [x for x in bench.extra_rows({}, repeats=2) if x["name"] == "toy"]
    finally:
        bench.ROWS.remove(factory)
    assert calls == {"ours": 3, "ref": 3} and r["speedup"] > 0 and "toy: collapsim" in bench.format_row(r)


@pytest.mark.slow
def test_public_stacked_cache_call_matches_a_plain_forward(ck):
    """forward_cached with the stacked KVCache (the public one-call interface) still agrees with forward."""
    from collapsim.gpt2.model import forward_cached, init_cache, positions_from_mask

    ids = np.array([[5, 17, 42, 8, 99]], np.int32)
    full = np.asarray(forward(ck.params, ck.config, ids))
    m = jnp.ones((1, 4), bool)
    cache = init_cache(ck.config, 1, 8)
    first, cache = forward_cached(ck.params, ck.config, jnp.asarray(ids[:, :4]), positions_from_mask(m), m, cache, 0)
    last, cache = forward_cached(ck.params, ck.config, jnp.asarray(ids[:, 4:]), jnp.array([[4]]),
                                 jnp.ones((1, 1), bool), cache, 4)
    np.testing.assert_allclose(np.asarray(first)[0], full[0, :4], atol=1e-4)
    np.testing.assert_allclose(np.asarray(last)[0, 0], full[0, 4], atol=1e-4)
    assert cache.k.shape == (ck.config.n_layer, 1, ck.config.n_head, 8, ck.config.head_dim)


@pytest.mark.parametrize("n_in, n_out", [(24, 8), (8, 24), (16, 16)])
def test_dense_layer_gradient_equals_autodiff(n_in, n_out):
    # linear's written-out backward takes the weight gradient as (dy^T x)^T when n_in > n_out: every
    # gradient must still be the plain formula's.
    from collapsim.gpt2.model import linear

    kx, kw, kb, kg = jax.random.split(jax.random.PRNGKey(3), 4)
    x = jax.random.normal(kx, (40, n_in))
    w = jax.random.normal(kw, (n_in, n_out))
    b = jax.random.normal(kb, (n_out,))
    g = jax.random.normal(kg, (40, n_out))
    ours = jax.grad(lambda *a: jnp.sum(linear(*a) * g), argnums=(0, 1, 2))(x, w, b)
    plain = jax.grad(lambda x, w, b: jnp.sum((x @ w + b) * g), argnums=(0, 1, 2))(x, w, b)
    for o, p in zip(ours, plain):
        np.testing.assert_allclose(np.asarray(o), np.asarray(p), rtol=1e-5, atol=1e-5)


def test_back_to_back_timing_precedes_each_timed_call_with_an_untimed_one():
    from collapsim.commands.bench.llm import _timeit

    calls = []
    fns = [lambda: calls.append("a"), lambda: calls.append("b")]
    _timeit(fns, 2, back_to_back=True)
    assert calls == ["a", "a", "b", "b"] * 2
    calls.clear()
    _timeit(fns, 2)
    assert calls == ["a", "b"] * 2
