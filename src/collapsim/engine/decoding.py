"""The one decoder: what an LLM's sampler does to next-token logits, used by every family that decodes.

Hugging Face ``generate``'s order: repetition penalty, temperature, top-k, top-p. Works on logits of any
batch shape (..., V); removed tokens become -inf. Used by the categorical family (logits = log p) and by the
GPT-2 sampler, so a decoding rule is defined once and tested once against Hugging Face's logits processors.

Rules (HF's definitions):
  repetition penalty r:  for tokens already seen, z -> z / r if z > 0 else z * r;
  temperature tau:       z -> z / tau;
  top-k:                 keep every token whose logit is at least the k-th largest (ties with the k-th kept);
  top-p:                 in decreasing order, keep each token whose strictly-larger probability mass (within
                         the top-k survivors, renormalised) is below top_p; at least one token survives. Tokens
                         tied with the last survivor are kept too.

Truncation looks at the ``width`` largest logits only (a static number >= the largest top_k): sorting the
whole vocabulary every step is the dominant cost of a small model's sampler. With top-p and no top-k the
width must be the vocabulary size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def apply_repetition_penalty(logits, seen, penalty):
    """HF's repetition penalty: logits (..., V); seen (..., V) bool; penalty a scalar (1 = off)."""
    penalised = jnp.where(logits > 0, logits / penalty, logits * penalty)
    return jnp.where(seen, penalised, logits)


def decode_logits(z, *, temperature=None, top_k=None, top_p=None, width: int = 0):
    """Temperature, then top-k, then top-p on logits z (..., V); returns logits with removed tokens at -inf.

    Args:
      temperature: scalar > 0, or None (off).
      top_k: int scalar, possibly traced (0 or None = off; values above ``width`` act as ``width``).
      top_p: scalar in (0, 1], possibly traced, or None (off).
      width: static number of top candidates truncation looks at; 0 = no truncation.
    """
    if temperature is not None:
        z = z / temperature
    if width == 0 or (top_k is None and top_p is None):
        return z
    vals = jax.lax.top_k(z, width)[0]  # (..., W) descending
    k = jnp.int32(width) if top_k is None else jnp.where((top_k > 0) & (top_k < width), top_k, width)
    kth = jnp.take_along_axis(vals, jnp.broadcast_to(k - 1, vals.shape[:-1] + (1,)).astype(jnp.int32), -1)
    keep = z >= kth  # ties with the k-th are kept, as HF's TopKLogitsWarper does
    if top_p is not None:
        lse = jax.nn.logsumexp(jnp.where(keep, z, -jnp.inf), axis=-1, keepdims=True)
        in_k = vals >= kth
        p = jnp.where(in_k, jnp.exp(vals - lse), 0.0)
        before = jnp.cumsum(p, axis=-1) - p  # mass strictly ahead of each sorted candidate
        rank = jnp.arange(width)
        kept = in_k & ((before < top_p) | (top_p >= 1.0) | (rank == 0))
        last = jnp.min(jnp.where(kept, vals, jnp.inf), axis=-1, keepdims=True)
        keep = keep & (z >= last)
    return jnp.where(keep, z, -jnp.inf)


def decode_probs(probs, *, temperature=None, top_k: int = 0, top_p=None):
    """The decoder on a probability vector (..., K): softmax(decode_logits(log p)); zeros stay zero.

    ``top_k`` is static here (it sets the truncation width); ``top_p`` alone looks at all K tokens.
    """
    K = probs.shape[-1]
    alive = probs > 0
    z = jnp.where(alive, jnp.log(jnp.where(alive, probs, 1.0)), -jnp.inf)
    width = min(top_k, K) if top_k else (K if top_p is not None else 0)
    z = decode_logits(z, temperature=temperature, top_k=jnp.int32(top_k) if top_k else None, top_p=top_p, width=width)
    return jax.nn.softmax(z, axis=-1)
