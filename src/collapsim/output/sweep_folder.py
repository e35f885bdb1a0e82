"""A sweep's output folder: metrics.csv (and metrics.parquet), the phase diagram or time-to-collapse
figure, config.json, written whole through the out-dir rule."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from collapsim.sweeps.plan import check_sweep_memory, plan
from collapsim.sweeps.run import Progress, SweepResult, check_metric, default_out, default_summary, run_sweep, sweep_title
from collapsim.sweeps.spec import SweepSpec, validate


def execute_sweep(sweep: SweepSpec, out=None, progress: bool = True, after_chunk=None) -> SweepResult:
    """Run (or resume) ``sweep`` and write its folder (``out``, default :func:`default_out`): metrics.csv,
    summary lines, config.json (re-runs it with ``collapsim sweep --config``), figure.png."""
    from collapsim.files import outdir
    from collapsim.runs.execute import device_layout
    from collapsim.output.runfolder import _json_default, versions
    from collapsim.output.sweep_plots import plot_collapse, plot_sweep
    from collapsim.output.sweep_table import finish, summary_lines, write_csv, write_parquet

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
