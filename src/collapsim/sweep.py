"""Sweeps: a grid over a family's parameters x seeds, in resumable chunks, as one tidy table and a phase diagram.

A sweep is a base :class:`~collapsim.runspec.RunSpec` and a list of axes (``alpha=0:1:21``,
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
chunks go through the engine's per-device dispatch. Across processes (``jax.distributed.initialize`` was called), process r
computes chunks r, r + P, r + 2P, ...; each publishes its chunk files through the distributed runtime's
key-value store, and process 0 collects them and writes the output folder, so no shared filesystem is
needed.

Tables live in :mod:`collapsim.sweep_table`, figures in :mod:`collapsim.sweep_plots`, the until-collapse
runner in :mod:`collapsim.collapse`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from collapsim.errors import ConfigError
from collapsim.runspec import RunSpec

#: Axes the engine itself understands (the rest are the family's options).
ENGINE_AXES = {"alpha": float, "samples": int, "policy": str}
#: Spec fields that a sweep fixes for all points.
NOT_SWEEPABLE = ("generations", "seeds", "seed", "method", "driver", "metrics_every")
#: A chunk holds at most this share of a group's points, so even a sweep that fits in memory at once has
#: a few chunks to resume from and a progress bar that moves.
MIN_CHUNKS_PER_GROUP = 4
#: Share of the available memory a chunk's buffers may take (the rest: compiled code, the host copy).
MEMORY_SHARE = 0.25
SUMMARY_STATS = ("mean", "stderr", "lo", "hi")
PARTIAL_SUFFIX = ".sweep-partial"
#: The most grid points a sweep takes (beyond it, planning alone takes hours).
MAX_POINTS = 10**6
#: Bytes a grid point's resolved plan keeps for the whole sweep (its assignment, RunSpec, Loop and parameter
#: arrays): measured ~18 KB per categorical point; a lower bound, as in :mod:`collapsim.memory`.
PLAN_POINT_BYTES = 4096
#: Bytes one metrics.csv row costs while the table is built and written (the row's Python objects, then the
#: CSV and Parquet columns): measured ~640 bytes for a one-axis categorical sweep; a lower bound.
TABLE_ROW_BYTES = 400


class Axis(NamedTuple):
    name: str
    values: tuple


def _axis_kind(name: str, entry) -> tuple[type, tuple]:
    if name in ENGINE_AXES:
        from collapsim.policies import POLICIES

        return ENGINE_AXES[name], (POLICIES if name == "policy" else ())
    for o in entry.options:
        if o.name == name:
            return o.type, tuple(o.choices)
    if name in NOT_SWEEPABLE:
        raise ConfigError(f"--grid {name}: {name} is fixed for the whole sweep; give it as --{name}")
    known = sorted(set(ENGINE_AXES) | {o.name for o in entry.options})
    raise ConfigError(f"--grid {name}: family {entry.name!r} has no parameter {name!r}; choose from {', '.join(known)}")


def config_axis_value(name: str, value, family: str):
    """One value of a sweep config's axis, checked by the rule of the option it sets (alpha: a number in
    [0, 1]); the message names it ``--grid NAME``."""
    from collapsim.registry import entry
    from collapsim.runspec import ALPHA_RULE, ENGINE_RULES
    from collapsim.schema import check

    e = entry(family)
    _axis_kind(name, e)  # an axis the family does not have, or one fixed for the whole sweep
    rules = {"alpha": ALPHA_RULE, **ENGINE_RULES, **{o.name: o.rule() for o in e.options}}
    return check(f"--grid {name}", value, rules[name])


def _cast(kind: type, text: str, name: str):
    try:
        if kind is int:
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        return kind(text.strip())
    except (ValueError, OverflowError):  # OverflowError: int(1e400)
        raise ConfigError(f"--grid {name}: cannot read {text.strip()!r} as {kind.__name__}") from None


def parse_axis(text: str, entry) -> Axis:
    """``NAME=a:b:n`` (n evenly spaced values from a to b) or ``NAME=v1,v2,...``; typed by the option."""
    name, sep, body = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not body.strip():
        raise ConfigError(f"--grid {text!r}: expected NAME=START:STOP:COUNT or NAME=V1,V2,...")
    kind, choices = _axis_kind(name, entry)
    if ":" in body and kind in (int, float):
        parts = body.split(":")
        if len(parts) != 3:
            raise ConfigError(f"--grid {text!r}: a range is START:STOP:COUNT")
        lo, hi = _cast(float, parts[0], name), _cast(float, parts[1], name)
        count = _cast(int, parts[2], name)
        if count < 1:
            raise ConfigError(f"--grid {text!r}: COUNT must be at least 1")
        if count > MAX_POINTS:  # before linspace allocates COUNT floats (1e11 of them: 745 GiB)
            raise ConfigError(f"--grid {text!r}: {count:,} values; a sweep takes at most {MAX_POINTS:,} points")
        raw = np.round(np.linspace(lo, hi, count), 12)  # 0.1, not 0.09999999999999999
        if not np.isfinite(raw).all():  # rounding to 12 decimals overflows beyond ~1e296
            raise ConfigError(f"--grid {text!r}: values too large")
        # Python floats and ints straight from the array (a million-value axis in a blink, not seconds).
        values = tuple(int(v) for v in np.round(raw).tolist()) if kind is int else tuple(raw.tolist())
    else:
        values = tuple(_cast(kind, v, name) for v in body.split(","))
    if choices:
        bad = [v for v in values if v not in choices]
        if bad:
            raise ConfigError(f"--grid {name}: {bad[0]!r} is not one of {', '.join(choices)}")
    repeat = first_repeat(values)
    if repeat is not None:
        raise ConfigError(f"--grid {name}: the value {repeat!r} appears twice (two grid points would share a row key)")
    return Axis(name, values)


def first_repeat(values) -> Any:
    """The first value of an axis that equals an earlier one (0.1 and 0.10, 1 and 1.0 are the same), or None."""
    seen = set()
    for v in values:
        try:
            if v in seen:
                return v
            seen.add(v)
        except TypeError:  # unhashable (a list in a hand-edited config): its type is refused elsewhere
            continue
    return None


SUMMARY_KINDS = ("final", "halving", "collapse")


def parse_summary(text: str) -> tuple[str, str]:
    """``final:METRIC`` (mean at the last generation), ``halving:METRIC`` (first generation at which the mean
    is at most half its generation-0 value), or ``collapse`` (mean collapse generation, with until-collapse)."""
    kind, _, metric = text.partition(":")
    if kind not in SUMMARY_KINDS or (kind != "collapse" and not metric):
        raise ConfigError(f"--summary {text!r}: use final:METRIC, halving:METRIC or collapse")
    return kind, metric


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A whole sweep: the base run spec (fixed settings), the axes, the summary drawn, the mode.

    ``until_collapse``: run each chain until it collapses or ``cap`` generations (then ``base.generations``
    is unused); see :mod:`collapsim.collapse`.
    """

    base: RunSpec
    axes: tuple
    summary: str = "final:entropy"
    until_collapse: bool = False
    cap: int = 0

    def to_dict(self) -> dict:
        return {"sweep": {"axes": [[a.name, list(a.values)] for a in self.axes], "summary": self.summary,
                          "until_collapse": self.until_collapse, "cap": self.cap},
                **self.base.to_dict()}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, config: dict) -> "SweepSpec":
        """The sweep in a sweep folder's ``config.json``: the base run, the axes and the sweep settings, each
        value checked by the rule of its option (``collapsim.schema``, as the command line is), so a
        hand-edited file is refused in one line before any work."""
        from collapsim.schema import Rule, check

        if not isinstance(config, dict) or not isinstance(config.get("sweep"), dict):
            raise ConfigError("config has no 'sweep' section: not a collapsim sweep config")
        s = config["sweep"]
        base = RunSpec.from_config(config)
        pairs = s.get("axes")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                  and isinstance(p[1], list) for p in pairs):
            raise ConfigError("config's sweep axes must be a list of [NAME, [VALUE, ...]] pairs")
        axes = tuple(Axis(name, tuple(config_axis_value(name, v, base.family) for v in values)) for name, values in pairs)
        return cls(base, axes, check("--summary", s.get("summary", "final:entropy"), Rule(str)),
                   check("--until-collapse", s.get("until_collapse", False), Rule(bool)),
                   check("--cap", s.get("cap", 0), Rule(int, low=0)))

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]

    def assignments(self) -> list[dict]:
        """Every grid point as {axis name: value}, the first axis varying slowest."""
        return [dict(zip(self.names, combo)) for combo in itertools.product(*(a.values for a in self.axes))]

    def point_spec(self, assignment: dict) -> RunSpec:
        """The base spec with one grid point's values put in (family options, params, or engine fields)."""
        from collapsim.registry import entry

        e = entry(self.base.family)
        spec = self.base
        fo, pa = dict(spec.family_options), dict(spec.params)
        for name, value in assignment.items():
            if name == "alpha":
                spec = spec.replace(alpha=repr(float(value)))
            elif name in ENGINE_AXES:
                spec = spec.replace(**{name: value})
            else:
                target = next(o.target for o in e.options if o.name == name)
                (fo if target == "family_options" else pa)[name] = value
        from collapsim.policies import ALPHA_POLICIES

        # A policy axis mixes policies that read alpha with ones that ignore it: each gets what it reads.
        if spec.policy not in ALPHA_POLICIES:
            spec = spec.replace(alpha="none")
        elif spec.alpha in ("none", None):
            spec = spec.replace(alpha="0.1")
        return spec.replace(family_options=fo, params=pa)


def check_sweepable(family: str) -> None:
    """Refuse a family whose fit is a host training loop: the grid driver vmaps compiled steps."""
    from collapsim.registry import entry

    if entry(family).driver == "host":
        raise ConfigError(f"{family} trains on the host, one generation at a time, so it cannot be swept by the "
                          f"grid driver; run one `collapsim run {family}` per setting")


def validate(sweep: SweepSpec) -> None:
    """Refuse a sweep with no axes, a repeated axis, a bad summary, or more points than is sensible."""
    from collapsim.registry import entry

    e = entry(sweep.base.family)
    check_sweepable(sweep.base.family)
    if not sweep.axes:
        raise ConfigError("a sweep needs at least one --grid NAME=VALUES")
    if sweep.base.metrics_every != 1:  # its table and summaries (halving times) need every generation's value
        raise ConfigError(f"a sweep records every metric every generation; metrics_every {sweep.base.metrics_every!r} "
                          "is for collapsim run")
    names = sweep.names
    if len(set(names)) != len(names):
        raise ConfigError(f"--grid {next(n for n in names if names.count(n) > 1)} is given twice")
    for a in sweep.axes:
        _axis_kind(a.name, e)
        if not a.values:
            raise ConfigError(f"--grid {a.name} has no values")
        repeat = first_repeat(a.values)
        if repeat is not None:  # a config file's axis lists are not parsed by parse_axis
            raise ConfigError(f"sweep axis {a.name}: the value {repeat!r} appears twice (two grid points would share "
                              "a row key)")
    kind, _ = parse_summary(sweep.summary)
    if (kind == "collapse") != sweep.until_collapse:
        raise ConfigError("--summary collapse goes with --until-collapse (and --until-collapse with --summary collapse)")
    if sweep.cap < 0:
        raise ConfigError(f"--cap must be positive, got {sweep.cap}")
    points = math.prod(len(a.values) for a in sweep.axes)
    if points > MAX_POINTS:
        raise ConfigError(f"the grid has {points:,} points; a sweep takes at most {MAX_POINTS:,}")


# ------------------------------------------------------------------------------------------ planning


class Point(NamedTuple):
    index: int
    assignment: dict
    spec: RunSpec  # resolved (defaults filled in, method resolved)
    loop: Any


class Group(NamedTuple):
    """Points sharing one compiled program: family, loop configuration, parameter shapes."""

    family: Any
    cfg: Any
    points: list  # [Point]
    entry: Any


class Chunk(NamedTuple):
    index: int
    group: int
    points: tuple  # indices into group.points, padded to the group's chunk size with repeats
    real: int  # how many of them are real (the rest are padding)


def _resolve(spec: RunSpec, until_collapse: bool):
    from collapsim.execute import resolve

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
        cfg = LoopConfig(spec.policy, spec.samples, spec.generations, loop.shortcut)
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
    :func:`collapsim.registry.check_memory`."""
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


# ------------------------------------------------------------------------------------------ running


def _stack(points: list) -> tuple[Any, np.ndarray]:
    import jax
    import jax.numpy as jnp

    params = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *[p.loop.params for p in points])
    alphas = np.stack([p.spec.alpha_schedule() for p in points]).astype(np.float32)
    return params, alphas


def run_chunk(sweep: SweepSpec, group: Group, chunk: Chunk, available: int, progress=None) -> dict:
    """Simulate one chunk; returns the arrays its file holds (summaries per real point). ``progress`` is
    called with the fraction of the chunk done."""
    import jax

    from collapsim.engine import check_finite, run_grid
    from collapsim.summary import summarize

    points = [group.points[i] for i in chunk.points]
    if sweep.until_collapse:
        from collapsim.collapse import run_until_collapse

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


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}{PARTIAL_SUFFIX}"


def _chunk_path(folder: Path, i: int) -> Path:
    return folder / f"chunk-{i:05d}.npz"


def write_chunk_file(folder: Path, i: int, arrays: dict, fingerprint: str) -> Path:
    """Write a chunk atomically: a temporary file in the same folder, then ``os.replace``."""
    path = _chunk_path(folder, i)
    tmp = folder / f".{path.stem}.tmp-{os.getpid()}.npz"
    try:
        np.savez(tmp, fingerprint=np.str_(fingerprint), **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _load_npz(path: Path) -> dict:
    """Every array of an .npz file (raises whatever a damaged file makes numpy or zipfile raise)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_chunk_file(folder: Path, i: int, fingerprint: str) -> Optional[dict]:
    """A finished chunk's arrays, or None when it is absent, damaged or not this sweep's (recomputed)."""
    path = _chunk_path(folder, i)
    if not path.exists():
        return None
    try:
        arrays = _load_npz(path)
    except Exception:  # a cut or damaged zip: BadZipFile, EOFError, zlib.error, ValueError... by where it is cut
        return None
    if str(arrays.get("fingerprint")) != fingerprint:
        return None
    return {k: v for k, v in arrays.items() if k != "fingerprint"}


def chunk_problem(arrays: dict, sweep: SweepSpec, group: Group, chunk: Chunk, fingerprint: str) -> str:
    """Why a chunk file's arrays are not ``chunk``'s results ('' when they are): another sweep's fingerprint,
    other grid points, a missing array or one of the wrong shape (a file damaged or edited on disk)."""
    if str(arrays.get("fingerprint")) != fingerprint:
        return "another sweep's chunk"
    want = [group.points[i].index for i in chunk.points[:chunk.real]]
    if "point" not in arrays or np.shape(arrays["point"]) != (chunk.real,) or arrays["point"].tolist() != want:
        return "not this chunk's grid points"
    if sweep.until_collapse:
        shapes = {"collapse": (chunk.real, sweep.base.seeds), "cap": ()}
    else:
        metrics = np.shape(arrays.get("metrics", np.zeros((0, 0))))
        if len(metrics) != 1 or not metrics[0]:
            return "without its metric names"
        shapes = {stat: (chunk.real, metrics[0], group.cfg.generations + 1) for stat in SUMMARY_STATS}
    for name, shape in shapes.items():
        if name not in arrays:
            return f"missing its {name!r} array"
        if np.shape(arrays[name]) != shape:
            return f"holding {name!r} of shape {np.shape(arrays[name])}, not {shape}"
    return ""


def load_chunk(folder: Path, sweep: SweepSpec, group: Group, chunk: Chunk, fingerprint: str) -> Optional[dict]:
    """A finished chunk's arrays, or None when its file is absent. A file that cannot be read (cut short by a
    full disk, damaged) or does not hold this chunk's results is deleted with a note on stderr, so the chunk
    is computed again instead of failing every re-run until the partial folder is removed by hand."""
    path = _chunk_path(folder, chunk.index)
    if not path.exists():
        return None
    try:
        arrays = _load_npz(path)
        why = chunk_problem(arrays, sweep, group, chunk, fingerprint)
    except Exception as err:  # a cut or damaged zip: BadZipFile, EOFError, zlib.error, ValueError... by where it is cut
        why = f"unreadable ({err.__class__.__name__})"
    if not why:
        return {k: v for k, v in arrays.items() if k != "fingerprint"}
    sys.stderr.write(f"note: {path} is {why}; computing chunk {chunk.index} again\n")
    sys.stderr.flush()
    path.unlink(missing_ok=True)
    return None


def _remove_dead_temporaries(folder: Path) -> None:
    """Delete ``.chunk-N.tmp-PID.npz`` files whose writer is gone (a SIGKILL while a chunk was written)."""
    from collapsim.outdir import _alive

    for p in folder.glob(".chunk-*.tmp-*.npz"):
        pid = p.name.rsplit(".tmp-", 1)[1].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            p.unlink(missing_ok=True)


def open_partial(out: Path, sweep: SweepSpec) -> Path:
    """The partial folder for ``out``, created with this sweep's identity, or refused if it is another's."""
    folder = partial_dir(out)
    ident = folder / "sweep.json"
    text = json.dumps(sweep.to_dict(), sort_keys=True)
    if folder.exists():
        try:
            old = ident.read_text()
        except OSError:
            old = None
        if old != text:
            raise ConfigError(f"{folder} holds an unfinished sweep with another configuration; re-run that sweep "
                              "to finish it, or remove the folder to start this one")
        _remove_dead_temporaries(folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f"{folder.name}.new-{os.getpid()}"
    tmp.mkdir()
    (tmp / "sweep.json").write_text(text)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process created it first: use theirs if it is the same sweep
        (tmp / "sweep.json").unlink()
        tmp.rmdir()
        return open_partial(out, sweep)
    return folder


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


def _process() -> tuple[int, int]:
    """(this process's index, process count): (0, 1) unless ``jax.distributed.initialize`` was called."""
    import jax

    return jax.process_index(), jax.process_count()


def _distributed_client():
    from jax._src import distributed  # the coordination service's key-value store (no public handle yet)

    return distributed.global_state.client


#: How long process 0 waits for another process's chunk before giving up (seconds).
GATHER_TIMEOUT_S = 24 * 3600


def _exchange(folder: Path, chunks: list, mine: list, fingerprint: str, rank: int) -> None:
    """Multi-process: publish this process's chunk files in the key-value store; process 0 fetches the rest."""
    client = _distributed_client()
    for c in mine:
        client.key_value_set_bytes(f"collapsim-sweep/{fingerprint}/{c.index}", _chunk_path(folder, c.index).read_bytes())
    if rank != 0:
        return
    for c in chunks:
        if read_chunk_file(folder, c.index, fingerprint) is None:
            blob = client.blocking_key_value_get_bytes(f"collapsim-sweep/{fingerprint}/{c.index}", GATHER_TIMEOUT_S * 1000)
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files if k != "fingerprint"}
            write_chunk_file(folder, c.index, arrays, fingerprint)


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
    t0 = time.perf_counter()
    for c in todo:
        arrays = run_chunk(sweep, groups[c.group], c, available, bar.partial)
        write_chunk_file(folder, c.index, arrays, fingerprint)
        bar.update()
        if after_chunk is not None:
            after_chunk(c.index)
    elapsed = time.perf_counter() - t0
    if size > 1:
        _exchange(folder, chunks, mine, fingerprint, rank)
        if rank != 0:
            return None
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


#: The summary drawn when --summary is not given.
DEFAULT_METRIC = {"categorical": "entropy", "gaussian": "sigma2", "regression": "test_error", "kde": "variance",
                  "gmm": "active"}


def default_summary(sweep: SweepSpec) -> str:
    """``collapse`` in until-collapse mode, else ``final:`` the family's usual metric (its first otherwise)."""
    check_sweepable(sweep.base.family)
    import jax

    if sweep.until_collapse:
        return "collapse"
    if sweep.base.family in DEFAULT_METRIC:
        return f"final:{DEFAULT_METRIC[sweep.base.family]}"
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
        from collapsim.collapse import check_policy, criterion

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


def execute_sweep(sweep: SweepSpec, out=None, progress: bool = True, after_chunk=None) -> SweepResult:
    """Run (or resume) ``sweep`` and write its folder (``out``, default :func:`default_out`): metrics.csv,
    summary lines, config.json (re-runs it with ``collapsim sweep --config``), figure.png."""
    from collapsim import outdir
    from collapsim.execute import device_layout
    from collapsim.runfolder import _json_default, versions
    from collapsim.sweep_plots import plot_collapse, plot_sweep
    from collapsim.sweep_table import finish, summary_lines, write_csv, write_parquet

    if not sweep.summary:
        sweep = dataclasses.replace(sweep, summary=default_summary(sweep))
    validate(sweep)
    check_sweep_memory(sweep)
    requested = outdir.check_out(out, kind="sweep") if out else None
    place = requested or outdir.check_out(default_out(sweep), kind="sweep")
    points = math.prod(len(a.values) for a in sweep.axes)
    groups = plan(sweep, Progress(points, 0, progress, "points", "planning", delay=2.0).update)
    check_metric(sweep, groups)
    run = run_sweep(sweep, place, progress, after_chunk, groups)
    if run is None:
        return SweepResult(None, [], 0.0, 0, 0, requested)
    rows, header, table, notes = finish(sweep, run, Progress(points, 0, progress, "points", "theory", delay=2.0).update)
    lines = summary_lines(sweep, rows)
    title = sweep_title(sweep)
    config = {**sweep.to_dict(), **notes, "points": len(rows), "groups": len(run["groups"]),
              "chunks": len(run["chunks"]), "elapsed_s": round(run["elapsed"], 3),
              "device_layout": device_layout(), "versions": versions()}
    with outdir.staged(place) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=_json_default) + "\n")
        write_csv(tmp / "metrics.csv", header, table)
        write_parquet(tmp / "metrics.parquet", header, table)
        (tmp / "summary.txt").write_text("\n".join(lines) + "\n")
        if sweep.until_collapse:
            np.savez(tmp / "collapse_generations.npz", **{f"point{r['point'].index}": r["collapse"] for r in rows})
            plot_collapse(sweep, rows, tmp / "figure.png", title)
        else:
            plot_sweep(sweep, rows, tmp / "figure.png", title)
        path = outdir.publish(tmp, place, kind="sweep")
    import shutil

    shutil.rmtree(run["folder"], ignore_errors=True)
    return SweepResult(path, lines, run["elapsed"], run["computed"], run["skipped"], requested)
