"""One path from a run spec to a run folder: validate, build, simulate, predict, summarise, write.

Every ``collapsim run`` command and ``collapsim run --config`` go through :func:`execute`; the families'
differences live in their :mod:`collapsim.runs.registry` entries.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import NamedTuple, Optional

from collapsim.errors import ConfigError
from collapsim.runs.registry import check_float_ranges, check_memory, entry, with_defaults
from collapsim.output.runfolder import (check_out, default_out, every_kth, finish_summary, heavy_tail_note,
                                 simulate_with_progress, timed, versions, write_run)
from collapsim.runs.spec import RunSpec


#: config.json's "theory" when the prediction is exact (otherwise the prediction's note, why it is not).
EXACT_THEORY = "exact (the theory column of metrics.csv)"


class Result(NamedTuple):
    path: Path
    spec: RunSpec  # as run: defaults filled in, method resolved
    summary: dict
    note: str  # why no exact theory is drawn ('' when it is)
    elapsed: float  # seconds of simulation
    requested: Optional[Path] = None  # the --out asked for (None: a default name)


def resolve(spec: RunSpec):
    """(the spec with defaults filled in and the method resolved, its registry entry, its Loop)."""
    spec = with_defaults(spec)
    spec.validate()
    e = entry(spec.family)
    if spec.precision != "float32" and e.driver == "host":
        raise ConfigError(f"--precision {spec.precision} applies to the scan families; {spec.family} trains in "
                          "float32 (a host training loop)")
    # The families store their parameters in float32 at either precision (float64 widens the state the loop
    # computes, not the truth it starts from): 1e39 would be inf after the run.
    check_float_ranges(spec, "float32")
    if e.check is not None:
        e.check(spec)
    check_memory(spec)
    spec.alpha_schedule()  # a bad schedule is refused before any work
    loop = e.build(spec)
    return spec.replace(method="shortcut" if loop.shortcut else "explicit"), e, loop


def loop_config(spec: RunSpec, loop):
    """The engine's static loop settings for a resolved spec and its Loop."""
    from collapsim.engine import LoopConfig

    return LoopConfig(spec.policy, spec.samples, spec.generations, loop.shortcut, spec.metrics_every)


def recorded(spec: RunSpec, loop) -> dict:
    """metric -> bool (T + 1,) of the generations that hold a value, for the metrics recorded only every
    ``spec.metrics_every``-th generation (empty when every metric is recorded every generation)."""
    from collapsim.engine import sparse_metrics

    return sparse_metrics(loop.family, loop_config(spec, loop))


def simulate(spec: RunSpec, loop, progress=None, checkpoint: Optional[str] = None) -> dict:
    """Per-chain metrics, metric -> (seeds, T + 1), by the spec's driver; a metric recorded only every k-th
    generation (:func:`recorded`) is NaN at the others."""
    import jax

    from collapsim.engine import check_finite, run_host, run_loop
    from collapsim.files.checkpoint import NpzCheckpoint

    cfg = loop_config(spec, loop)
    alpha = spec.alpha_schedule()
    # x64 scoped to this run (a later float32 run in the process is unchanged); a float32 run enters no
    # context at all, so it runs exactly as before the option existed.
    with jax.enable_x64(True) if spec.precision == "float64" else contextlib.nullcontext():
        params = with_precision(loop.params, spec.precision)
        if spec.driver == "host":
            writer = NpzCheckpoint(checkpoint, spec.to_json()) if checkpoint else None
            out = run_host(loop.family, cfg, params, alpha, spec.seeds, spec.seed, checkpoint=writer, progress=progress)
        else:
            out = run_loop(loop.family, cfg, params, alpha, spec.seeds, spec.seed, progress=progress)
    check_finite(out, recorded(spec, loop))
    return out


def with_precision(params, precision: str):
    """The family's parameter pytree with its floating leaves in ``precision`` (integer leaves unchanged).

    The families build their parameters in float32; under float64 every array the loop makes from them
    (draws, fits, metrics) follows their dtype by JAX's promotion rules."""
    import jax
    import numpy as np

    if precision == "float32":
        return params
    return jax.tree.map(lambda a: np.asarray(a, np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else a,
                        params)


def sparse_note(sparse: dict, every: int) -> dict:
    """What config.json says about metrics recorded only every k-th generation ({} when there are none)."""
    if not sparse:
        return {}
    gens = [int(g) for g in next(iter(sparse.values())).nonzero()[0]]
    return {"sparse_metrics": {
        "metrics": sorted(sparse), "every": every, "generations": gens,
        "meaning": f"recorded at generation 0, {every_kth(every)} and the last; metrics.csv has no row "
                   "for them at the other generations (not computed there)"}}


def device_layout() -> dict:
    import jax

    devices = jax.local_devices()
    return {"backend": jax.default_backend(), "devices": len(devices), "kind": devices[0].device_kind}


def execute(spec: RunSpec, out=None) -> Result:
    """Run ``spec`` and write its run folder (``out``, default ``runs/FAMILY-TIME``); returns the :class:`Result`.

    ``Result.path`` is where the folder went: ``out``, unless another run took ``out`` meanwhile (then a
    ``NAME-2`` sibling; see :mod:`collapsim.files.outdir`). A host-driver run keeps a checkpoint beside ``out``
    after every generation, so the same command after a kill resumes it.
    """
    from collapsim.output.plots import plot_summary

    spec, e, loop = resolve(spec)
    out = check_out(out) if out else None  # None: a fresh default name, taken when the folder is written
    place = out or default_out(spec.family)
    checkpoint = str(place.parent / f".{place.name}.checkpoint.npz") if spec.driver == "host" else None
    if checkpoint:
        place.parent.mkdir(parents=True, exist_ok=True)
    length = spec.generations if spec.driver == "host" else spec.seeds
    per_chain, elapsed = timed(simulate_with_progress, lambda progress: simulate(spec, loop, progress, checkpoint),
                               length, e.work(spec, loop.shortcut), "simulating")
    fitted = {}
    if e.predict_runs is not None:  # a theory with a parameter fitted on this run's own numbers
        prediction, fitted = e.predict_runs(spec, loop, per_chain)
    else:
        prediction = e.predict(spec, loop)
    sparse = recorded(spec, loop)
    summary = finish_summary(per_chain, prediction.curves, prediction.approx, sparse, spec.metrics_every, loop.floors)
    title = e.title(spec)
    config = {
        **spec.to_dict(),
        **loop.derived,
        "mix_meaning": "each training point is a fresh real draw with probability alpha_t",
        "theory": prediction.note or EXACT_THEORY,
        **fitted,
        **sparse_note(sparse, spec.metrics_every),
        **heavy_tail_note(summary, spec.seeds),
        "elapsed_s": round(elapsed, 3),
        "device_layout": device_layout(),
        "versions": versions(),
    }
    path = write_run(out, config, summary, lambda p: plot_summary(summary, p, title, prediction.note))
    if checkpoint and os.path.exists(checkpoint):
        os.remove(checkpoint)
    return Result(path, spec, summary, prediction.note, elapsed, out)
