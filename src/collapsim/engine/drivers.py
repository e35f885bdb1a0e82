"""The three drivers over :func:`collapsim.engine.step.make_step`; each returns metric -> (chains, T + 1).

- :func:`run_loop`: ``lax.scan`` over generations, ``vmap`` over chains, chunks of chains spread over the
  local devices (:func:`collapsim.engine.devices.dispatch`);
- :func:`run_grid`: the same for a batch of parameter pytrees, (grid point, chain) flattened onto one axis;
- :func:`run_host`: a Python loop over generations calling the jitted step; after every generation the state
  goes to a checkpoint writer it is handed (:class:`Checkpoint`), and a re-run resumes from it.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache, partial
from typing import Callable, Optional, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine.devices import default_chunk, dispatch, one_blas_thread
from collapsim.engine.step import Family, LoopConfig, Params, init_carry, make_step, validate_loop
from collapsim.errors import ConfigError, NumericalError



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
    # The family's compiler options are CPU settings (measured there): other backends compile as they do.
    options = dict(family.compile_options) if family.compile_options and jax.default_backend() == "cpu" else None
    start = jax.jit(jax.vmap(partial(_start, family=family, cfg=cfg), in_axes=(0, g_axis, None, None)),
                    compiler_options=options)
    segment = jax.jit(jax.vmap(partial(_segment, family=family, cfg=cfg), in_axes=(0, 0, g_axis, None, None, None)),
                      compiler_options=options)
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


class Checkpoint(Protocol):
    """Where :func:`run_host` keeps its state between generations (:class:`collapsim.files.checkpoint.NpzCheckpoint`
    keeps it in a file). ``arrays``: name -> NumPy array, as :func:`_state_arrays` lays them out."""

    def load(self) -> Optional[tuple[int, dict]]:
        """(generation, arrays) of the saved state, or None when there is none."""

    def save(self, generation: int, arrays: dict) -> None:
        """Keep the state after ``generation`` (replacing the previous one whole)."""

    def finish(self) -> None:
        """The run is complete: drop the saved state."""


def run_host(family: Family, cfg: LoopConfig, params: Params, alpha, seeds: int, seed: int = 0,
             checkpoint: Optional[Checkpoint] = None, chunk: Optional[int] = None,
             progress: Optional[Callable[[int], None]] = None) -> dict:
    """Driver (c): a Python loop over generations, each a call of the compiled step on every chunk of chains.

    After every generation the carries and the metrics so far go to ``checkpoint`` (a :class:`Checkpoint`;
    the engine writes no file itself); a re-run handed the same run's checkpoint resumes after the last
    finished generation and ends with the same numbers as an uninterrupted run, which are also
    :func:`run_loop`'s numbers. For fits that are training loops.

    Returns:
      dict metric name -> numpy array (seeds, T + 1); ``checkpoint.finish()`` is called once the run is complete.
    """
    batch = jax.tree.map(lambda a: jnp.asarray(a)[None], params)
    batch, alphas = _batch(batch, np.asarray(alpha, np.float32)[None], family, cfg)
    keys = _chain_keys(seeds, seed)
    if not family.jittable:
        return _host_eager(family, cfg, params, alphas[0], keys, checkpoint, progress)
    # grid spelled out: lru_cache keys (family, cfg) and (family, cfg, False) apart, and the scan driver's
    # compiled programs would be compiled a second time for a host run of the same loop.
    start, segment = _programs(family, cfg, False)
    devices = jax.local_devices()[:1] if family.lapack and jax.default_backend() == "cpu" else jax.local_devices()
    states = []  # per chunk: (carry, xs, g, its device's params and alphas, history), pinned to one device
    for i, idx in enumerate(_chunks(seeds, chunk, cfg)):
        put = partial(jax.device_put, device=devices[i % len(devices)])
        g, pb, al = put(jnp.int32(0)), put(batch), put(alphas)
        carry, first, xs = start(put(keys[idx]), g, pb, al)
        states.append([carry, xs, g, pb, [jax.tree.map(np.asarray, first)]])
    done = _resume(checkpoint, states)
    for t in range(done + 1, cfg.generations + 1):
        stepped = [segment(c, xs, g, pb, jnp.int32(t - 1), jnp.int32(t)) for c, xs, g, pb, _ in states]
        for state, (carry, m) in zip(states, stepped):  # all chunks launched before any is waited for
            state[0] = carry
            state[4].append({k: np.asarray(v[:, t - 1]) for k, v in m.items()})
        if checkpoint is not None:
            checkpoint.save(t, _state_arrays(states))
        if progress is not None:
            progress(t)
    out = {k: np.concatenate([np.stack([h[k] for h in st[4]], axis=1) for st in states])[:seeds] for k in states[0][4][0]}
    if checkpoint is not None:
        checkpoint.finish()
    return out


def _host_eager(family, cfg, params, alpha, keys, checkpoint, progress) -> dict:
    """run_host for a family whose fit is a host training loop: one chain at a time, nothing jitted here
    (the family jits its own pieces). Same keys, checkpoints and resumption as the jitted path."""
    step = make_step(family, cfg, params)
    states = []  # per chain: [carry, per-generation keys, -, -, history]
    for key in keys:
        k_init, k_loop = jax.random.split(key)
        carry, first = init_carry(family, cfg, k_init, params)
        states.append([carry, jax.random.split(k_loop, cfg.generations), None, None,
                       [{k: np.asarray(v)[None] for k, v in first.items()}]])
    done = _resume(checkpoint, states)
    for t in range(done + 1, cfg.generations + 1):
        for state in states:
            state[0], m = step(state[0], (state[1][t - 1], alpha[t - 1], jnp.int32(t)))
            state[4].append({k: np.asarray(v)[None] for k, v in m.items()})
        if checkpoint is not None:
            checkpoint.save(t, _state_arrays(states))
        if progress is not None:
            progress(t)
    out = {k: np.concatenate([np.stack([h[k] for h in st[4]], axis=1) for st in states]) for k in states[0][4][0]}
    if checkpoint is not None:
        checkpoint.finish()
    return out



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


def _state_arrays(states: list) -> dict:
    """The host driver's state (per chunk or chain: carry and metric history) as flat named arrays."""
    arrays = {}
    for i, (carry, _, _, _, history) in enumerate(states):
        for j, leaf in enumerate(jax.tree.leaves(carry)):
            arrays[f"c{i}_carry{j}"] = np.asarray(leaf)
        for name in history[0]:
            arrays[f"c{i}_metric_{name}"] = np.stack([h[name] for h in history], axis=1)
    return arrays


def _resume(checkpoint: Optional[Checkpoint], states: list) -> int:
    """Restore the carries and histories (in place) from ``checkpoint``'s saved state; returns its
    generation (0: nothing saved, start from the beginning)."""
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is None:
        return 0
    t, arrays = saved
    for i, state in enumerate(states):
        leaves, treedef = jax.tree.flatten(state[0])
        state[0] = jax.tree.unflatten(treedef, [jax.device_put(arrays[f"c{i}_carry{j}"], getattr(leaf, "sharding", None))
                                                for j, leaf in enumerate(leaves)])
        metrics = {name: arrays[f"c{i}_metric_{name}"] for name in state[4][0]}
        state[4] = [{name: metrics[name][:, k] for name in metrics} for k in range(t + 1)]
    return t
