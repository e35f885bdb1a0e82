"""A sweep's plan: grid points resolved through their family's entry, grouped by compiled shape, cut into
chunks that fit the memory the computation may use."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from collapsim.runs.spec import RunSpec
from collapsim.sweeps.spec import Chunk, Group, Point, SUMMARY_STATS, SweepSpec, validate

#: A chunk holds at most this share of a group's points, so even a sweep that fits in memory at once has
#: a few chunks to resume from and a progress bar that moves.
MIN_CHUNKS_PER_GROUP = 4
#: Share of the available memory a chunk's buffers may take (the rest: compiled code, the host copy).
MEMORY_SHARE = 0.25
#: Bytes a grid point's resolved plan keeps for the whole sweep (its assignment, RunSpec, Loop and parameter
#: arrays): measured ~18 KB per categorical point; a lower bound, as in :mod:`collapsim.memory`.
PLAN_POINT_BYTES = 4096
#: Bytes one metrics.csv row costs while the table is built and written (the row's Python objects, then the
#: CSV and Parquet columns): measured ~640 bytes for a one-axis categorical sweep; a lower bound.
TABLE_ROW_BYTES = 400


def _resolve(spec: RunSpec, until_collapse: bool):
    from collapsim.runs.execute import resolve

    if until_collapse:
        spec = spec.replace(generations=1)  # the loop runs in segments; check sizes for one segment
    return resolve(spec)


def plan(sweep: SweepSpec, tick: Optional[Callable[[], None]] = None) -> list[Group]:
    """Resolve every grid point and gather them into compiled groups (in first-appearance order); ``tick``
    is called after each point (a progress bar: a large grid takes minutes to plan)."""
    import jax

    from collapsim.engine import LoopConfig

    validate(sweep)
    groups: dict = {}
    for i, assignment in enumerate(sweep.assignments()):
        spec, e, loop = _resolve(sweep.point_spec(assignment), sweep.until_collapse)
        cfg = LoopConfig(spec.policy, spec.samples, spec.generations, loop.shortcut, curate=spec.curate)
        shapes = jax.tree.map(lambda a: (np.shape(a), str(np.asarray(a).dtype)), loop.params)
        key = (loop.family, cfg, str(jax.tree.structure(loop.params)), str(shapes))
        groups.setdefault(key, Group(loop.family, cfg, [], e)).points.append(Point(i, assignment, spec, loop))
        if tick is not None:
            tick()
    return list(groups.values())


def _chain_bytes(spec: RunSpec, e, until_collapse: bool) -> tuple[float, float]:
    """(results, working set) bytes per chain of a resolved spec; see :func:`per_chain_bytes`."""
    model, point = e.footprint(spec)
    points = spec.samples * (spec.generations if spec.policy.startswith("accumulate") else 1)
    working = (model + points * point) * 4 * 8
    results = (16 * 8 * 3) * (1 if until_collapse else spec.generations + 1)
    return float(results), float(working)


def per_chain_bytes(group: Group, until_collapse: bool = False) -> tuple[float, float]:
    """(bytes kept per chain for the results, bytes of working set per chain in a compiled call), from the
    registry entry's footprint (model floats, floats per data point); rough lower bounds, as in
    :func:`collapsim.runs.registry.check_memory`."""
    return _chain_bytes(group.points[0].spec, group.entry, until_collapse)


def metric_names(loop) -> list[str]:
    """The metrics a resolved point's family records, sorted (traced with ``jax.eval_shape``, not run)."""
    import jax

    key = jax.random.key(0)
    return sorted(jax.eval_shape(lambda: loop.family.metrics(key, loop.family.init(key, loop.params), loop.params)))


def _largest_point(sweep: SweepSpec) -> dict:
    """The grid point with each numeric axis at its largest value (other axes at their first): the point
    whose chains need the most memory (more samples, a larger vocabulary or dimension)."""
    def numeric(values):
        return all(isinstance(v, (int, float)) for v in values)

    return {a.name: max(a.values) if numeric(a.values) else a.values[0] for a in sweep.axes}


def sweep_bytes(points: int, seeds: int, generations: int, metrics: int, chain: tuple[float, float],
                until_collapse: bool = False) -> float:
    """Bytes a whole sweep holds at its peak, a lower bound however it is chunked.

    Kept for every point until the table is written: its plan (PLAN_POINT_BYTES), its summaries ((stats +
    theory) x metrics x (T + 1) float64; until collapse, each chain's collapse generation in a few copies)
    and its metrics.csv rows (metrics x (T + 1), or one, at TABLE_ROW_BYTES). Plus the smallest chunk: one
    point's chains' results and one chain's working set (``chain`` = :func:`per_chain_bytes`).
    """
    if until_collapse:
        rows, kept = 1.0, float(seeds) * 8 * 3
    else:
        rows = float(metrics) * (generations + 1)
        kept = rows * (len(SUMMARY_STATS) + 1) * 8
    results, working = chain
    return float(points) * (PLAN_POINT_BYTES + kept + rows * TABLE_ROW_BYTES) + seeds * results + working


def check_sweep_memory(sweep: SweepSpec, available: Optional[int] = None) -> None:
    """Refuse, before the grid is planned or anything allocated, a sweep whose whole plan (points x their
    summaries and table rows, and one chunk of chains) exceeds the machine's memory; the message gives the
    estimate (:func:`collapsim.memory.check_fits`)."""
    from collapsim.memory import check_fits

    spec, e, loop = _resolve(sweep.point_spec(_largest_point(sweep)), sweep.until_collapse)
    points = math.prod(len(a.values) for a in sweep.axes)
    metrics = len(metric_names(loop))
    seeds, T = sweep.base.seeds, spec.generations
    need = sweep_bytes(points, seeds, T, metrics, _chain_bytes(spec, e, sweep.until_collapse), sweep.until_collapse)
    shape = ("until collapse" if sweep.until_collapse
             else f"{T} generations of {metrics} metrics ({points * metrics * (T + 1):,} table rows)")
    check_fits(need, f"a sweep of {points:,} points x {seeds} seeds, {shape},", available)


def chunk_points(group: Group, seeds: int, available: int, until_collapse: bool = False) -> int:
    """Grid points per chunk: as many as fit in MEMORY_SHARE of ``available`` bytes, and at most
    1 / MIN_CHUNKS_PER_GROUP of the group (at least one point)."""
    results, working = per_chain_bytes(group, until_collapse)
    G = len(group.points)
    most = max(1, -(-G // MIN_CHUNKS_PER_GROUP))
    if available:
        most = min(most, max(1, int(available * MEMORY_SHARE // (seeds * (results + working)))))
    return most


def call_chunk(group: Group, chains: int, available: int, accelerator: bool) -> Optional[int]:
    """Chains per compiled call: bounded by the memory and the per-chain working set; on a CPU also by the
    engine's cache-sized default (a CPU's cache, not its RAM, is what limits a call's speed there)."""
    from collapsim.engine import default_chunk

    _, working = per_chain_bytes(group)
    by_memory = max(1, int(available * MEMORY_SHARE // working)) if available else chains
    if accelerator:
        return min(chains, by_memory)
    return min(default_chunk(group.cfg, chains), by_memory)


def make_chunks(groups: list[Group], seeds: int, available: int, until_collapse: bool = False) -> list[Chunk]:
    chunks = []
    for gi, group in enumerate(groups):
        size = chunk_points(group, seeds, available, until_collapse)
        idx = list(range(len(group.points)))
        for start in range(0, len(idx), size):
            part = idx[start:start + size]
            real = len(part)
            part = part + [part[-1]] * (size - real)  # padding: one compiled shape per group
            chunks.append(Chunk(len(chunks), gi, tuple(part), real))
    return chunks


def _stack(points: list) -> tuple[Any, np.ndarray]:
    import jax
    import jax.numpy as jnp

    params = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *[p.loop.params for p in points])
    alphas = np.stack([p.spec.alpha_schedule() for p in points]).astype(np.float32)
    return params, alphas
