"""Sweeps: a grid over a family's parameters x seeds, in resumable chunks, as one tidy table and a phase diagram.

A sweep is a base :class:`~collapsim.runs.spec.RunSpec` and a list of axes (``alpha=0:1:21``,
``samples=50,200``, ``temperature=0.7,1``, ``vocab=10,100``...). Each grid point is the base spec with the
axes' values put in; every point is resolved through the family's registry entry exactly as ``collapsim
run`` would, so any registered family can be swept with no code of its own here.

Compiled groups. Points whose built loops share the family object (the factories are cached on their
static settings), the loop configuration (policy, samples, generations, method) and the shapes of the
parameter pytree are one group: their parameter pytrees are stacked on a leading grid axis and run by
:func:`collapsim.engine.run_grid`, which flattens (point, chain) onto one axis, so a value of alpha,
temperature, top-p or a truth parameter never recompiles. Shape-setting values (samples, vocab, dim,
policy, the decoding switches) land in separate groups.

Chunks. Each group's points are cut into chunks of equal size (the last padded by repeating a point, so one
compiled shape serves them all). The size comes from the memory the computation may use
(:func:`collapsim.memory.available_bytes`: the accelerator's when JAX runs on one, else RAM) and the
registry entry's per-chain footprint; within a chunk the engine's own call size is bounded the same way. A
finished chunk's summaries are written to ``.OUT.sweep-partial/chunk-NNNNN.npz`` through a temporary file
and ``os.replace``, so a chunk file is either absent or whole; the same command run again skips the chunks
on disk, and a partial folder from a different sweep is refused. Results do not depend on chunking or on
the device count: point g's chain i uses chain i's key of a ``run_loop`` with point g's parameters.

Devices and processes. Within a process the engine spreads each chunk's calls over the local devices
(:func:`collapsim.engine.dispatch`: whole calls per device, which keeps every chain's numbers independent of
how many devices share the work). One program sharded over the devices with ``jax.sharding`` (chains on a
``NamedSharding`` mesh axis, parameters replicated) was tried and gives the categorical family's numbers bit
for bit on 1 and 4 host devices, but not the Gaussian family's: half of the explicit-path values changed,
by up to 2e-3 relative in the mean drift, because XLA compiles each device's shard size differently; so
chunks go through the engine's per-device dispatch.

Across P processes (``collapsim sweep --coordinator``: they join through ``jax.distributed.initialize`` and
leave JAX's runtime again), process r computes chunks r, r + P, r + 2P, ... and writes their files into the
one partial folder, which must be on a filesystem every process shares (the same ``--out`` on every
machine); process 0 waits for the others' files and writes the output folder. Each process keeps a
heartbeat file there, and a process whose partner stops (killed, failed, or never seen because the folder
is not shared) ends about two minutes later with one line (:mod:`collapsim.sweeps.exchange`).

Tables live in :mod:`collapsim.output.sweep_table`, figures in :mod:`collapsim.output.sweep_plots`, the until-collapse
runner in :mod:`collapsim.sweeps.collapse`.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from collapsim.errors import ConfigError
from collapsim.sweeps.chunks import load_chunk, open_partial, read_chunk_file, write_chunk_file
from collapsim.sweeps.exchange import Partners, _process
from collapsim.sweeps.plan import _resolve, _stack, call_chunk, make_chunks, plan
from collapsim.sweeps.spec import Chunk, Group, SUMMARY_STATS, SweepSpec, check_sweepable, parse_summary


def run_chunk(sweep: SweepSpec, group: Group, chunk: Chunk, available: int, progress=None) -> dict:
    """Simulate one chunk; returns the arrays its file holds (summaries per real point). ``progress`` is
    called with the fraction of the chunk done."""
    import jax

    from collapsim.engine import check_finite, run_grid
    from collapsim.runs.summary import summarize

    points = [group.points[i] for i in chunk.points]
    if sweep.until_collapse:
        from collapsim.sweeps.collapse import run_until_collapse

        return run_until_collapse(sweep, group, points, chunk.real, progress)
    params, alphas = _stack(points)
    seeds, seed = sweep.base.seeds, sweep.base.seed
    accelerator = jax.default_backend() != "cpu"
    chains = len(points) * seeds
    out = run_grid(group.family, group.cfg, params, alphas, seeds, seed,
                   chunk=call_chunk(group, chains, available, accelerator),
                   progress=None if progress is None else (lambda n: progress(n / chains)))
    check_finite(out)
    metrics = sorted(out)
    arrays = {"point": np.asarray([p.index for p in points[:chunk.real]]), "metrics": np.asarray(metrics)}
    for stat in SUMMARY_STATS:
        arrays[stat] = np.zeros((chunk.real, len(metrics), group.cfg.generations + 1))
    for j in range(chunk.real):
        for k, m in enumerate(metrics):
            s = summarize(out[m][j])
            for stat in SUMMARY_STATS:
                arrays[stat][j, k] = s[stat]
    return arrays


class Progress:
    """A progress bar over chunks (or ``unit``) on stderr, with the time left estimated from the work done
    so far (``partial`` moves it inside a long chunk: calls of the engine finished in it).

    ``delay``: seconds before the bar first shows, so a phase that is quick (planning a small grid) prints
    nothing; redraws are at most every ``REDRAW_S`` except the last.
    """

    REDRAW_S = 0.25

    def __init__(self, total: int, done: int, enabled: bool, unit: str = "chunks", label: str = "sweeping",
                 delay: float = 0.0):
        self.total, self.done, self.enabled = total, done, enabled
        self.unit, self.label, self.delay = unit, label, delay
        self.start, self.ran = time.perf_counter(), 0
        self.drawn = -math.inf  # when the bar was last drawn

    def update(self) -> None:
        self.done += 1
        self.ran += 1
        self._draw(0.0)

    def partial(self, fraction: float) -> None:
        self._draw(min(max(fraction, 0.0), 1.0))

    def _draw(self, fraction: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        last = self.done == self.total
        if elapsed < self.delay and self.drawn < 0 or not last and now - self.drawn < self.REDRAW_S:
            return
        self.drawn = now
        worked = self.ran + fraction
        left = f"~{elapsed / worked * (self.total - self.done - fraction):.0f}s left" if worked > 0 else "time left: ?"
        width = 30
        fill = int(width * (self.done + fraction) / max(self.total, 1))
        sys.stderr.write(f"\r{self.label} [{'#' * fill}{'-' * (width - fill)}] {self.done}/{self.total} {self.unit}, "
                         f"{elapsed:.0f}s, {left} ")
        if last:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run_sweep(sweep: SweepSpec, out: Path, progress: bool = True,
              after_chunk: Optional[Callable[[int], None]] = None, groups: Optional[list] = None) -> Optional[dict]:
    """Run (or finish) the sweep into the partial folder beside ``out``; returns the collected results, or
    None in a process other than 0 of a multi-process run (process 0 writes the output).

    ``after_chunk(i)`` is called after chunk i is on disk (tests interrupt the sweep there).
    """
    from collapsim.memory import available_bytes

    groups = plan(sweep) if groups is None else groups
    available = available_bytes()
    chunks = make_chunks(groups, sweep.base.seeds, available, sweep.until_collapse)
    fingerprint = sweep.fingerprint()
    folder = open_partial(out, sweep)
    rank, size = _process()
    mine = [c for c in chunks if c.index % size == rank]
    todo = [c for c in mine if load_chunk(folder, sweep, groups[c.group], c, fingerprint) is None]
    bar = Progress(len(mine), len(mine) - len(todo), progress)
    with Partners(folder, chunks, rank, size) as partners:  # one process: does nothing
        t0 = time.perf_counter()
        for c in todo:
            arrays = run_chunk(sweep, groups[c.group], c, available, bar.partial)
            write_chunk_file(folder, c.index, arrays, fingerprint)
            bar.update()
            if after_chunk is not None:
                after_chunk(c.index)
            partners.check()
        elapsed = time.perf_counter() - t0
        if size > 1:
            if rank != 0:
                return None
            partners.gather(fingerprint)
    results = [read_chunk_file(folder, c.index, fingerprint) for c in chunks]
    return {"groups": groups, "chunks": chunks, "results": results, "elapsed": elapsed, "folder": folder,
            "computed": len(todo), "skipped": len(mine) - len(todo)}


# ------------------------------------------------------------------------------------------ the command


class SweepResult(NamedTuple):
    path: Optional[Path]  # None in a process other than 0
    lines: list
    elapsed: float
    computed: int
    skipped: int
    requested: Optional[Path] = None


def default_out(sweep: SweepSpec) -> Path:
    """``runs/sweep-FAMILY-<fingerprint>``: the same sweep gets the same folder, so re-running it resumes."""
    return Path("runs") / f"sweep-{sweep.base.family}-{sweep.fingerprint()[:10]}"


def default_summary(sweep: SweepSpec) -> str:
    """``collapse`` in until-collapse mode, else ``final:`` the family's usual metric (its first otherwise)."""
    check_sweepable(sweep.base.family)
    import jax

    if sweep.until_collapse:
        return "collapse"
    from collapsim.runs.registry import entry

    if entry(sweep.base.family).sweep_metric:
        return f"final:{entry(sweep.base.family).sweep_metric}"
    spec, _, loop = _resolve(sweep.point_spec(sweep.assignments()[0]), False)
    key = jax.random.key(0)
    names = jax.eval_shape(lambda: loop.family.metrics(key, loop.family.init(key, loop.params), loop.params))
    return f"final:{sorted(names)[0]}"


def check_metric(sweep: SweepSpec, groups: list) -> None:
    """Refuse, before any simulation, a summary naming a metric the family does not record, or an
    until-collapse sweep of a family without a criterion or with a policy that cannot run open-ended."""
    import jax

    kind, metric = parse_summary(sweep.summary)
    if kind == "collapse":
        from collapsim.sweeps.collapse import check_policy, criterion

        criterion(sweep.base.family)
        for group in groups:
            for p in group.points:
                check_policy(p.spec)
        return
    g = groups[0]
    p = g.points[0].loop.params
    key = jax.random.key(0)
    names = jax.eval_shape(lambda: g.family.metrics(key, g.family.init(key, p), p)).keys()
    if metric not in names:
        raise ConfigError(f"--summary {sweep.summary}: family {sweep.base.family!r} records no metric {metric!r}; "
                          f"choose one of {', '.join(sorted(names))}")


def sweep_title(sweep: SweepSpec) -> str:
    """The title of a sweep's figure."""
    return (f"{sweep.base.family} sweep over {' x '.join(f'{a.name} ({len(a.values)})' for a in sweep.axes)}, "
            f"{sweep.base.seeds} chains per point, "
            + ("until collapse" if sweep.until_collapse else f"{sweep.base.generations} generations"))
