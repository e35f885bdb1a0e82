"""The GPT-2 architecture in JAX (Radford et al. 2019), parameters as a plain pytree.

Architecture: learned absolute positions, pre-LayerNorm residual blocks, GELU (tanh approximation,
Hugging Face's ``gelu_new``), an output head tied to the token embedding.

Parameter pytree (``D`` = n_embd, ``L`` = n_layer, ``V`` = vocab, ``P`` = n_positions)::

    {"wte": [V, D], "wpe": [P, D],
     "blocks": {"ln_1_g": [L, D], "ln_1_b": [L, D],
                "attn_w": [L, D, 3D], "attn_b": [L, 3D], "proj_w": [L, D, D], "proj_b": [L, D],
                "ln_2_g": [L, D], "ln_2_b": [L, D],
                "fc_w": [L, D, 4D], "fc_b": [L, 4D], "mlp_proj_w": [L, 4D, D], "mlp_proj_b": [L, D]},
     "ln_f_g": [D], "ln_f_b": [D]}

Per-layer weights are stacked on a leading axis. Up to :data:`UNROLL_MAX_LAYERS` layers the layer loop is
unrolled (faster on a CPU); deeper models run it as one ``lax.scan`` (compile time does not grow with depth).
Linear weights are stored ``[in, out]``, the layout of Hugging Face's ``Conv1D``.

One block (:func:`_block`) serves training, scoring and sampling: it writes the new keys and values into a
fixed-size per-layer cache at a given slot (``dynamic_update_slice``, in place when the cache is a loop
carry, as in the sampler) and attends over every valid slot; without a cache it attends over the input's
own keys and values. The output head always runs in float32.
"""

from __future__ import annotations

import json
import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from collapsim.errors import ConfigError

# Additive mask value: finite so a row with no valid key (a padded query) gives a uniform softmax, not NaN.
_NEG = -1e9


class GPT2Config(NamedTuple):
    """Static shape settings (hashable, so it can be a ``jit`` static argument)."""

    vocab_size: int
    n_positions: int
    n_embd: int
    n_layer: int
    n_head: int
    layer_norm_epsilon: float = 1e-5
    bos_token_id: int = 50256
    eos_token_id: int = 50256

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


# Hugging Face GPT-2 options whose non-default values change the computation; we implement the defaults.
_REQUIRED_DEFAULTS = {
    "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
}
_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh")


def _is_int(v) -> bool:
    """An integer JSON value (``true`` is a bool in JSON, not 1)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _shown(v) -> str:
    """A config value as the file spells it (JSON), cut short for a one-line message."""
    text = json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _positive_float(v) -> bool:
    """A JSON number that is a finite float > 0 (an integer too large for a float is not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v)) and v > 0
    except OverflowError:
        return False


def config_from_dict(d: dict, source: str = "config.json") -> GPT2Config:
    """Build a :class:`GPT2Config` from a Hugging Face ``config.json`` dict; reject non-GPT-2 configs.

    ``source`` names the file in error messages.
    """
    model_type = d.get("model_type")
    if model_type != "gpt2":
        raise ConfigError(f"{source}: model_type is {model_type!r}, expected 'gpt2' (only GPT-2 checkpoints load)")
    for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
        if not _is_int(d.get(key)) or d[key] <= 0:
            raise ConfigError(f"{source}: missing or invalid {key!r} (a positive integer is required)")
    act = d.get("activation_function", "gelu_new")
    if act not in _TANH_GELUS:
        raise ConfigError(f"{source}: activation_function {act!r} is not GPT-2's tanh GELU ({', '.join(_TANH_GELUS)})")
    for key, want in _REQUIRED_DEFAULTS.items():
        if d.get(key, want) != want:
            raise ConfigError(f"{source}: {key}={d[key]!r} is not supported (only {want!r})")
    if d.get("n_inner") not in (None, 4 * d["n_embd"]):
        raise ConfigError(f"{source}: n_inner={d['n_inner']} is not supported (only 4 * n_embd)")
    if d["n_embd"] % d["n_head"]:
        raise ConfigError(f"{source}: n_embd={d['n_embd']} is not divisible by n_head={d['n_head']}")
    eps = d.get("layer_norm_epsilon", 1e-5)
    # A hand-edited or foreign file: a string, null, NaN or a negative epsilon would fail (or poison every
    # LayerNorm with NaN) deep inside the first forward pass, so it is refused here, naming field and file.
    if not _positive_float(eps):
        raise ConfigError(f"{source}: invalid 'layer_norm_epsilon' {_shown(eps)} (a finite number > 0 is required)")
    eos = d.get("eos_token_id", 50256)
    bos = d.get("bos_token_id", 50256)
    for key, tok in (("bos_token_id", bos), ("eos_token_id", eos)):
        if tok is not None and not _is_int(tok):
            raise ConfigError(f"{source}: invalid {key!r} {_shown(tok)} (an integer token id or null is required)")
    return GPT2Config(
        vocab_size=d["vocab_size"], n_positions=d["n_positions"], n_embd=d["n_embd"],
        n_layer=d["n_layer"], n_head=d["n_head"],
        layer_norm_epsilon=float(eps),
        bos_token_id=int(bos if bos is not None else -1), eos_token_id=int(eos if eos is not None else -1),
    )


def param_shapes(cfg: GPT2Config) -> dict:
    """The shape of every leaf of the parameter pytree, same structure as the pytree."""
    D, L, F = cfg.n_embd, cfg.n_layer, 4 * cfg.n_embd
    return {
        "wte": (cfg.vocab_size, D), "wpe": (cfg.n_positions, D),
        "blocks": {
            "ln_1_g": (L, D), "ln_1_b": (L, D),
            "attn_w": (L, D, 3 * D), "attn_b": (L, 3 * D), "proj_w": (L, D, D), "proj_b": (L, D),
            "ln_2_g": (L, D), "ln_2_b": (L, D),
            "fc_w": (L, D, F), "fc_b": (L, F), "mlp_proj_w": (L, F, D), "mlp_proj_b": (L, D),
        },
        "ln_f_g": (D,), "ln_f_b": (D,),
    }


def init_params(cfg: GPT2Config, key: jax.Array, std: float = 0.02) -> dict:
    """Random parameters with GPT-2's initialisation (normal(0, 0.02) weights, zero biases, unit gains)."""
    shapes = param_shapes(cfg)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes, is_leaf=lambda x: isinstance(x, tuple))
    keys = jax.random.split(key, len(leaves))
    out = []
    for (path, shape), k in zip(leaves, keys):
        name = jax.tree_util.keystr(path)
        if name.endswith("_g']"):
            out.append(jnp.ones(shape, jnp.float32))
        elif name.endswith("_b']"):
            out.append(jnp.zeros(shape, jnp.float32))
        else:
            out.append(std * jax.random.normal(k, shape, jnp.float32))
    return jax.tree_util.tree_unflatten(treedef, out)


def _layer_norm(x, g, b, eps):
    """LayerNorm over the last axis (Ba et al. 2016), statistics in float32 even when the stream is bfloat16
    (the variance underflows otherwise); output in x's dtype."""
    return _layer_norm_vjp(x, g, b, eps)


def _ln_fwd(x, g, b, eps):
    x32 = x.astype(jnp.float32)
    mu = x32.mean(-1, keepdims=True)
    rstd = jax.lax.rsqrt(jnp.square(x32 - mu).mean(-1, keepdims=True) + eps)
    xhat = (x32 - mu) * rstd
    y = (xhat * g.astype(jnp.float32) + b.astype(jnp.float32)).astype(x.dtype)
    return y, (xhat, rstd, g)


def _ln_bwd(eps, res, dy):
    # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * g: two row reductions
    # and one pass, where differentiating the forward formula materialises several [N, D] intermediates.
    xhat, rstd, g = res
    dt = dy.dtype  # the dtype of y, which is x's
    dy = dy.astype(jnp.float32)
    rows = tuple(range(dy.ndim - 1))
    dxhat = dy * g.astype(jnp.float32)
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return (dx.astype(dt), jnp.sum(dy * xhat, rows).astype(g.dtype),
            jnp.sum(dy, rows).astype(g.dtype))


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def _layer_norm_vjp(x, g, b, eps):
    return _ln_fwd(x, g, b, eps)[0]


_layer_norm_vjp.defvjp(_ln_fwd, _ln_bwd)


class KVCache(NamedTuple):
    """Fixed-size key/value cache. ``k``, ``v``: [L, B, H, S, Dh]; ``valid``: [B, S], False at padded slots.

    Slots not written yet need no flag: a query never sees slots after its own (causality)."""

    k: jax.Array
    v: jax.Array
    valid: jax.Array


def init_cache(cfg: GPT2Config, batch: int, size: int, dtype=jnp.float32) -> KVCache:
    """An empty cache for ``batch`` sequences of up to ``size`` slots."""
    shape = (cfg.n_layer, batch, cfg.n_head, size, cfg.head_dim)
    return KVCache(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((batch, size), bool))


_GELU_C = 0.7978845608028654  # sqrt(2 / pi)


@jax.custom_vjp
def gelu_tanh(x):
    """GELU, tanh approximation (Hendrycks & Gimpel 2016, eq. in section 2; Hugging Face's ``gelu_new``).

    With its derivative written out: the backward pass recomputes tanh from x, one pass over x, where
    differentiating the formula stores several [N, 4D] intermediates in the forward pass.
    """
    return 0.5 * x * (1.0 + jnp.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


def _gelu_fwd(x):
    return gelu_tanh(x), x


def _gelu_bwd(x, g):
    # The barrier keeps XLA from sharing this tanh with the forward pass's (common-subexpression
    # elimination): shared, the tanh is stored as a third [N, 4D] array and the forward GELU splits into
    # two passes; recomputed, forward and backward are one fused pass each (measured ~2% of a 4 x 256 step).
    x = jax.lax.optimization_barrier(x)
    t = jnp.tanh(_GELU_C * (x + 0.044715 * x * x * x))
    d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)
    return (g * d,)


gelu_tanh.defvjp(_gelu_fwd, _gelu_bwd)


def attention_mask(mask_valid, index, T: int, S: int):
    """Which keys each query may attend to, bool [B, 1, T, S]: a query at slot index+t sees the keys at
    slots <= index+t that are not padding (``mask_valid`` [B, S], False at padded slots)."""
    q_slot = index + jnp.arange(T)
    return (jnp.arange(S)[None, :] <= q_slot[:, None])[None, None] & mask_valid[:, None, None, :]


def _attend_fwd(q, k, v, allowed):
    s = jnp.einsum("bhtd,bhsd->bhts", q, k).astype(jnp.float32)
    # A finite fill, not -inf: a query with no allowed key (padding) gets a uniform softmax, not NaN.
    p = jax.nn.softmax(jnp.where(allowed, s, _NEG), axis=-1)
    out = jnp.einsum("bhts,bhsd->bhtd", p.astype(v.dtype), v)
    return out, (q, k, v, p, out)


def _attend_bwd(res, dout):
    q, k, v, p, out = res
    dt = q.dtype
    dv = jnp.einsum("bhts,bhtd->bhsd", p.astype(dt), dout)
    dp = jnp.einsum("bhtd,bhsd->bhts", dout, v).astype(jnp.float32)
    # sum_s p * dp = sum_d dout * out: the softmax correction from [.., Dh] arrays instead of [.., S].
    delta = jnp.sum(dout.astype(jnp.float32) * out.astype(jnp.float32), axis=-1, keepdims=True)
    ds = (p * (dp - delta)).astype(dt)
    return (jnp.einsum("bhts,bhsd->bhtd", ds, k), jnp.einsum("bhts,bhtd->bhsd", ds, q), dv, None)


@jax.custom_vjp
def attend(q, k, v, allowed):
    """softmax(q k^T, masked) v per head: q [B, H, T, Dh] (already scaled by 1/sqrt(Dh)), k, v [B, H, S, Dh],
    allowed bool broadcastable to [B, H, T, S]. Returns [B, H, T, Dh]; scores and softmax in float32.

    The backward pass is written out (Dao et al. 2022, FlashAttention, appendix B.2: dS = P * (dP - delta),
    delta = rowsum(dO * O)): it keeps the attention weights P from the forward pass and touches the
    [T, S] arrays fewer times than differentiating the softmax does.
    """
    return _attend_fwd(q, k, v, allowed)[0]


attend.defvjp(_attend_fwd, _attend_bwd)


def weight_gradient(x, dy):
    """x^T dy for x [N, I], dy [N, O] (a dense layer's weight gradient, [I, O]).

    XLA's CPU backend runs this transposed-operand product at about 100 GFLOP/s when I > O but 140 when
    I < O (measured for I, O = 1024, 256 and N = 2048: 11.2 against 8.0 ms), so when I > O it forms
    (dy^T x)^T instead. The barrier keeps XLA from folding the transpose back into the product.
    """
    contract = (((0,), (0,)), ((), ()))
    if x.shape[-1] > dy.shape[-1]:
        return jax.lax.optimization_barrier(jax.lax.dot_general(dy, x, contract)).T
    return jax.lax.dot_general(x, dy, contract)


@jax.custom_vjp
def linear(x, w, b):
    """A dense layer x @ w + b: x [N, I], w [I, O] (Hugging Face's Conv1D layout), b [O] -> [N, O].

    Its gradient is written out so the weight gradient takes :func:`weight_gradient`'s faster form."""
    return x @ w + b


def _linear_fwd(x, w, b):
    return x @ w + b, (x, w)


def _linear_bwd(res, dy):
    x, w = res
    return dy @ w.T, weight_gradient(x, dy).astype(w.dtype), dy.sum(0).astype(w.dtype)


linear.defvjp(_linear_fwd, _linear_bwd)


def _block(p: dict, x, allowed, kv, index, cfg: GPT2Config, dtype):
    """One pre-LayerNorm residual block on x [B, T, D] (Radford et al. 2019, section 2.3).

    ``p`` holds one layer's weights (no leading layer axis); ``kv`` is None (attend within these T tokens)
    or this layer's (keys, values) cache, each [B, H, S, Dh], into which the new keys and values are written
    at slots ``index .. index+T-1`` with ``dynamic_update_slice`` (in place when the cache is a loop carry).
    Returns the new x and the updated (keys, values), or None without a cache.
    """
    B, T, D = x.shape
    H, Dh = cfg.n_head, cfg.head_dim
    # Dense layers on [B*T, D] rows: XLA's CPU backend runs a dot whose weight gradient contracts two
    # axes (batch and time) through a generic loop, ~3.5x slower than the same 2-D matrix product.
    x = x.reshape(B * T, D)

    def split_heads(t):  # [B*T, D] -> [B, H, T, Dh]
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)

    h = _layer_norm(x, p["ln_1_g"], p["ln_1_b"], cfg.layer_norm_epsilon)
    qkv = linear(h, p["attn_w"].astype(dtype), p["attn_b"].astype(dtype))
    q, k, v = (split_heads(t) for t in jnp.split(qkv, 3, axis=-1))
    if kv is None:
        keys, values = k, v
    else:
        keys = jax.lax.dynamic_update_slice(kv[0], k.astype(kv[0].dtype), (0, 0, index, 0))
        values = jax.lax.dynamic_update_slice(kv[1], v.astype(kv[1].dtype), (0, 0, index, 0))
    # The 1/sqrt(Dh) scale goes on q (T rows) rather than on the scores (S columns): fewer multiplies.
    q = q * jnp.asarray(1.0 / Dh ** 0.5, dtype)
    att = attend(q, keys.astype(dtype), values.astype(dtype), allowed)
    att = att.transpose(0, 2, 1, 3).reshape(B * T, D)
    x = x + linear(att, p["proj_w"].astype(dtype), p["proj_b"].astype(dtype))
    h = _layer_norm(x, p["ln_2_g"], p["ln_2_b"], cfg.layer_norm_epsilon)
    h = gelu_tanh(linear(h, p["fc_w"].astype(dtype), p["fc_b"].astype(dtype)))
    x = (x + linear(h, p["mlp_proj_w"].astype(dtype), p["mlp_proj_b"].astype(dtype))).reshape(B, T, D)
    return x, (None if kv is None else (keys, values))


# Depth up to which the layer loop is unrolled (a Python loop, one XLA computation per layer) instead of a
# ``lax.scan``: on a CPU the scan's loop boundary blocks fusion and its backward pass copies every layer's
# slice of the stacked weights and gradients, which measured 1.3-1.6x slower for 2-4 layer models; the
# unrolled graph's compile time grows with depth, so deep models keep the scan.
UNROLL_MAX_LAYERS = 12


def layer_list(blocks: dict, n_layer: int) -> list[dict]:
    """The stacked per-layer weights ``blocks`` ([L, ...] leaves) as a list of L per-layer dicts.

    Done once outside a decoding loop, so each step reads every layer's weights in place instead of
    slicing the stacked arrays again."""
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], blocks) for i in range(n_layer)]


def run_layers(layers, cfg: GPT2Config, x, allowed, kvs, index, dtype):
    """All residual blocks. ``layers``: the stacked ``blocks`` dict or a :func:`layer_list`; ``kvs``: None or
    a list of per-layer (keys, values) caches. Returns x and the updated cache list (or None)."""
    if kvs is None and isinstance(layers, dict) and cfg.n_layer > UNROLL_MAX_LAYERS:
        x, _ = jax.lax.scan(lambda h, p: (_block(p, h, allowed, None, index, cfg, dtype)[0], None), x, layers)
        return x, None
    if isinstance(layers, dict):
        layers = layer_list(layers, cfg.n_layer)
    new = []
    for i, p in enumerate(layers):
        x, kv = _block(p, x, allowed, None if kvs is None else kvs[i], index, cfg, dtype)
        new.append(kv)
    return x, (None if kvs is None else new)


def output_logits(params: dict, cfg: GPT2Config, x):
    """Final LayerNorm and the tied output head, in float32 whatever the compute dtype: rounding logits to
    bfloat16 would put a 2^-8 relative error on every log-probability."""
    lead = x.shape[:-1]
    x = _layer_norm(x.astype(jnp.float32).reshape(-1, x.shape[-1]), params["ln_f_g"], params["ln_f_b"],
                    cfg.layer_norm_epsilon)
    return (x @ params["wte"].astype(jnp.float32).T).reshape(*lead, cfg.vocab_size)


def embed_tokens(params: dict, ids, positions, dtype):
    return (params["wte"][ids] + params["wpe"][positions]).astype(dtype)


def forward_cached(params: dict, cfg: GPT2Config, ids, positions, mask, cache: KVCache | None, index,
                   dtype=jnp.float32):
    """Run ``T`` new tokens per sequence, writing their keys/values at cache slots ``index .. index+T-1``.

    Args:
      ids: [B, T] token ids; positions: [B, T] position ids (from the attention mask, so left padding
        does not shift them); mask: [B, T] bool, False at padding (those keys are never attended to).
      cache: a :class:`KVCache` with S >= index + T slots, or None to attend only within these T tokens
        (training and scoring: no cache to fill); index: scalar int (may be traced), 0 when cache is None.
      dtype: compute dtype (bfloat16 on GPU); LayerNorm, softmax and the output head run in float32.
    Returns:
      logits [B, T, V] float32 and the updated cache.

    The sampler keeps one cache per layer in its decoding loop's carry (see :mod:`collapsim.gpt2.sampling`);
    this stacked form is the public, one-call interface.
    """
    B, T = ids.shape
    # Whatever padding holds (even an id beyond the vocabulary) must not reach the values: a NaN there
    # would survive the zero attention weight (0 * NaN).
    x = embed_tokens(params, jnp.where(mask, ids, 0), positions, dtype)
    if cache is None:
        x, _ = run_layers(params["blocks"], cfg, x, attention_mask(mask.astype(bool), 0, T, T), None, 0, dtype)
        return output_logits(params, cfg, x), None
    valid = jax.lax.dynamic_update_slice(cache.valid, mask.astype(bool), (0, index))
    kvs = [(cache.k[i], cache.v[i]) for i in range(cfg.n_layer)]
    x, kvs = run_layers(params["blocks"], cfg, x, attention_mask(valid, index, T, cache.k.shape[3]), kvs,
                         index, dtype)
    return output_logits(params, cfg, x), KVCache(jnp.stack([k for k, _ in kvs]), jnp.stack([v for _, v in kvs]), valid)


def positions_from_mask(mask):
    """Position ids [B, T] = cumsum(mask) - 1, clipped at 0 (what Hugging Face uses with left padding)."""
    m = mask.astype(jnp.int32)
    return jnp.maximum(jnp.cumsum(m, axis=-1) - 1, 0)


def forward(params: dict, cfg: GPT2Config, ids, mask=None, dtype=jnp.float32):
    """Logits [B, T, V] float32 for token ids [B, T]; ``mask`` [B, T] (1 = real token) defaults to all ones.

    Positions come from the mask, so left-padded and unpadded prompts give the same logits at real tokens.
    """
    if mask is None:
        mask = jnp.ones(ids.shape, bool)
    if ids.shape[1] > cfg.n_positions:
        raise ConfigError(f"sequence length {ids.shape[1]} exceeds n_positions={cfg.n_positions}")
    logits, _ = forward_cached(params, cfg, ids, positions_from_mask(mask), mask, None, 0, dtype)
    return logits
