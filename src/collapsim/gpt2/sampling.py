"""Batched, jitted GPT-2 sampling with a fixed-size key/value cache inside ``lax.scan``.

Decoding is :mod:`collapsim.engine.decoding` (Hugging Face ``generate``'s order: repetition penalty, then
temperature, top-k with ties kept, top-p), the same code the categorical family decodes with.
Temperature 0 means greedy (argmax of the penalised logits). Prompts of different lengths are left-padded;
positions come from the attention mask and padded key slots are masked out of attention, in the prompt
pass and in every cached step.

Every sampled token carries two log-probabilities: ``logprob`` under the untruncated model (temperature 1,
no penalty, no top-k/top-p) and ``decode_logprob`` under the distribution it was actually drawn from.
Their difference is what decoding cut.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine.decoding import apply_repetition_penalty, decode_logits
from collapsim.errors import ConfigError
from collapsim.gpt2.model import (GPT2Config, attention_mask, embed_tokens, output_logits, run_layers, layer_list,
                               positions_from_mask)
from collapsim.gpt2.tokenizer import check_ids


class SamplingParams(NamedTuple):
    """Decoding settings as arrays (sweepable without recompiling).

    temperature: 0 = greedy; top_k: 0 = off; top_p: 1 = off; repetition_penalty: 1 = off.
    """

    temperature: jax.Array
    top_k: jax.Array
    top_p: jax.Array
    repetition_penalty: jax.Array


def sampling_params(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0) -> SamplingParams:
    """Validated :class:`SamplingParams` from Python numbers.

    NaN and infinity are refused by name: a NaN compares False with every bound, so it used to slip
    through and sample garbage (NaN logits make every draw the same token).
    """
    for name, v in (("temperature", temperature), ("top_p", top_p), ("repetition_penalty", repetition_penalty)):
        if not math.isfinite(v):
            raise ConfigError(f"{name} must be a finite number, got {v}")
    if temperature < 0:
        raise ConfigError(f"temperature must be >= 0, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"top_k must be >= 0 (0 = off), got {top_k}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"top_p must be in (0, 1], got {top_p}")
    if repetition_penalty <= 0:
        raise ConfigError(f"repetition_penalty must be > 0, got {repetition_penalty}")
    return SamplingParams(jnp.float32(temperature), jnp.int32(top_k), jnp.float32(top_p),
                          jnp.float32(repetition_penalty))


class Samples(NamedTuple):
    """Output of :func:`sample`: all [B, N] with N = max_new_tokens.

    tokens: int32, pad after the end token; valid: bool, True up to and including the end token;
    logprob: log p(token) under the untruncated model; decode_logprob: under the decoding distribution
    (0 for greedy). Both are 0 where not valid.
    """

    tokens: jax.Array
    valid: jax.Array
    logprob: jax.Array
    decode_logprob: jax.Array


def draw(key, z):
    """One token per row from softmax(z), z [B, V] (-inf = removed): inverse CDF with one uniform per row.

    Returns the tokens [B] int32 and log softmax(z) at them [B]. Exact in distribution like Gumbel-max
    (``jax.random.categorical``) but with B random numbers instead of B*V and no argmax over noisy logits,
    which was half of a small model's decoding step on a CPU. A removed token (probability 0) adds nothing
    to the running sum, so it can never be drawn.
    """
    top = jnp.max(z, axis=-1, keepdims=True)
    p = jnp.exp(z - top)
    cdf = jnp.cumsum(p, axis=-1)
    total = cdf[:, -1:]
    u = jax.random.uniform(key, total.shape, jnp.float32) * total
    tok = jnp.minimum(jnp.sum(cdf <= u, axis=-1), z.shape[-1] - 1).astype(jnp.int32)
    zt = jnp.take_along_axis(z, tok[:, None], -1)[:, 0]
    return tok, zt - top[:, 0] - jnp.log(total[:, 0])


def _logprob_at(z, tok):
    """log softmax(z)[tok] per row, without materialising the [B, V] log-softmax."""
    return jnp.take_along_axis(z, tok[:, None], -1)[:, 0] - jax.nn.logsumexp(z, axis=-1)


def _choose(key, raw, seen, sp: SamplingParams, width: int):
    """One decoding step on logits raw [B, V]: token [B], its untruncated and its decoding log-prob.

    The decoding is :mod:`collapsim.engine.decoding` (shared with the categorical family). ``width`` (static) is
    how many top candidates truncation looks at: 0 = no truncation at all.
    """
    pen = apply_repetition_penalty(raw, seen, sp.repetition_penalty)
    greedy = sp.temperature <= 0
    truncating = width > 0
    z = decode_logits(pen, temperature=jnp.where(greedy, 1.0, sp.temperature),
                      top_k=sp.top_k if truncating else None, top_p=sp.top_p if truncating else None, width=width)
    drawn, dlp = draw(key, z)
    # cond, not where: the argmax over [B, V] is only paid for when decoding is greedy.
    tok = jax.lax.cond(greedy, lambda: jnp.argmax(pen, axis=-1).astype(jnp.int32), lambda: drawn)
    return tok, _logprob_at(raw, tok), jnp.where(greedy, 0.0, dlp)


def candidate_width(sp: SamplingParams, vocab_size: int) -> int:
    """The static truncation width for concrete settings: top_k if set, the vocabulary if only top-p is
    set, 0 if neither, 1 for greedy (pass ``candidates`` to :func:`sample` yourself when the settings are traced)."""
    try:
        top_k, top_p, temperature = int(sp.top_k), float(sp.top_p), float(sp.temperature)
    except jax.errors.ConcretizationTypeError as e:
        raise ConfigError("sampling settings are traced (inside jit/vmap): pass candidates= to sample() "
                          "(>= the largest top_k, or the vocabulary size when top-p is used)") from e
    if temperature <= 0:
        return 1  # greedy: the argmax is the only candidate
    if top_k > 0:
        return min(top_k, vocab_size)
    return vocab_size if top_p < 1.0 else 0


def bucket(n: int, minimum: int = 8, coarse: int = 64) -> int:
    """The compiled size used for a size ``n``: the next power of two >= max(n, minimum) up to ``coarse``,
    then the next multiple of ``coarse``. Padding to buckets bounds the number of compilations (a new prompt
    length, batch or max_new_tokens inside a bucket reuses the compiled sampler) at <= 2x padding waste
    for small sizes and < ``coarse`` extra rows/slots for large ones."""
    n = max(int(n), minimum, 1)
    if n <= coarse:
        return 1 << (n - 1).bit_length()
    return -(-n // coarse) * coarse


def _width_bucket(width: int, vocab_size: int) -> int:
    """The truncation width rounded up to a power of two (top-k 40 and 50 share one compilation); any
    width >= top_k gives the same kept set, since top_k is a traced value and only ties could differ."""
    return width if width <= 1 else min(1 << (width - 1).bit_length(), vocab_size)


@partial(jax.jit, static_argnames=("cfg", "cache_size", "dtype", "width"))
def _sample(params, ids, mask, key, sp, eos_token_id, pad_token_id, n_new, live, *, cfg, cache_size, dtype,
            width):
    """Decode up to ``n_new`` (traced) tokens for prompts ids/mask [B, T] in a cache of ``cache_size`` slots.

    One ``lax.while_loop`` step per token; it stops early once every live row has ended. The per-layer
    key/value caches are loop carries, written in place at the step's slot. Rows with ``live`` False
    (batch padding) start finished. Returns :class:`Samples` of width ``cache_size - T``.
    """
    B, T = ids.shape
    N = cache_size - T
    layers = layer_list(params["blocks"], cfg.n_layer)  # sliced once, outside the loop
    shape = (B, cfg.n_head, cache_size, cfg.head_dim)
    kvs = [(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(cfg.n_layer)]
    valid_slots = jnp.zeros((B, cache_size), bool).at[:, :T].set(mask).at[:, T:].set(True)
    x = embed_tokens(params, jnp.where(mask, ids, 0), positions_from_mask(mask), dtype)
    x, kvs = run_layers(layers, cfg, x, attention_mask(valid_slots, 0, T, cache_size), kvs, 0, dtype)
    logits = output_logits(params, cfg, x[:, -1])
    # Prompt tokens count as "already present" for the penalty; padding does not.
    seen = jnp.zeros((B, cfg.vocab_size), bool).at[jnp.arange(B)[:, None], ids].max(mask)
    pos = mask.sum(-1).astype(jnp.int32)
    out = Samples(jnp.full((B, N), pad_token_id, jnp.int32), jnp.zeros((B, N), bool),
                  jnp.zeros((B, N), jnp.float32), jnp.zeros((B, N), jnp.float32))

    def cond(c):
        i, done = c[0], c[4]
        return (i < n_new) & ~done.all()

    def body(c):
        i, kvs, last, seen, done, pos, out = c
        # fold_in, not split(key, N): the i-th token's randomness does not depend on the bucket size.
        tok, lp, dlp = _choose(jax.random.fold_in(key, i), last, seen, sp, width)
        valid = ~done
        tok = jnp.where(valid, tok, pad_token_id)
        done = done | (tok == eos_token_id)
        seen = seen.at[jnp.arange(B), tok].set(True)
        col = (0, i)
        out = Samples(jax.lax.dynamic_update_slice(out.tokens, tok[:, None], col),
                      jax.lax.dynamic_update_slice(out.valid, valid[:, None], col),
                      jax.lax.dynamic_update_slice(out.logprob, jnp.where(valid, lp, 0.0)[:, None], col),
                      jax.lax.dynamic_update_slice(out.decode_logprob, jnp.where(valid, dlp, 0.0)[:, None], col))
        # Feeding the token every step (even past the end) keeps shapes static; finished rows are ignored.
        # Positions are clipped so the steps of a bucket beyond n_positions stay in range (their outputs
        # are never returned).
        h = embed_tokens(params, tok[:, None], jnp.minimum(pos, cfg.n_positions - 1)[:, None], dtype)
        h, kvs = run_layers(layers, cfg, h, attention_mask(valid_slots, T + i, 1, cache_size), kvs, T + i, dtype)
        return i + 1, kvs, output_logits(params, cfg, h[:, 0]), seen, done, pos + 1, out

    init = (jnp.int32(0), kvs, logits, seen, ~live, pos, out)
    return jax.lax.while_loop(cond, body, init)[-1]


def sample(params: dict, cfg: GPT2Config, ids, mask, key, sp: SamplingParams | None = None, *,
           max_new_tokens: int, eos_token_id: int | None = None, pad_token_id: int = 0,
           dtype=jnp.float32, candidates: int | None = None, buckets: bool = True) -> Samples:
    """Sample ``max_new_tokens`` continuations of left-padded prompts.

    Args:
      ids: [B, T] int prompt ids, left-padded; mask: [B, T] (1 = real token; the last column must be real).
      key: PRNG key; sp: :class:`SamplingParams` (default: plain sampling at temperature 1).
      eos_token_id: generation of a row stops after this token (None = never); later slots get
        ``pad_token_id`` and ``valid`` False. Decoding stops once every row has ended.
      dtype: compute dtype (jnp.bfloat16 on GPU).
      candidates: static number of top logits that top-k/top-p look at (default: from the concrete
        settings, see :func:`candidate_width`); must be >= top_k (a larger top_k acts as ``candidates``).
        Set it when sweeping settings under ``vmap``/``jit``.
      buckets: pad the batch, the prompt length and ``max_new_tokens`` up to :func:`bucket` sizes (and the
        truncation width to a power of two), so that new sizes inside a bucket reuse the compiled sampler.
        Padded rows and steps are computed and dropped; the returned rows do not depend on the padding
        except through floating-point summation order.
    Returns:
      :class:`Samples`, each field [B, max_new_tokens].
    """
    ids = jnp.asarray(ids, jnp.int32)
    mask = jnp.asarray(mask, bool)
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise ConfigError(f"prompt ids {ids.shape} and mask {mask.shape} must both be [batch, length]")
    if max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if ids.shape[1] + max_new_tokens > cfg.n_positions:
        raise ConfigError(f"prompt length {ids.shape[1]} + max_new_tokens {max_new_tokens} exceeds the "
                          f"model's n_positions={cfg.n_positions}")
    if not isinstance(mask, jax.core.Tracer) and not bool(np.asarray(mask[:, -1]).all()):
        raise ConfigError("prompts must be left-padded: the last column of the mask must be all real tokens")
    if not isinstance(ids, jax.core.Tracer):
        check_ids(np.asarray(ids)[np.asarray(mask)], cfg.vocab_size, "prompt")
    sp = sp if sp is not None else sampling_params()
    eos = -1 if eos_token_id is None else int(eos_token_id)
    width = candidate_width(sp, cfg.vocab_size) if candidates is None else min(int(candidates), cfg.vocab_size)
    B, T = ids.shape
    N = int(max_new_tokens)
    if buckets:
        Bb, Tb, Nb = bucket(B, 1), bucket(T), bucket(N)
        width = _width_bucket(width, cfg.vocab_size)
        if Bb > B:  # extra rows: copies of row 0, started finished so they never delay the early stop
            ids = jnp.concatenate([ids, jnp.broadcast_to(ids[:1], (Bb - B, T))])
            mask = jnp.concatenate([mask, jnp.broadcast_to(mask[:1], (Bb - B, T))])
        if Tb > T:  # more left padding: positions come from the mask, so nothing moves
            ids = jnp.pad(ids, ((0, 0), (Tb - T, 0)), constant_values=pad_token_id)
            mask = jnp.pad(mask, ((0, 0), (Tb - T, 0)))
    else:
        Bb, Tb, Nb = B, T, N
    live = jnp.arange(Bb) < B
    out = _sample(params, ids, mask, key, sp, jnp.int32(eos), jnp.int32(pad_token_id), jnp.int32(N), live,
                  cfg=cfg, cache_size=Tb + Nb, dtype=dtype, width=width)
    if (Bb, Nb) != (B, N):
        out = Samples(*(a[:B, :N] for a in out))
    return out


def sample_texts(params: dict, cfg: GPT2Config, tokenizer, prompts: list[str], key,
                 sp: SamplingParams | None = None, *, max_new_tokens: int, stop_at_eos: bool = True,
                 dtype=jnp.float32) -> tuple[list[str], Samples]:
    """Encode text prompts, sample, decode: the continuations (end token dropped) and the raw samples."""
    from collapsim.gpt2.tokenizer import decode, encode, left_pad

    pad = cfg.eos_token_id if 0 <= cfg.eos_token_id < cfg.vocab_size else 0
    ids, mask = left_pad(encode(tokenizer, prompts), pad)
    eos = cfg.eos_token_id if stop_at_eos and 0 <= cfg.eos_token_id < cfg.vocab_size else None
    out = sample(params, cfg, ids, mask, key, sp, max_new_tokens=max_new_tokens, eos_token_id=eos,
                 pad_token_id=pad, dtype=dtype)
    toks, valid = np.asarray(out.tokens), np.asarray(out.valid)
    texts = []
    for row, v in zip(toks, valid):
        row = row[v]
        if eos is not None and row.size and row[-1] == eos:
            row = row[:-1]
        texts.append(decode(tokenizer, row))
    return texts, out
