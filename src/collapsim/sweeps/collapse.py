"""Run chains until they collapse: segments of generations until every chain meets its family's criterion.

A family's collapse criterion is a metric and a threshold (its entry's ``criterion``; categorical: ``support <= 1``,
one category left, an absorbing state of the Wright-Fisher chain). A chain's collapse generation is the
first t >= 0 at which the criterion holds; a chain that has not collapsed after ``cap`` generations is
censored at the cap (reported as such, never dropped).

Keys: chain i of a sweep with base ``seed`` splits ``split(key(seed), seeds)[i]`` into (init, loop) as
:func:`collapsim.engine.run_loop` does, and generation t draws with ``fold_in(loop_key, t)``, so a chain's
numbers do not depend on the segment length, on which chains still run beside it, or on the device. (The
fixed-length drivers split the loop key into T keys instead, so a chain here is not the same chain as in a
``collapsim run`` of the same seed; its law is.)

Each grid point's chains are split into up to :data:`CALLS_PER_POINT` calls (a fixed split, so the numbers
never depend on the device count), which :func:`collapsim.engine.dispatch` runs over the local devices.
Inside a call the chains run in segments of L generations; when the running chains fit a smaller batch
(:data:`MIN_BATCH` times a power of 4), they are gathered into it, so collapsed chains stop costing work
while the number of compiled shapes stays logarithmic.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np

from collapsim.errors import ConfigError
from collapsim.engine.policies import ALPHA_POLICIES


def criterion(family: str):
    """The family's :class:`~collapsim.families.entry.Criterion` (from its entry); refused when it has none."""
    from collapsim.runs.registry import ENTRIES, entry

    crit = entry(family).criterion
    if crit is None:
        having = [name for name, e in ENTRIES.items() if e.criterion is not None]
        raise ConfigError(f"--until-collapse: family {family!r} has no collapse criterion "
                          f"(families with one: {', '.join(having)})")
    return crit


def default_cap(samples: int) -> int:
    """Generations after which a chain is censored: 20 n + 100. Neutral drift's slowest mode decays like
    (1 - 1/n)^t, so past the mean (about 2n) a chain survives x more generations with probability about
    e^(-x/n): at 20 n, e^-18 per chain."""
    return 20 * samples + 100


def segment_length(samples: int) -> int:
    """Generations per compiled segment: about n/8 (the mean collapse time is of order 2n), 8 to 256."""
    return int(min(256, max(8, samples // 8)))


def check_policy(spec) -> None:
    """Until-collapse runs open-ended: no accumulation buffer (its size is T n), a constant alpha (the parsed
    schedule's first 64 values all equal)."""
    if spec.policy.startswith("accumulate"):
        raise ConfigError(f"--until-collapse cannot run policy {spec.policy!r}: its buffer grows with the generations")
    if spec.policy in ALPHA_POLICIES:
        a = spec.schedule.values(64)
        if not np.all(a == a[0]):
            raise ConfigError(f"--until-collapse needs a constant alpha, got the schedule {spec.alpha!r}")


@lru_cache(maxsize=64)
def _programs(family, cfg, metric: str, threshold: float, length: int):
    """(init, advance), vmapped over chains and jitted: see the module docstring."""
    import jax
    import jax.numpy as jnp

    from collapsim.engine import init_carry, make_step

    def point(pb, g):
        return jax.tree.map(lambda a: a[g], pb)

    def init(key, g, pb):
        k_init, k_loop = jax.random.split(key)
        carry, m0 = init_carry(family, cfg, k_init, point(pb, g))
        first = jnp.where(m0[metric] <= threshold, 0, -1).astype(jnp.int32)
        return carry, k_loop, first

    def advance(carry, k_loop, first, g, pb, alphas, t0):
        step = make_step(family, cfg, point(pb, g))

        def body(state, t):
            c, f = state
            c, m = step(c, (jax.random.fold_in(k_loop, t), alphas[g], t))
            return (c, jnp.where((f < 0) & (m[metric] <= threshold), t, f)), None

        ts = t0 + 1 + jnp.arange(length, dtype=jnp.int32)
        return jax.lax.scan(body, (carry, first), ts)[0]

    return (jax.jit(jax.vmap(init, in_axes=(0, 0, None))),
            jax.jit(jax.vmap(advance, in_axes=(0, 0, 0, 0, None, None, None))))


#: Smallest batch a call compacts to; batches shrink by powers of 4 (few compiled shapes per call).
MIN_BATCH = 64


def _bucket(n: int) -> int:
    """The batch size for n running chains: MIN_BATCH times a power of 4."""
    size = MIN_BATCH
    while size < n:
        size *= 4
    return size


def collapse_generations(family, cfg, crit, params_batch, alphas, g: int, keys, cap: int, length: int,
                         device=None) -> np.ndarray:
    """First generation (int64, (chains,)) at which each chain of grid point ``g`` meets ``crit``; -1 for a
    chain still running at ``cap`` (censored). ``keys``: one key per chain; ``alphas``: (G,) constants."""
    import jax
    import jax.numpy as jnp

    put = partial(jax.device_put, device=device)
    init, advance = _programs(family, cfg, crit.metric, float(crit.threshold), length)
    chains = keys.shape[0]
    pb, al = put(params_batch), put(jnp.asarray(alphas, jnp.float32))
    gs = put(jnp.full((chains,), g, jnp.int32))
    carry, k_loop, first = init(put(keys), gs, pb)
    rows = np.arange(chains)  # row -> chain (-1: padding)
    result = np.asarray(first).astype(np.int64)
    t = 0
    while t < cap:
        valid = rows >= 0
        live = np.flatnonzero(valid & (result[np.where(valid, rows, 0)] < 0))
        if live.size == 0:
            break
        if _bucket(live.size) < rows.size:  # compact: drop collapsed chains and padding
            size = _bucket(live.size)
            pick = np.concatenate([live, np.full(size - live.size, live[0])])
            take = put(jnp.asarray(pick, jnp.int32))
            carry, k_loop, first, gs = jax.tree.map(lambda a: jnp.take(a, take, axis=0), (carry, k_loop, first, gs))
            rows = np.concatenate([rows[live], np.full(size - live.size, -1)])
        carry, first = advance(carry, k_loop, first, gs, pb, al, jnp.int32(t))
        t += length
        f = np.asarray(first)
        for row in np.flatnonzero((rows >= 0) & (f >= 0)):
            if result[rows[row]] < 0:
                result[rows[row]] = f[row]
    result[result > cap] = -1  # collapsed in the last segment's overshoot past the cap: still censored
    return result


def run_until_collapse(sweep, group, points: list, real: int, progress=None) -> dict:
    """One sweep chunk in until-collapse mode: {"point": (real,), "collapse": (real, seeds) int64, -1 =
    censored at "cap"}. Each point's chains are a few calls (:func:`chain_batches`), spread over the local
    devices; ``progress`` gets the fraction of calls finished."""
    import jax
    import jax.numpy as jnp

    from collapsim.engine import dispatch

    crit = criterion(group.family.name)
    spec0 = points[0].spec
    for p in points[:real]:
        check_policy(p.spec)
    cap = sweep.cap or default_cap(spec0.samples)
    length = segment_length(spec0.samples)
    params = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *[p.loop.params for p in points])
    # alpha_1 of each point's schedule (constant: check_policy), 0 for a policy that ignores it.
    alphas = np.asarray([p.spec.alpha_schedule()[0] for p in points], np.float32)
    keys = jax.random.split(jax.random.key(sweep.base.seed), sweep.base.seeds)
    parallel = not (group.family.lapack and jax.default_backend() == "cpu")

    def call(g, chains):
        return lambda device: collapse_generations(group.family, group.cfg, crit, params, alphas, g, keys[chains], cap,
                                                   length, device)

    batches = chain_batches(sweep.base.seeds)
    calls = [call(g, b) for g in range(real) for b in batches]
    outs = dispatch(calls, None if progress is None else (lambda n: progress(n / len(calls))), parallel=parallel)
    per_point = [np.concatenate(outs[i * len(batches):(i + 1) * len(batches)]) for i in range(real)]
    return {"point": np.asarray([p.index for p in points[:real]]), "collapse": np.stack(per_point),
            "cap": np.int64(cap)}


#: A grid point's chains are split into this many calls (when each keeps MIN_BATCH chains), so that the
#: local devices share even a one-point chunk; fixed, so no chain's numbers depend on the device count.
CALLS_PER_POINT = 4


def chain_batches(seeds: int) -> list:
    """Chain indices of each call for one grid point: CALLS_PER_POINT near-equal slices of at least MIN_BATCH."""
    calls = max(1, min(CALLS_PER_POINT, seeds // MIN_BATCH))
    return np.array_split(np.arange(seeds), calls)
