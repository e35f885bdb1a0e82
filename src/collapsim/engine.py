"""The generation loop: one step for every model family and data policy, and three drivers over it.

Every collapse experiment is the same loop::

    model_0 = init(key, params)                          # the truth, or a base model
    for t in 1..T:
        synthetic = sample(key, model_{t-1}, n, params)  # after decoding (temperature, top-k, top-p)
        fresh     = sample_real(key, params, n)          # the truth as a data source (if the policy needs it)
        data_t    = policy(synthetic, fresh, real_0, pool, alpha_t, t)   (collapsim.policies)
        model_t   = fit(key, model_{t-1}, data_t, weight, params)
        record metrics(key, model_t, params)

A model family is a :class:`Family` of pure functions built by a factory that closes over static settings
(sizes, switches); everything sweepable (the truth, temperature, ...) travels in the ``params`` pytree of
arrays, so a new value never recompiles. :func:`make_step` composes a family and a policy into the one public
``step(carry, (key, alpha_t, t)) -> (carry, metrics)``; three drivers run it and all return
metric -> array (chains, T + 1), index t = generation t (generation 0 is the initial model):

- :func:`run_loop`: ``lax.scan`` over generations, ``vmap`` over chains, chunks of chains spread over the
  local devices (:func:`dispatch`);
- :func:`run_grid`: the same for a batch of parameter pytrees, (grid point, chain) flattened onto one axis;
- :func:`run_host`: a Python loop over generations calling the jitted step, the carry checkpointed after every
  generation and resumed on a re-run (for fits that are training loops).

Randomness: chain i of a run with base ``seed`` uses key ``split(key(seed), seeds)[i]``, whatever the chunk,
device count, driver or grid point (so grid points share random numbers, which sharpens comparisons). Within
a generation the synthetic draw uses key_t and every other consumer ``fold_in(key_t, TAG)`` of its own tag;
keys nobody uses are dead code that XLA removes, so the common replace loop derives none.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from collapsim import policies
from collapsim.errors import ConfigError, NumericalError
from collapsim.policies import POLICIES, SHORTCUT_POLICIES  # noqa: F401 (re-exported)
from collapsim.summary import summarize  # noqa: F401 (re-exported)

Model = Any  # a pytree of arrays
Params = Any  # a pytree of arrays (sweepable)
Data = Any  # a pytree of arrays, each with leading axis n

# fold_in tags of a generation's key (see the module docstring). The synthetic draw uses the key itself
# (the hot path pays for no derivation: a fold_in per chain and generation cost 25% of the Gaussian loop);
# the others fold in tags at the top of the 32-bit range, far from the small counters a draw hashes.
_REAL, _PICK, _FIT, _METRIC = (2**32 - 16 + i for i in range(4))


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


class LoopConfig(NamedTuple):
    """Static settings: they fix array shapes, so each distinct value compiles once."""

    policy: str
    samples: int
    generations: int
    shortcut: bool = False  # draw each refit model directly with family.refit_mixture
    metrics_every: int = 1  # record the family's expensive metrics every k-th generation (recorded_generations)

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
            synthetic = family.sample(key, model, n, params)
            fresh = family.sample_real(jax.random.fold_in(key, _REAL), params, n) if policy.needs_fresh else None
            data, weight, pool = policy.assemble(jax.random.fold_in(key, _PICK), synthetic, fresh, real0, pool, alpha_t, t)
            new = family.fit(jax.random.fold_in(key, _FIT), model, data, weight, params)
        return Carry(new, pool, real0), metrics_at(family, cfg, jax.random.fold_in(key, _METRIC), new, params, t)

    return step


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


def _point(params_batch: Params, g) -> Params:
    return jax.tree.map(lambda a: a[g], params_batch)


def _start(key, g, params_batch, alphas, family: Family, cfg: LoopConfig):
    """Generation 0 of one chain: (carry, metrics, per-generation inputs (keys (T,), alpha (T,)))."""
    k_init, k_loop = jax.random.split(key)
    carry, first = init_carry(family, cfg, k_init, _point(params_batch, g))
    return carry, first, (jax.random.split(k_loop, cfg.generations), alphas[g].astype(jnp.float32))


def _segment(carry, xs, g, params_batch, t0, t1, family: Family, cfg: LoopConfig):
    """Generations t0 + 1 .. t1 of one chain: (carry, metrics (T,), zero outside the segment)."""
    step = make_step(family, cfg, _point(params_batch, g))
    ts = jnp.arange(1, cfg.generations + 1, dtype=jnp.int32)  # unbatched, so the cond below stays a branch

    def skip(c, x):
        shapes = jax.eval_shape(step, c, x)[1]
        return c, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def body(c, x):
        key, alpha_t, t = x
        return jax.lax.cond((t > t0) & (t <= t1), step, skip, c, (key, alpha_t, t))

    return jax.lax.scan(body, carry, (xs[0], xs[1], ts))


@lru_cache(maxsize=64)
def _programs(family: Family, cfg: LoopConfig, grid: bool = False) -> tuple[Callable, Callable]:
    """(start, segment), vmapped over chains and jitted once per static configuration.

    ``grid``: each chain indexes its own point of the parameter batch (g batched); otherwise every chain
    shares point g (a scalar), so computations on the parameters alone stay out of the per-chain work.
    """
    g_axis = 0 if grid else None
    start = jax.jit(jax.vmap(partial(_start, family=family, cfg=cfg), in_axes=(0, g_axis, None, None)))
    segment = jax.jit(jax.vmap(partial(_segment, family=family, cfg=cfg), in_axes=(0, 0, g_axis, None, None, None)))
    return start, segment


def _join(first: dict, rest: dict) -> dict:
    """Generation-0 metrics (B,) in front of the scanned ones (B, T) -> (B, T + 1), as NumPy."""
    return {k: np.concatenate([np.asarray(first[k]).astype(np.asarray(v).dtype)[:, None], np.asarray(v)], axis=1)
            for k, v in rest.items()}


def _chain_keys(seeds: int, seed: int) -> jax.Array:
    if seeds < 1:
        raise ConfigError(f"seeds must be at least 1, got {seeds}")
    return jax.random.split(jax.random.key(seed), seeds)


def _chunks(total: int, chunk: Optional[int], cfg: LoopConfig) -> list[np.ndarray]:
    """Flat chain indices in equal chunks (the last padded with repeats: one compiled shape). The chunk size
    depends on the work only, never on the device count, so every chain is computed by the same program."""
    chunk = default_chunk(cfg, total) if chunk is None else max(1, min(chunk, total))
    return [np.arange(start, start + chunk) % total for start in range(0, total, chunk)]


def dispatch(calls: list, progress=None, sizes=None, parallel: bool = True) -> list:
    """Run ``calls`` (functions of a device returning arrays) round-robin over the local devices.

    One host thread per device, each running whole calls: the CPU client runs one thread's calls one after
    another, so a thread per device is what keeps every core busy (1.8x on 2 cores over one Python thread).
    Whole calls per device rather than one program sharded across devices: with the chains of one program
    sharded over two CPU host devices, two LAPACK custom calls deadlock XLA's thread pool (seen at a few
    thousand 3x3 eigendecompositions per device), and a call's numbers must not depend on how many devices
    share it; for the same reason ``parallel=False`` runs one call at a time. ``progress`` gets the running
    sum of ``sizes`` (default 1 per call) after each round.
    """
    devices = jax.local_devices() if parallel else jax.local_devices()[:1]
    sizes = sizes or [1] * len(calls)
    results, done = [], 0
    # x64 is a thread-local setting (``execute`` turns it on for --precision float64): the pool's threads
    # must be told; a float32 run's threads run exactly as before.
    x64 = bool(jax.config.jax_enable_x64)

    def run(pair):
        call, device = pair
        with jax.enable_x64(True) if x64 else contextlib.nullcontext():
            return jax.tree.map(np.asarray, call(device))

    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
        for r in range(0, len(calls), len(devices)):
            results.extend(pool.map(run, zip(calls[r:r + len(devices)], devices)))
            done += sum(sizes[r:r + len(devices)])
            if progress is not None:
                progress(done)
    return results


def one_blas_thread():
    """A context in which OpenBLAS (whose LAPACK serves JAX's eigh / SVD on CPU) runs one thread.

    The LAPACK families' chains run one call at a time with the per-chain decompositions batched inside it;
    OpenBLAS's own threads on those small matrices only spin against the caller. Measured on the 2-core
    machine, 100 SVDs of 100 x 100 in one jitted call: 43.8 ms with OpenBLAS's default 2 threads, 16.1 ms
    with one. ``scipy.linalg`` is imported first because it loads that OpenBLAS, and threadpoolctl can only
    limit a library already loaded.
    """
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _batch(params_batch: Params, alphas, family: Family, cfg: LoopConfig):
    alphas = np.asarray(alphas, np.float32)
    for a in alphas:
        validate_loop(family, cfg, a)
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(params_batch)}
    if sizes != {alphas.shape[0]}:
        raise ConfigError(f"every parameter leaf needs a leading grid axis of {alphas.shape[0]} (one per alpha "
                          f"schedule), got {sorted(map(str, sizes))}")
    return params_batch, jnp.asarray(alphas)


def _scan_driver(family, cfg, params_batch, alphas, seeds, seed, chunk, progress) -> dict:
    """Flat (G * seeds, T + 1) metrics; flat chain j is chain j % seeds of grid point j // seeds."""
    if not family.jittable:
        raise ConfigError(f"family {family.name!r} fits by a host training loop: run it with the host-loop driver")
    params_batch, alphas = _batch(params_batch, alphas, family, cfg)
    keys = _chain_keys(seeds, seed)
    total = alphas.shape[0] * seeds
    grid = alphas.shape[0] > 1
    start, segment = _programs(family, cfg, grid)
    t0, t1 = jnp.int32(0), jnp.int32(cfg.generations)

    def call(idx):
        def on(device):
            put = partial(jax.device_put, device=device)
            g = put(jnp.asarray(idx // seeds, jnp.int32) if grid else jnp.int32(0))
            pb, al = put(params_batch), put(alphas)
            carry, first, xs = start(put(keys[idx % seeds]), g, pb, al)
            return first, segment(carry, xs, g, pb, t0, t1)[1]
        return on

    chunks = _chunks(total, chunk, cfg)
    sizes = [min(len(c), total - i * len(c)) for i, c in enumerate(chunks)]
    parallel = not (family.lapack and jax.default_backend() == "cpu")
    with contextlib.nullcontext() if parallel else one_blas_thread():
        outs = dispatch([call(idx) for idx in chunks], progress, sizes, parallel)
    pieces = [{m: v[:n] for m, v in _join(first, rest).items()} for (first, rest), n in zip(outs, sizes)]
    return {m: np.concatenate([p[m] for p in pieces]) for m in pieces[0]}


def run_loop(family: Family, cfg: LoopConfig, params: Params, alpha, seeds: int, seed: int = 0,
             chunk: Optional[int] = None, progress: Optional[Callable[[int], None]] = None) -> dict:
    """Driver (a): ``seeds`` independent chains under ``lax.scan`` + ``vmap``.

    Args:
      family: the model family; cfg: static loop settings.
      params: the family's parameter pytree (arrays; not a recompile trigger).
      alpha: array (T,) of alpha_t (fresh-data share for ``mix``, kept share for ``keep-real``; ignored by
        the other policies).
      seeds: number of chains; seed: base seed.
      chunk: chains per compiled call (``None``: :func:`default_chunk`); results do not depend on it.
      progress: called with the number of chains finished after each chunk.
    Returns:
      dict metric name -> numpy array (seeds, T + 1).
    """
    batch = jax.tree.map(lambda a: jnp.asarray(a)[None], params)
    return _scan_driver(family, cfg, batch, np.asarray(alpha, np.float32)[None], seeds, seed, chunk, progress)


def run_grid(family: Family, cfg: LoopConfig, params_batch: Params, alphas, seeds: int, seed: int = 0,
             chunk: Optional[int] = None, progress: Optional[Callable[[int], None]] = None) -> dict:
    """Driver (b): a batch of G parameter pytrees (leading axis G on every leaf) x ``seeds`` chains each.

    (grid point, chain) pairs are flattened onto one axis and run in vmapped chunks sharded over the local
    devices; point g's chain i uses the same key as chain i of :func:`run_loop`, so each point's result
    equals a ``run_loop`` with that point's parameters, bit for bit.

    Args:
      alphas: array (G, T) of alpha schedules, one per point.
    Returns:
      dict metric name -> numpy array (G, seeds, T + 1).
    """
    flat = _scan_driver(family, cfg, params_batch, alphas, seeds, seed, chunk, progress)
    G = np.asarray(alphas).shape[0]
    return {m: v.reshape(G, seeds, -1) for m, v in flat.items()}


def run_host(family: Family, cfg: LoopConfig, params: Params, alpha, seeds: int, seed: int = 0,
             checkpoint: Optional[str] = None, fingerprint: str = "", chunk: Optional[int] = None,
             progress: Optional[Callable[[int], None]] = None) -> dict:
    """Driver (c): a Python loop over generations, each a call of the compiled step on every chunk of chains.

    After every generation the carries and the metrics so far are written to ``checkpoint`` (a ``.npz``
    path, replaced atomically); a re-run with the same ``fingerprint`` (a string identifying the run, e.g.
    its spec's JSON) resumes after the last finished generation and ends with the same numbers as an
    uninterrupted run, which are also :func:`run_loop`'s numbers. For fits that are training loops.

    Returns:
      dict metric name -> numpy array (seeds, T + 1); the checkpoint is removed once the run is complete.
    """
    batch = jax.tree.map(lambda a: jnp.asarray(a)[None], params)
    batch, alphas = _batch(batch, np.asarray(alpha, np.float32)[None], family, cfg)
    keys = _chain_keys(seeds, seed)
    if checkpoint:
        remove_dead_temporaries(checkpoint)
    if not family.jittable:
        return _host_eager(family, cfg, params, alphas[0], keys, checkpoint, fingerprint, progress)
    start, segment = _programs(family, cfg)
    devices = jax.local_devices()[:1] if family.lapack and jax.default_backend() == "cpu" else jax.local_devices()
    states = []  # per chunk: (carry, xs, g, its device's params and alphas, history), pinned to one device
    for i, idx in enumerate(_chunks(seeds, chunk, cfg)):
        put = partial(jax.device_put, device=devices[i % len(devices)])
        g, pb, al = put(jnp.int32(0)), put(batch), put(alphas)
        carry, first, xs = start(put(keys[idx]), g, pb, al)
        states.append([carry, xs, g, pb, [jax.tree.map(np.asarray, first)]])
    done = 0
    if checkpoint and os.path.exists(checkpoint):
        done = _load_checkpoint(checkpoint, states, fingerprint)
    for t in range(done + 1, cfg.generations + 1):
        stepped = [segment(c, xs, g, pb, jnp.int32(t - 1), jnp.int32(t)) for c, xs, g, pb, _ in states]
        for state, (carry, m) in zip(states, stepped):  # all chunks launched before any is waited for
            state[0] = carry
            state[4].append({k: np.asarray(v[:, t - 1]) for k, v in m.items()})
        if checkpoint:
            _save_checkpoint(checkpoint, states, t, fingerprint)
        if progress is not None:
            progress(t)
    out = {k: np.concatenate([np.stack([h[k] for h in st[4]], axis=1) for st in states])[:seeds] for k in states[0][4][0]}
    if checkpoint:
        _remove_checkpoint(checkpoint)
    return out


def _host_eager(family, cfg, params, alpha, keys, checkpoint, fingerprint, progress) -> dict:
    """run_host for a family whose fit is a host training loop: one chain at a time, nothing jitted here
    (the family jits its own pieces). Same keys, checkpoints and resumption as the jitted path."""
    step = make_step(family, cfg, params)
    states = []  # per chain: [carry, per-generation keys, -, -, history]
    for key in keys:
        k_init, k_loop = jax.random.split(key)
        carry, first = init_carry(family, cfg, k_init, params)
        states.append([carry, jax.random.split(k_loop, cfg.generations), None, None,
                       [{k: np.asarray(v)[None] for k, v in first.items()}]])
    done = _load_checkpoint(checkpoint, states, fingerprint) if checkpoint and os.path.exists(checkpoint) else 0
    for t in range(done + 1, cfg.generations + 1):
        for state in states:
            state[0], m = step(state[0], (state[1][t - 1], alpha[t - 1], jnp.int32(t)))
            state[4].append({k: np.asarray(v)[None] for k, v in m.items()})
        if checkpoint:
            _save_checkpoint(checkpoint, states, t, fingerprint)
        if progress is not None:
            progress(t)
    out = {k: np.concatenate([np.stack([h[k] for h in st[4]], axis=1) for st in states]) for k in states[0][4][0]}
    if checkpoint:
        _remove_checkpoint(checkpoint)
    return out


def _temporary(path: str, pid: int) -> str:
    """The file :func:`_save_checkpoint` writes before renaming it to ``path``."""
    return f"{path}.tmp-{pid}.npz"


def remove_dead_temporaries(path: str) -> None:
    """Delete ``PATH.tmp-PID.npz`` files whose writing process is gone: a kill while :func:`_save_checkpoint`
    wrote one leaves it behind, and the rerun that finishes the run would otherwise leave it there for good.
    A live process's temporary (another run writing the same checkpoint) is left alone."""
    from collapsim.outdir import _alive

    folder, name = os.path.split(os.path.abspath(path))
    prefix, suffix = f"{name}.tmp-", ".npz"
    try:
        entries = os.listdir(folder)
    except OSError:  # no folder yet: nothing left there
        return
    for entry in entries:
        pid = entry[len(prefix):-len(suffix)] if entry.startswith(prefix) and entry.endswith(suffix) else ""
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, entry))


def _remove_checkpoint(path: str) -> None:
    """A finished run's checkpoint goes, with any temporary of it that a killed writer left."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    remove_dead_temporaries(path)


def _save_checkpoint(path: str, states: list, t: int, fingerprint: str) -> None:
    arrays = {}
    for i, (carry, _, _, _, history) in enumerate(states):
        for j, leaf in enumerate(jax.tree.leaves(carry)):
            arrays[f"c{i}_carry{j}"] = np.asarray(leaf)
        for name in history[0]:
            arrays[f"c{i}_metric_{name}"] = np.stack([h[name] for h in history], axis=1)
    tmp = _temporary(path, os.getpid())
    np.savez(tmp, generation=np.int64(t), fingerprint=np.str_(fingerprint), **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path: str, states: list, fingerprint: str) -> int:
    """Restore the chunks' carries and histories (in place) after the checkpointed generation; returns it."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ConfigError(f"checkpoint {path} cannot be read ({err}); remove it to start over") from None
    with z:
        if str(z["fingerprint"]) != fingerprint:
            raise ConfigError(f"checkpoint {path} belongs to a different run; remove it or use another folder")
        t = int(z["generation"])
        for i, state in enumerate(states):
            leaves, treedef = jax.tree.flatten(state[0])
            state[0] = jax.tree.unflatten(treedef, [jax.device_put(z[f"c{i}_carry{j}"], leaf.sharding) for j, leaf in enumerate(leaves)])
            metrics = {name: z[f"c{i}_metric_{name}"] for name in state[4][0]}
            state[4] = [{name: metrics[name][:, k] for name in metrics} for k in range(t + 1)]
    return t


#: Training points per device in one compiled call. Past a few hundred thousand the per-generation working
#: set spills out of cache: 20,000 categorical chains (n = 200) took 15.5 s in one call and 9.8 s in calls
#: of 1,000 chains per device (2 cores).
CALL_POINTS_PER_DEVICE = 2**18


#: A run is split into at least this many calls when each still gets MIN_CALL_CHAINS chains, so 2 or 4
#: devices have work to share; fixed, not read from the device count, so the numbers never depend on it.
MIN_CALLS, MIN_CALL_CHAINS = 4, 256


def default_chunk(cfg: LoopConfig, chains: int) -> int:
    """Chains per compiled call: about CALL_POINTS_PER_DEVICE points each (a whole buffer for accumulate),
    at least MIN_CALLS calls when they stay large, evened out so the last one wastes little padding."""
    points = cfg.samples * (cfg.generations if "accumulate" in cfg.policy else 1)
    most = max(1, CALL_POINTS_PER_DEVICE // points)
    calls = max(-(-chains // most), min(MIN_CALLS, chains // MIN_CALL_CHAINS), 1)
    return -(-chains // calls)


def check_finite(per_chain: dict, recorded: Optional[dict] = None) -> None:
    """Raise :class:`NumericalError` naming the first metric and generation with a non-finite value.

    ``recorded``: optional metric -> bool (T + 1,) of the generations that hold a value (:func:`sparse_metrics`);
    the other generations of those metrics are not recorded (NaN by construction) and are not checked.
    """
    recorded = recorded or {}
    for name, values in per_chain.items():
        bad = ~np.isfinite(values)
        if name in recorded:
            bad = bad & np.asarray(recorded[name], bool)
        if bad.any():
            g = int(np.argmax(bad.any(axis=tuple(range(values.ndim - 1)))))
            chains = int(bad[..., g].sum())
            raise NumericalError(f"metric {name!r} became non-finite at generation {g} in {chains} chain(s); "
                                 "the run was stopped rather than write NaN into the table")
