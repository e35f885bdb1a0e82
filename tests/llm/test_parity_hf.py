"""Parity with Hugging Face transformers (PyTorch) on a tiny random GPT-2 built and saved by the test."""

import numpy as np
import pytest

from llm_fixtures import SENTENCES, requires_hf

pytestmark = requires_hf


@pytest.fixture(scope="module")
def hf_model(tiny_ckpt):
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(str(tiny_ckpt)).eval()


@pytest.fixture(scope="module")
def ours(tiny_ckpt):
    from collapsim.gpt2.checkpoint import load_checkpoint

    return load_checkpoint(tiny_ckpt)


def _left_padded_batch(vocab, seed=0):
    rng = np.random.default_rng(seed)
    lengths = [9, 4, 1, 6]
    T = max(lengths)
    ids = np.zeros((len(lengths), T), np.int64)
    mask = np.zeros((len(lengths), T), bool)
    for i, n in enumerate(lengths):
        ids[i, T - n:] = rng.integers(0, vocab, n)
        mask[i, T - n:] = True
    return ids, mask


def test_logits_match_unpadded_and_left_padded(hf_model, ours):
    import torch

    from collapsim.gpt2.model import forward

    ids, mask = _left_padded_batch(ours.config.vocab_size)
    tm = torch.tensor(mask.astype(np.int64))
    pos = (tm.cumsum(-1) - 1).clamp(min=0)  # what generate passes with left padding
    with torch.no_grad():
        ref = hf_model(torch.tensor(ids), attention_mask=tm, position_ids=pos).logits.numpy()
        ref_full = hf_model(torch.tensor(ids)).logits.numpy()
    got = np.asarray(forward(ours.params, ours.config, ids, mask))
    got_full = np.asarray(forward(ours.params, ours.config, ids))
    assert np.abs(ref).max() > 1.0  # the random model is not trivially flat
    np.testing.assert_allclose(got[mask], ref[mask], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got_full, ref_full, atol=1e-4, rtol=0)


@pytest.mark.parametrize("penalty", [1.0, pytest.param(1.3, marks=pytest.mark.slow)])
def test_greedy_generation_token_identical_left_padded(hf_model, ours, penalty):
    import jax
    import torch

    from collapsim.gpt2.sampling import sample, sampling_params

    ids, mask = _left_padded_batch(ours.config.vocab_size, seed=1)
    n_new = 20
    # Penalty parity is checked on unpadded prompts: HF also penalises the pad token id present in
    # input_ids, collapsim deliberately does not.
    if penalty != 1.0:
        ids, mask = ids[:, -1:].repeat(3, 1), mask[:, -1:].repeat(3, 1)
        ids[:, 0] = (ids[:, 0] + 7) % ours.config.vocab_size
    with torch.no_grad():
        ref = hf_model.generate(torch.tensor(ids), attention_mask=torch.tensor(mask.astype(np.int64)),
                                do_sample=False, max_new_tokens=n_new, min_new_tokens=n_new, pad_token_id=0,
                                repetition_penalty=penalty)[:, ids.shape[1]:].numpy()
    out = sample(ours.params, ours.config, ids, mask, jax.random.PRNGKey(0),
                 sampling_params(temperature=0.0, repetition_penalty=penalty), max_new_tokens=n_new)
    np.testing.assert_array_equal(np.asarray(out.tokens), ref)


def test_tokenizer_matches_hf_fast_tokenizer(tiny_ckpt):
    from transformers import PreTrainedTokenizerFast

    from collapsim.gpt2.tokenizer import decode, encode, load_tokenizer

    ref = PreTrainedTokenizerFast(tokenizer_file=str(tiny_ckpt / "tokenizer.json"))
    tok = load_tokenizer(tiny_ckpt)
    texts = SENTENCES[:5] + ["unseen words: zyx, Über-fast! 123", "  leading spaces\nand newline<|endoftext|>"]
    ours = encode(tok, texts)
    for t, ids in zip(texts, ours):
        assert ids == ref.encode(t, add_special_tokens=False)
        assert decode(tok, ids) == ref.decode(ids) == t


def test_saved_checkpoint_opens_in_transformers(tmp_path, ours, hf_model):
    import jax
    import torch
    from transformers import GPT2LMHeadModel

    from collapsim.gpt2.checkpoint import save_checkpoint

    params = jax.tree_util.tree_map(lambda x: x * 1.01, ours.params)  # a "fine-tuned" generation
    out = save_checkpoint(tmp_path / "gen1", params, ours.config, ours.config_dict, ours.tokenizer_path)
    reloaded = GPT2LMHeadModel.from_pretrained(str(out)).eval()
    x = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        got = reloaded(x).logits.numpy()
        orig = hf_model(x).logits.numpy()
    from collapsim.gpt2.model import forward

    np.testing.assert_allclose(got, np.asarray(forward(params, ours.config, x.numpy())), atol=1e-4, rtol=0)
    assert np.abs(got - orig).max() > 1e-3  # it really is the modified model
    from transformers import AutoTokenizer

    from collapsim.gpt2.tokenizer import encode, load_tokenizer

    text = "model collapse, again and again"
    assert AutoTokenizer.from_pretrained(str(out)).encode(text) == encode(load_tokenizer(out), [text])[0]


def test_training_loss_matches_hf_labels_with_padding(hf_model, ours):
    import torch

    from collapsim.gpt2.train import lm_loss

    rng = np.random.default_rng(3)
    ids = rng.integers(0, ours.config.vocab_size, (3, 12))
    mask = np.ones_like(ids, bool)
    mask[1, 7:] = False  # right padding, as in fine-tuning batches
    mask[2, 3:] = False
    labels = np.where(mask, ids, -100)
    with torch.no_grad():
        ref = hf_model(torch.tensor(ids), attention_mask=torch.tensor(mask.astype(np.int64)),
                       labels=torch.tensor(labels)).loss.item()
    got = float(lm_loss(ours.params, ours.config, ids, mask))
    assert abs(got - ref) < 1e-4


@pytest.mark.parametrize("penalty, temp, k, p", [(1.3, 0.7, 10, 0.8), (1.05, 0.8, 50, 1.0), (1.0, 1.2, 0, 0.6)])
def test_decoding_pipeline_matches_hf_logits_processors(penalty, temp, k, p):
    """Penalty -> temperature -> top-k -> top-p on the same logits gives the same surviving logits as
    Hugging Face's processors in generate's order."""
    import jax.numpy as jnp
    import torch
    from transformers.generation.logits_process import (LogitsProcessorList, RepetitionPenaltyLogitsProcessor,
                                                        TemperatureLogitsWarper, TopKLogitsWarper,
                                                        TopPLogitsWarper)

    from collapsim.engine.decoding import apply_repetition_penalty, decode_logits

    rng = np.random.default_rng(0)
    V = 60
    logits = rng.normal(0, 2, (4, V)).astype(np.float32)
    ids = rng.integers(0, V, (4, 7))
    procs = [RepetitionPenaltyLogitsProcessor(penalty), TemperatureLogitsWarper(temp)]
    procs += [TopKLogitsWarper(k)] if k else []
    procs += [TopPLogitsWarper(p)] if p < 1 else []
    ref = LogitsProcessorList(procs)(torch.tensor(ids), torch.tensor(logits)).numpy()

    seen = np.zeros((4, V), bool)
    np.put_along_axis(seen, ids, True, -1)
    z = apply_repetition_penalty(jnp.asarray(logits), jnp.asarray(seen), penalty)
    got = np.asarray(decode_logits(z, temperature=temp, top_k=jnp.int32(k), top_p=jnp.float32(p), width=k or V))
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(ref))
    np.testing.assert_allclose(got[np.isfinite(got)], ref[np.isfinite(ref)], rtol=1e-6)
