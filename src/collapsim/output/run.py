"""One path from a run spec to a run folder: validate, build, simulate (:mod:`collapsim.runs.execute`),
predict, summarise, write (config.json, metrics.csv, figure.png, and approximations.csv when the theory has
approximate or fitted curves).

Every ``collapsim run`` command, ``collapsim run --config`` and ``collapsim.run(...)`` go through
:func:`execute`; the families' differences live in their entries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional

from collapsim.output.runfolder import (check_out, default_out, every_kth, finish_summary, heavy_tail_note,
                                        simulate_with_progress, theory_curves_note, timed, versions, write_run)
from collapsim.runs.execute import device_layout, recorded, resolve, simulate
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


def sparse_note(sparse: dict, every: int) -> dict:
    """What config.json says about metrics recorded only every k-th generation ({} when there are none)."""
    if not sparse:
        return {}
    gens = [int(g) for g in next(iter(sparse.values())).nonzero()[0]]
    return {"sparse_metrics": {
        "metrics": sorted(sparse), "every": every, "generations": gens,
        "meaning": f"recorded at generation 0, {every_kth(every)} and the last; metrics.csv has no row "
                   "for them at the other generations (not computed there)"}}


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
    summary = finish_summary(per_chain, prediction.curves, prediction.approx, sparse, spec.metrics_every, loop.floors,
                             prediction.fitted, prediction.fit_generations)
    title = e.title(spec)
    config = {
        **spec.to_dict(),
        **loop.derived,
        "mix_meaning": "each training point is a fresh real draw with probability alpha_t",
        "theory": prediction.note or EXACT_THEORY,
        **theory_curves_note(summary),
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
