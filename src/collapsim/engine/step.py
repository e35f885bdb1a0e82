"""The one public step: a model family (:class:`Family`), the loop's static settings (:class:`LoopConfig`),
and :func:`make_step`, which composes a family and a data policy into
``step(carry, (key, alpha_t, t)) -> (carry, metrics)`` (see :mod:`collapsim.engine` for the loop it runs in).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import policies
from collapsim.engine.policies import SHORTCUT_POLICIES
from collapsim.errors import ConfigError


Model = Any  # a pytree of arrays
Params = Any  # a pytree of arrays (sweepable)
Data = Any  # a pytree of arrays, each with leading axis n

# fold_in tags of a generation's key (see the module docstring). The synthetic draw uses the key itself
# (the hot path pays for no derivation: a fold_in per chain and generation cost 25% of the Gaussian loop);
# the others fold in tags at the top of the 32-bit range, far from the small counters a draw hashes.
_REAL, _PICK, _FIT, _METRIC, _CURATE = (2**32 - 16 + i for i in range(5))
#: The key of the reward temperature beta (a float scalar > 0) in a family's ``params`` dict, read by the step
#: when ``LoopConfig.curate`` > 1 (the run layer puts it there: a parameter, so a sweep varies it without
#: recompiling).
REWARD_TEMPERATURE = "reward_temperature"


def _explicit_only(policy: str, method: str, samples: int) -> bool:
    return method == "explicit"


class Family(NamedTuple):
    """A model family as a learner: pure functions for one chain (the drivers vmap over chains).

    Attributes:
      name: registry name, e.g. ``"gaussian"``.
      init: ``init(key, params) -> model``, generation 0 (the truth when the family can represent it).
      sample_real: ``sample_real(key, params, n) -> data``, n draws from the truth; its law need not be a
        model of the family.
      sample: ``sample(key, model, n, params) -> data``, n draws from the model after decoding.
      fit: ``fit(key, previous_model, data, weight, params) -> model``; ``weight`` is ``None`` (every row
        counts) or a 0/1 float array over the rows (the accumulate policy's buffer mask).
      metrics: ``metrics(key, model, params) -> dict[str, scalar]``; the truth is in ``params``.
      supports: ``supports(policy, method, samples) -> bool``, consulted by the engine's validation
        (method ``"explicit"`` or ``"shortcut"``); default: every policy, explicit only.
      refit_mixture: optional exact shortcut ``refit_mixture(key, model, alpha, n, params) -> model``,
        distributed as ``fit`` of n i.i.d. draws from alpha truth + (1 - alpha) decoded model; ``alpha`` is
        ``None`` for pure replacement (a static case the family may specialise).
      jittable: False when ``fit`` is a host training loop (GPT-2 fine-tuning calls its own jitted steps):
        then only :func:`run_host` runs the family, chain by chain, calling the step functions eagerly.
      lapack: True when the step calls LAPACK (``jnp.linalg.eigh``...): on CPU host devices such calls run
        one at a time, because two programs with LAPACK custom calls running at once deadlock XLA's CPU
        thread pool (both of its threads wait inside the calls).
      widen: optional ``widen(model, rows) -> model`` for families whose model stores its training rows (a
        kernel density): the same law, its arrays padded to hold ``rows`` rows. The engine calls it on the
        initial model when the policy trains on more rows than n (``accumulate``: the T n buffer), so the
        carried model keeps one shape through the scan.
      expensive: names of the (floating) metrics that cost much more than the rest (measured, see each
        family), which a loop with ``LoopConfig.metrics_every`` k > 1 records only at the generations of
        :func:`recorded_generations`; elsewhere they are not computed (the step leaves them out of the metric
        function's output inside a ``lax.cond`` on the generation index, and XLA drops the dead work) and
        their entries are NaN.
      reward: optional ``reward(data, params) -> (n, R)`` per-point rewards of n data points under R rewards (R = 1:
        one reward; R > 1: "several rewards", each K-tuple judged by one of them at random), in the family's
        natural units (the engine divides by the reward temperature). None: the family cannot curate (or no
        reward was chosen). A family with a reward also records ``expected_reward`` among its metrics.
      compile_options: XLA compiler options for the loop's programs on CPU, as (name, value) pairs (hashable:
        the family keys the drivers' program cache), e.g. ``(("xla_backend_optimization_level", 1),)``: a
        family whose step compiles slowly at XLA's default level and runs as fast with identical numbers at a
        lower one (measured per family; see :mod:`collapsim.families.gaussian`).
    Data is a pytree whose leaves have a leading axis n: points (n, d), (X, y) pairs, token ids (n, L).
    """

    name: str
    init: Callable[[jax.Array, Params], Model]
    sample_real: Callable[[jax.Array, Params, int], Data]
    sample: Callable[[jax.Array, Model, int, Params], Data]
    fit: Callable[[jax.Array, Model, Data, Optional[jax.Array], Params], Model]
    metrics: Callable[[jax.Array, Model, Params], dict]
    supports: Callable[[str, str, int], bool] = _explicit_only
    refit_mixture: Optional[Callable[..., Model]] = None
    jittable: bool = True
    lapack: bool = False
    widen: Optional[Callable[[Model, int], Model]] = None
    expensive: tuple = ()
    compile_options: tuple = ()
    reward: Optional[Callable[[Data, Params], jax.Array]] = None


class LoopConfig(NamedTuple):
    """Static settings: they fix array shapes, so each distinct value compiles once."""

    policy: str
    samples: int
    generations: int
    shortcut: bool = False  # draw each refit model directly with family.refit_mixture
    metrics_every: int = 1  # record the family's expensive metrics every k-th generation (recorded_generations)
    curate: int = 1  # K: each synthetic point is the Bradley-Terry winner of K model draws (1: no curation)

    @property
    def method(self) -> str:
        return "shortcut" if self.shortcut else "explicit"


class Carry(NamedTuple):
    """What one chain carries from generation to generation."""

    model: Model
    pool: Optional[Data]  # the accumulation buffer (T n rows) or None
    real0: Optional[Data]  # the original real sample (keep-real) or None


def validate_loop(family: Family, cfg: LoopConfig, alpha) -> None:
    """Raise :class:`ConfigError` naming the first problem with a loop configuration."""
    policies.get(cfg.policy)
    if cfg.samples < 1:
        raise ConfigError(f"samples per generation must be at least 1, got {cfg.samples}")
    if cfg.generations < 1:
        raise ConfigError(f"generations must be at least 1, got {cfg.generations}")
    curate = cfg.curate
    if isinstance(curate, (bool, np.bool_)) or not isinstance(curate, (int, np.integer)) or curate < 1:
        raise ConfigError(f"--curate must be a whole number of at least 1 (1: no curation), got {curate!r}")
    if curate > 1 and family.reward is None:
        raise ConfigError(f"family {family.name!r} has no reward to curate by (--curate {curate})")
    if curate > 1 and cfg.shortcut:
        raise ConfigError("the exact shortcut draws no synthetic points to curate; use the explicit method with --curate")
    if cfg.shortcut and (family.refit_mixture is None or cfg.policy not in SHORTCUT_POLICIES):
        raise ConfigError(f"family {family.name!r} has no exact shortcut for policy {cfg.policy!r}")
    if not family.supports(cfg.policy, cfg.method, cfg.samples):
        raise ConfigError(f"family {family.name!r} does not support the {cfg.method} method with policy {cfg.policy!r} "
                          "in this configuration")
    every = cfg.metrics_every
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ConfigError(f"metrics-every must be a whole number of at least 1 (1: every generation), got {every!r}")
    alpha = np.asarray(alpha)
    if alpha.shape != (cfg.generations,):
        raise ConfigError(f"alpha schedule must have one value per generation ({cfg.generations}), got shape {alpha.shape}")
    if not np.all(np.isfinite(alpha)) or alpha.min() < 0 or alpha.max() > 1:
        raise ConfigError(f"alpha must lie in [0, 1], got values from {alpha.min():g} to {alpha.max():g}")


def init_carry(family: Family, cfg: LoopConfig, key: jax.Array, params: Params) -> tuple[Carry, dict]:
    """Generation 0 of one chain: (carry, metrics of the initial model)."""
    model = family.init(jax.random.fold_in(key, _FIT), params)
    policy = policies.get(cfg.policy)
    real0 = family.sample_real(jax.random.fold_in(key, _REAL), params, cfg.samples) if cfg.policy == "keep-real" else None
    pool = None
    if policy.needs_pool:
        shape = jax.eval_shape(lambda k: family.sample(k, model, cfg.samples, params), key)
        pool = jax.tree.map(lambda s: jnp.zeros((cfg.generations * s.shape[0],) + s.shape[1:], s.dtype), shape)
        if family.widen is not None:  # the rows the fit will see: the buffer (accumulate) or n (subsample)
            trained = jax.eval_shape(lambda k, p, s: policy.assemble(k, s, s, s, p, jnp.float32(0), jnp.int32(1))[0],
                                     key, pool, shape)
            rows = jax.tree.leaves(trained)[0].shape[0]
            if rows != cfg.samples:
                model = family.widen(model, rows)
    return Carry(model, pool, real0), family.metrics(jax.random.fold_in(key, _METRIC), model, params)


def make_step(family: Family, cfg: LoopConfig, params: Params) -> Callable:
    """The one generation step ``step(carry, (key, alpha_t, t)) -> (carry, metrics)`` for one chain.

    ``params`` is closed over (it is traced when the caller is jitted), so the step has the signature
    ``lax.scan`` wants; ``alpha_t`` is a float32 scalar and ``t`` the int32 generation index (1..T).
    """
    policy = policies.get(cfg.policy)
    n = cfg.samples

    def step(carry: Carry, xs):
        key, alpha_t, t = xs
        model, pool, real0 = carry
        if cfg.shortcut:
            a = None if cfg.policy == "replace" else alpha_t
            new = family.refit_mixture(key, model, a, n, params)
        else:
            synthetic = (family.sample(key, model, n, params) if cfg.curate == 1 else
                         curated_sample(family, key, model, n, cfg.curate, params))
            fresh = family.sample_real(jax.random.fold_in(key, _REAL), params, n) if policy.needs_fresh else None
            data, weight, pool = policy.assemble(jax.random.fold_in(key, _PICK), synthetic, fresh, real0, pool, alpha_t, t)
            new = family.fit(jax.random.fold_in(key, _FIT), model, data, weight, params)
        return Carry(new, pool, real0), metrics_at(family, cfg, jax.random.fold_in(key, _METRIC), new, params, t)

    return step


def bradley_terry_winners(key: jax.Array, rewards: jax.Array, beta) -> jax.Array:
    """Index (n,) int32 of each K-tuple's winner: tuple i's draw j wins with probability
    softmax_j(rewards[i, j, rho_i] / beta), rho_i uniform over the R rewards (rewards: (n, K, R)).

    Gumbel-max: argmax_j (r_j / beta + G_j) with G_j i.i.d. standard Gumbel is distributed as that softmax
    (no normalisation, and no overflow however small beta is).
    """
    n, k, r = rewards.shape
    pick_key, gumbel_key = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    judged = rewards[..., 0] if r == 1 else jnp.take_along_axis(
        rewards, jax.random.randint(pick_key, (n, 1, 1), 0, r), axis=2)[..., 0]
    return jnp.argmax(judged / beta + jax.random.gumbel(gumbel_key, (n, k), judged.dtype), axis=1).astype(jnp.int32)


def curated_sample(family: Family, key: jax.Array, model: Model, n: int, k: int, params: Params) -> Data:
    """n curated synthetic points: K n draws from the decoded model (with the key the uncurated draw uses),
    grouped into n K-tuples (draws i K .. i K + K - 1 form tuple i), each tuple's Bradley-Terry winner kept
    (:func:`bradley_terry_winners`, beta = ``params[REWARD_TEMPERATURE]``, randomness from its own fold_in tag)."""
    draws = family.sample(key, model, k * n, params)
    rewards = family.reward(draws, params)  # (K n, R)
    rewards = rewards.reshape(n, k, rewards.shape[-1])
    win = bradley_terry_winners(jax.random.fold_in(key, _CURATE), rewards, params[REWARD_TEMPERATURE])
    return jax.tree.map(lambda leaf: leaf.reshape((n, k) + leaf.shape[1:])[jnp.arange(n), win], draws)


def recorded_generations(generations: int, every: int = 1) -> np.ndarray:
    """bool (T + 1,): the generations at which expensive metrics are recorded when they are recorded every
    ``every``-th generation: generation 0, every t with t % every == 0, and always the last (T)."""
    return is_recorded(np.arange(generations + 1), generations, every)


def is_recorded(t, generations: int, every: int):
    """Whether generation t (an int, a NumPy array or a traced index) records the expensive metrics."""
    return (t % every == 0) | (t == generations)


def sparse_metrics(family: Family, cfg: LoopConfig) -> dict:
    """metric -> bool (T + 1,) of the generations that hold a value, for the metrics a loop does not record
    every generation (empty when ``cfg.metrics_every`` is 1 or the family declares none expensive)."""
    if cfg.metrics_every <= 1 or not family.expensive:
        return {}
    mask = recorded_generations(cfg.generations, cfg.metrics_every)
    return {name: mask for name in family.expensive}


def metrics_at(family: Family, cfg: LoopConfig, key: jax.Array, model: Model, params: Params, t) -> dict:
    """The family's metrics of generation t's model, its expensive ones only where
    :func:`recorded_generations` says so (NaN elsewhere).

    The cheap metrics are computed in the step itself, the expensive ones inside a ``lax.cond`` on t; each side
    calls the same metric function and keeps only its own outputs, so the other outputs are dead code that
    XLA removes (measured: see the README's "Performance at scale"). t must be unbatched (the drivers scan
    over an unbatched generation index) so that under vmap the cond stays a branch: with a batched predicate
    it would become a select that computes both sides. A family with expensive metrics takes this path for
    every k, 1 included, with the predicate behind an optimization barrier so that XLA cannot fold the cond
    away: the recorded numbers are then those of one and the same compiled code whatever k is (folded, the
    k = 1 program fused differently and moved the last bit of other metrics). Eagerly (a concrete t: the host
    training loop) the choice is a Python if.
    """
    expensive = family.expensive
    if not expensive:
        return family.metrics(key, model, params)
    every = family.metrics(key, model, params)

    def full(m):
        return {name: v for name, v in family.metrics(key, m, params).items() if name in expensive}

    def skip(m):
        return {name: jnp.full(jnp.shape(v), jnp.nan, jnp.result_type(v)) for name, v in full(m).items()}

    record = is_recorded(t, cfg.generations, cfg.metrics_every)
    if not isinstance(t, jax.core.Tracer):
        sparse = full(model) if bool(record) else skip(model)
    else:
        sparse = jax.lax.cond(jax.lax.optimization_barrier(record), full, skip, model)
    return {name: sparse[name] if name in expensive else v for name, v in every.items()}


# ------------------------------------------------------------------------------------------------ drivers
#
# All three drivers run the same two compiled programs on chunks of chains: ``start`` (generation 0) and
# ``segment`` (a lax.scan over all T generations that runs the step for t0 < t <= t1 and passes the carry
# through elsewhere). The scan driver calls segment(0, T) once per chunk; the host-loop driver calls
# segment(t - 1, t) for each generation. Sharing one executable is what makes the two bitwise identical:
# XLA compiles a step differently inside a loop and alone (a reduction's order changes in the last bit).
# Every chain gets its parameters by index into a batch of parameter pytrees (one point for run_loop), so
# the grid driver is the same programs again.
