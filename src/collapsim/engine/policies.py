"""Data policies: how generation t's training data is assembled from synthetic and real data.

Each policy is a pure function over *data pytrees* (every leaf has a leading axis of length n, so points,
(X, y) pairs and token sequences all work) with one signature::

    assemble(key, synthetic, fresh, real0, pool, alpha_t, t) -> (data, weight, pool)

``synthetic``: n draws from the decoded model t-1; ``fresh``: n new draws from the truth (``None`` unless
the policy declares ``needs_fresh``); ``real0``: the original real sample of generation 0; ``pool``: the
accumulation buffer (T n rows, or ``None``); ``weight``: ``None`` (every row counts: the fast common case)
or a 0/1 float mask over the rows of ``data``. The engine (``engine.make_step``) calls them.

``replace``               data_t = n draws from model t-1.
``mix``                   each of the n points is, independently, a fresh truth draw with probability alpha_t,
                          else a draw from model t-1: n i.i.d. draws from alpha_t truth + (1 - alpha_t) model
                          (meaning (a) of the mixing literature; it keeps per-category counts Binomial Markov
                          chains, which is what the exact theory modules assume).
``keep-real``             the first round(alpha_t n) points of the original real sample (a fixed random
                          subset, the sample being i.i.d.), the rest drawn from model t-1.
``accumulate``            every real and synthetic point so far: t n points through a masked T n buffer, so a
                          run costs O(T^2 n) time and O(T n) memory per chain.
``accumulate-subsample``  n points drawn uniformly without replacement from everything accumulated so far.

This module imports JAX only inside the functions: the CLI lists :data:`POLICIES` before JAX may be loaded
(XLA's device count must be set first).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

POLICIES = ("replace", "mix", "keep-real", "accumulate", "accumulate-subsample")
#: Policies for which a family's sufficient-statistics shortcut (one draw of the refit model) is exact.
SHORTCUT_POLICIES = ("replace", "mix")
#: Policies that read alpha_t.
ALPHA_POLICIES = ("mix", "keep-real")


class Policy(NamedTuple):
    """A data policy: its assembly function and what it needs from the engine."""

    name: str
    assemble: Callable[..., tuple]
    needs_fresh: bool = False  # draws n new truth points each generation
    needs_pool: bool = False  # keeps the T n accumulation buffer
    needs_pick_key: bool = False  # draws its own random selection


def rows_where(mask, a, b):
    """Row-wise select over data pytrees: rows of ``a`` where ``mask`` (n,) holds, else rows of ``b``."""
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda u, v: jnp.where(mask.reshape(mask.shape + (1,) * (u.ndim - 1)), u, v), a, b)


def _n(data) -> int:
    import jax

    return jax.tree.leaves(data)[0].shape[0]


def replace_policy(key, synthetic, fresh, real0, pool, alpha_t, t):
    return synthetic, None, pool


def mix_policy(key, synthetic, fresh, real0, pool, alpha_t, t):
    import jax

    real = jax.random.uniform(key, (_n(synthetic),)) < alpha_t
    return rows_where(real, fresh, synthetic), None, pool


def keep_real_policy(key, synthetic, fresh, real0, pool, alpha_t, t):
    import jax.numpy as jnp

    n = _n(synthetic)
    kept = jnp.arange(n) < jnp.round(alpha_t * n)
    return rows_where(kept, real0, synthetic), None, pool


def append_to_pool(pool, synthetic, t):
    """Write generation t's n rows into slots (t - 1) n .. t n - 1 of the buffer (T n rows)."""
    import jax

    n = _n(synthetic)
    return jax.tree.map(lambda p, s: jax.lax.dynamic_update_slice_in_dim(p, s, (t - 1) * n, axis=0), pool, synthetic)


def accumulate_policy(key, synthetic, fresh, real0, pool, alpha_t, t):
    import jax.numpy as jnp

    pool = append_to_pool(pool, synthetic, t)
    filled = jnp.arange(_n(pool)) < t * _n(synthetic)
    return pool, filled.astype(jnp.float32), pool


def accumulate_subsample_policy(key, synthetic, fresh, real0, pool, alpha_t, t):
    import jax
    import jax.numpy as jnp

    n = _n(synthetic)
    pool = append_to_pool(pool, synthetic, t)
    cap = _n(pool)
    # n uniform picks without replacement among the filled slots: the n smallest random scores.
    score = jnp.where(jnp.arange(cap) < t * n, jax.random.uniform(key, (cap,)), 2.0)
    _, idx = jax.lax.top_k(-score, n)
    return jax.tree.map(lambda p: p[idx], pool), None, pool


REGISTRY = {
    "replace": Policy("replace", replace_policy),
    "mix": Policy("mix", mix_policy, needs_fresh=True, needs_pick_key=True),
    "keep-real": Policy("keep-real", keep_real_policy),
    "accumulate": Policy("accumulate", accumulate_policy, needs_pool=True),
    "accumulate-subsample": Policy("accumulate-subsample", accumulate_subsample_policy, needs_pool=True, needs_pick_key=True),
}
assert tuple(REGISTRY) == POLICIES


def get(name: str) -> Policy:
    """The policy called ``name``; raises :class:`~collapsim.errors.ConfigError` naming the choices."""
    from collapsim.errors import ConfigError

    if name not in REGISTRY:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return REGISTRY[name]

