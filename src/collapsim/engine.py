"""The generation loop: one engine for every model family and every data policy.

Every collapse experiment is the same loop (DESIGN.md, "The one idea")::

    model_0 = truth
    for t in 1..T:
        synthetic = sample(decode(model_{t-1}), n)
        data_t    = policy(real, synthetic, history)
        model_t   = fit(data_t)
        record metrics(model_t, truth)

A model family is a :class:`Family` of pure functions; the engine runs the loop with ``lax.scan`` over
generations and ``vmap`` over seeds, jitted once per static configuration (family, policy, n, T). Swept
values (the truth's parameters, alpha_t, decoding temperature...) travel as arrays in ``params`` and never
cause a recompile.

Data policies (all work for every family, through the explicit-sample path):

``replace``
    data_t = n draws from model_{t-1}.
``mix``
    each of the n training points is, independently, a fresh draw from the truth with probability
    alpha_t, otherwise a draw from model_{t-1}: data_t is n i.i.d. draws from the mixture
    alpha_t * truth + (1 - alpha_t) * decode(model_{t-1}). This is meaning (a) of REFERENCES.md section 2,
    chosen because it keeps the per-category count a Binomial Markov chain; the theory modules use it too.
``keep-real``
    the first round(alpha_t * n) points of the original real sample (a fixed random subset, since the
    sample is i.i.d.) are kept every generation; the rest are draws from model_{t-1}.
``accumulate``
    every real and synthetic point so far: model_t is fit on t*n points. Memory is a preallocated buffer
    of T*n points per chain and generation t costs O(T*n) (a masked fit over the whole buffer), so a run
    costs O(T^2 n) time and O(T n) memory per chain.
``accumulate-subsample``
    n points drawn uniformly without replacement from everything accumulated so far (same buffer;
    generation 1 therefore trains on exactly the real sample).

Families may also offer an exact shortcut, ``refit_mixture``: the distribution of fit(n i.i.d. draws from
alpha * truth + (1 - alpha) * model) drawn directly from sufficient statistics. It serves ``replace``
(alpha = 0) and ``mix``; tests check it gives the same distribution of results as the explicit path.

Generation 0 is the truth itself, so every metric array has T + 1 entries, index t = generation t.
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.errors import ConfigError

from collapsim.policies import POLICIES, SHORTCUT_POLICIES  # noqa: F401 (re-exported)

Model = Any  # a pytree of arrays
Params = Any  # a pytree of arrays (sweepable)


class Family(NamedTuple):
    """A model family: pure functions built by a factory that closes over static settings.

    Shapes below are per chain; the engine vmaps over chains.

    Attributes:
      name: registry name, e.g. ``"gaussian"``.
      truth: ``truth(params) -> model``, the generation-0 model.
      sample: ``sample(key, model, n) -> x``, n i.i.d. draws, ``x.shape == (n, *event_shape)``.
      fit: ``fit(x, w, params) -> model``; ``w`` is ``None`` (every point counts: the common, fast case) or
        an array of shape ``(len(x),)`` with 0/1 entries (masks for the accumulate policy's fixed buffer).
      metrics: ``metrics(model, truth, params) -> dict[str, scalar]``.
      decode: ``decode(model, params) -> model``, the distribution synthetic data is actually drawn from
        (temperature, top-k, top-p for token models); identity for most families.
      refit_mixture: optional exact shortcut ``refit_mixture(key, model, truth, alpha, n, params) -> model``,
        distributed as ``fit`` of n i.i.d. draws from ``alpha * truth + (1 - alpha) * model``; ``alpha`` is
        ``None`` for pure replacement (a static case the family may specialise).
    """

    name: str
    truth: Callable[[Params], Model]
    sample: Callable[[jax.Array, Model, int], jax.Array]
    fit: Callable[[jax.Array, jax.Array, Params], Model]
    metrics: Callable[[Model, Model, Params], dict]
    decode: Callable[[Model, Params], Model] = lambda model, params: model
    refit_mixture: Optional[Callable[..., Model]] = None


class LoopConfig(NamedTuple):
    """Static settings: they fix array shapes, so each distinct value compiles once."""

    policy: str
    samples: int
    generations: int
    shortcut: bool = False  # use family.refit_mixture (only replace / mix)


def validate_loop(family: Family, cfg: LoopConfig, alpha: np.ndarray) -> None:
    """Raise :class:`ConfigError` naming the first problem with a loop configuration."""
    if cfg.policy not in POLICIES:
        raise ConfigError(f"unknown policy {cfg.policy!r}; choose one of {', '.join(POLICIES)}")
    if cfg.samples < 1:
        raise ConfigError(f"samples per generation must be at least 1, got {cfg.samples}")
    if cfg.generations < 1:
        raise ConfigError(f"generations must be at least 1, got {cfg.generations}")
    if cfg.shortcut and (family.refit_mixture is None or cfg.policy not in SHORTCUT_POLICIES):
        raise ConfigError(
            f"the sufficient-statistics shortcut is not available for family {family.name!r} "
            f"with policy {cfg.policy!r}"
        )
    alpha = np.asarray(alpha)
    if alpha.shape != (cfg.generations,):
        raise ConfigError(f"alpha schedule must have one value per generation ({cfg.generations}), got shape {alpha.shape}")
    if not np.all(np.isfinite(alpha)) or alpha.min() < 0 or alpha.max() > 1:
        raise ConfigError(f"alpha must lie in [0, 1], got values from {alpha.min():g} to {alpha.max():g}")


def _select_rows(mask: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """Row-wise ``where``: rows of ``a`` where ``mask`` (shape (n,)) is true, else rows of ``b``."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)


def _chain(key: jax.Array, params: Params, alpha: jax.Array, family: Family, cfg: LoopConfig) -> dict:
    """One chain: T generations of the loop. Returns metric name -> array of shape (T + 1,)."""
    n, T, policy = cfg.samples, cfg.generations, cfg.policy
    truth = family.truth(params)
    k_real, k_loop = jax.random.split(key)
    real0 = family.sample(k_real, truth, n)  # the original real sample (keep-real uses it)
    accumulating = policy in ("accumulate", "accumulate-subsample")
    cap = T * n if accumulating else 0
    pool0 = jnp.zeros((cap,) + real0.shape[1:], real0.dtype)

    def step(carry, xs):
        model, pool = carry
        key_t, alpha_t, t = xs
        # Only the policies that draw real data or picks need extra keys; under replace each split would
        # cost a few threefry blocks per chain and generation, measurable beside n = 100 normal draws.
        needs_more = policy not in ("replace", "accumulate") and not (cfg.shortcut and policy == "replace")
        k_syn, k_real_t, k_pick = jax.random.split(key_t, 3) if needs_more else (key_t, None, None)
        if cfg.shortcut:
            a = None if policy == "replace" else alpha_t
            new = family.refit_mixture(k_syn, family.decode(model, params), truth, a, n, params)
            return (new, pool), family.metrics(new, truth, params)

        synthetic = family.sample(k_syn, family.decode(model, params), n)
        ones = None  # unweighted fit
        if policy == "replace":
            x, w = synthetic, ones
        elif policy == "mix":
            fresh = family.sample(k_real_t, truth, n)
            x, w = _select_rows(jax.random.uniform(k_pick, (n,)) < alpha_t, fresh, synthetic), ones
        elif policy == "keep-real":
            kept = jnp.arange(n) < jnp.round(alpha_t * n)
            x, w = _select_rows(kept, real0, synthetic), ones
        else:  # accumulate, accumulate-subsample: append this generation's n points to the buffer
            pool = jax.lax.dynamic_update_slice_in_dim(pool, synthetic, (t - 1) * n, axis=0)
            filled = jnp.arange(cap) < t * n
            if policy == "accumulate":
                x, w = pool, filled.astype(jnp.float32)
            else:
                # n uniform picks without replacement among the filled slots: the n smallest random keys.
                score = jnp.where(filled, jax.random.uniform(k_pick, (cap,)), 2.0)
                _, idx = jax.lax.top_k(-score, n)
                x, w = pool[idx], ones
        new = family.fit(x, w, params)
        return (new, pool), family.metrics(new, truth, params)

    xs = (jax.random.split(k_loop, T), jnp.asarray(alpha, jnp.float32), jnp.arange(1, T + 1))
    _, per_gen = jax.lax.scan(step, (truth, pool0), xs)
    at_truth = family.metrics(truth, truth, params)
    return {k: jnp.concatenate([jnp.reshape(at_truth[k], (1,)).astype(v.dtype), v]) for k, v in per_gen.items()}


@lru_cache(maxsize=64)
def _compiled(family: Family, cfg: LoopConfig) -> Callable:
    """(keys (B,), params, alpha (T,)) -> metric -> (B, T + 1), jitted once per static configuration."""
    chains = jax.vmap(partial(_chain, family=family, cfg=cfg), in_axes=(0, None, None))
    return jax.jit(chains)


def run_loop(
    family: Family,
    cfg: LoopConfig,
    params: Params,
    alpha,
    seeds: int,
    seed: int = 0,
    chunk: Optional[int] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> dict:
    """Run ``seeds`` independent chains of the generation loop.

    Args:
      family: the model family.
      cfg: static loop settings.
      params: the family's parameter pytree (arrays; not a recompile trigger).
      alpha: array (T,) of alpha_t (fresh-data share for ``mix``, kept share for ``keep-real``;
        ignored by the other policies).
      seeds: number of chains.
      seed: base seed; chain i uses ``split(key(seed), seeds)[i]``, so results do not depend on ``chunk``.
      chunk: chains per compiled call; ``None`` picks :func:`default_chunk`.
      progress: called with the number of chains finished after each chunk.

    Returns:
      dict metric name -> numpy array of shape (seeds, T + 1).
    """
    alpha = np.asarray(alpha, np.float32)
    validate_loop(family, cfg, alpha)
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    keys = jax.random.split(jax.random.key(seed), seeds)
    devices = len(jax.local_devices())
    chunk = default_chunk(cfg, seeds, devices) if chunk is None else max(1, min(chunk, seeds))
    chunk = -(-chunk // devices) * devices  # every device gets the same number of chains
    fn = _compiled(family, cfg)
    pieces = []
    for start in range(0, seeds, chunk):
        k = keys[start : start + chunk]
        short = chunk - k.shape[0]
        if short:  # pad the last chunk so every call has the compiled shape
            k = jnp.concatenate([k, jnp.resize(keys, (short,))])
        out = fn(spread_chains(k), params, alpha)
        pieces.append({m: np.asarray(v)[: chunk - short] for m, v in out.items()})
        if progress is not None:
            progress(min(start + chunk, seeds))
    return {m: np.concatenate([p[m] for p in pieces]) for m in pieces[0]}


def spread_chains(keys: jax.Array) -> jax.Array:
    """Shard the chain axis (keys (B,), B a multiple of the device count) over the local devices.

    Chains are independent, so this changes where they run, not what they compute. On a CPU the run and
    bench commands ask XLA for one host device per core (``cli_common.use_all_cores``), which turns one
    vmapped computation into one per core: 1.5x to 2x on 2 cores for the categorical loop.
    """
    devices = jax.local_devices()
    if len(devices) < 2 or keys.shape[0] % len(devices):
        return keys
    mesh = jax.sharding.Mesh(np.array(devices), ("chains",))
    return jax.device_put(keys, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("chains")))


#: Training points per device in one compiled call. Past a few hundred thousand the per-generation working
#: set spills out of cache: 20,000 categorical chains (n = 200) took 15.5 s in one call and 9.8 s in calls
#: of 1,000 chains per device (2 cores).
CALL_POINTS_PER_DEVICE = 2**18


def default_chunk(cfg: LoopConfig, seeds: int, devices: int = 1) -> int:
    """Chains per compiled call: about CALL_POINTS_PER_DEVICE points each (a whole buffer for accumulate),
    with the calls evened out so the last one wastes little padding."""
    points = cfg.samples * (cfg.generations if "accumulate" in cfg.policy else 1)
    most = max(1, CALL_POINTS_PER_DEVICE // points) * devices
    calls = -(-seeds // most)
    return -(-seeds // calls)


def summarize(values: np.ndarray) -> dict:
    """Monte Carlo summary over chains of an array (seeds, T + 1): mean, stderr, 2.5% and 97.5% quantiles."""
    values = np.asarray(values, np.float64)
    s = values.shape[0]
    stderr = values.std(axis=0, ddof=1) / math.sqrt(s) if s > 1 else np.full(values.shape[1], np.nan)
    lo, hi = np.quantile(values, [0.025, 0.975], axis=0)
    return {"mean": values.mean(axis=0), "stderr": stderr, "lo": lo, "hi": hi}
