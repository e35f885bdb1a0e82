"""A finished sweep as tables: per-point summaries with their theory, metrics.csv (and Parquet), the printed
summary. NumPy only; the sweep's runner (:mod:`collapsim.sweeps`) hands over the chunks' arrays."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import numpy as np

from collapsim.sweeps.spec import SUMMARY_STATS, Point, SweepSpec, parse_summary


def point_theory(point: Point) -> tuple[dict, str]:
    """Exact expected curves of one grid point (metric -> (T + 1,)) and the note when there are none."""
    exact, _, note = point_predictions(point)
    return exact, note


def point_predictions(point: Point) -> tuple[dict, dict, str]:
    """(exact curves: metric -> (T + 1,), approximations: metric -> (label, (T + 1,)) -- the first of each
    metric's labelled approximations --, note) of one grid point."""
    from collapsim.runs.registry import entry

    pred = entry(point.spec.family).predict(point.spec, point.loop)
    exact = {k: np.asarray(v, np.float64) for k, v in pred.curves.items() if v is not None}
    approx = {k: (label, np.asarray(curve, np.float64)) for k, by in pred.approx.items()
              for label, curve in list(by.items())[:1]}
    return exact, approx, pred.note


def summary_value(kind: str, curve: np.ndarray) -> float:
    """The summary of a mean curve (T + 1,): its last value ("final"), or the first generation at which it
    is at most half its generation-0 value ("halving"; nan when it never is)."""
    if kind == "final":
        return float(curve[-1])
    below = np.flatnonzero(curve <= curve[0] / 2)
    return float(below[0]) if below.size else float("nan")


def collect(sweep: SweepSpec, run: dict) -> list[dict]:
    """Per grid point, in grid order: {"point": Point, and the chunk's arrays for it}."""
    by_index, points = {}, {p.index: p for g in run["groups"] for p in g.points}
    for chunk, arrays in zip(run["chunks"], run["results"]):
        for j, i in enumerate(arrays["point"]):
            row = {"point": points[int(i)]}
            if "collapse" in arrays:
                row["collapse"], row["cap"] = arrays["collapse"][j], int(arrays["cap"])
            else:
                row["metrics"] = [str(m) for m in arrays["metrics"]]
                for stat in SUMMARY_STATS:
                    row[stat] = arrays[stat][j]
            by_index[int(i)] = row
    return [by_index[i] for i in sorted(by_index)]


def metric_table(sweep: SweepSpec, rows: list[dict]) -> tuple[list[str], list[list]]:
    """metrics.csv of a fixed-length sweep: axes..., generation, metric, mean, stderr, lo, hi, theory."""
    header = sweep.names + ["generation", "metric", "mean", "stderr", "lo", "hi", "theory"]
    table = []
    for row in rows:
        values = [row["point"].assignment[n] for n in sweep.names]
        theory = row["theory"]
        for g in range(row["mean"].shape[1]):
            for k, m in enumerate(row["metrics"]):
                th = theory.get(m)
                table.append(values + [g, m] + [row[s][k, g] for s in SUMMARY_STATS] + ["" if th is None else th[g]])
    return header, table


def collapse_table(sweep: SweepSpec, rows: list[dict]) -> tuple[list[str], list[list]]:
    """metrics.csv of an until-collapse sweep, one row per grid point: the collapse generation's mean and
    stderr over chains (a censored chain counts as the cap, so with censored > 0 the mean is a lower bound),
    2.5% / 97.5% quantiles, the censored count, the exact mean (empty where not computed) and the diffusion
    approximation."""
    header = sweep.names + ["metric", "mean", "stderr", "lo", "hi", "censored", "cap", "theory", "diffusion_approx"]
    table = []
    for row in rows:
        tau = row["tau"]
        lo, hi = np.quantile(tau, [0.025, 0.975])
        table.append([row["point"].assignment[n] for n in sweep.names]
                     + ["collapse_generation", tau.mean(), tau.std(ddof=1) / math.sqrt(tau.size), lo, hi,
                        int(row["censored"]), row["cap"], "" if row["exact"] is None else row["exact"],
                        "" if row["approx"] is None else row["approx"]])
    return header, table


def finish(sweep: SweepSpec, run: dict, tick=None) -> tuple[list[dict], list[str], list[list], dict]:
    """Rows with theory attached, the metrics.csv header and body, and notes for config.json; ``tick`` is
    called after each point's theory (a progress bar: the exact theory of a large grid takes minutes)."""
    rows = collect(sweep, run)
    notes = {}
    if sweep.until_collapse:
        for row in rows:
            tau = row["collapse"].astype(np.float64)
            row["censored"] = int(np.sum(tau < 0))
            row["tau"] = np.where(tau < 0, row["cap"], tau)
            row["exact"], row["approx"], note = _collapse_theory(row["point"])
            if note:
                notes[note] = True
            if tick is not None:
                tick()
        header, table = collapse_table(sweep, rows)
    else:
        for row in rows:
            row["theory"], row["approx_theory"], note = point_predictions(row["point"])
            if note:
                notes[note] = True
            if tick is not None:
                tick()
        header, table = metric_table(sweep, rows)
    return rows, header, table, {"theory_notes": sorted(notes)}


def _cell(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def write_csv(path: Path, header: list, table: list) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in table:
            w.writerow([_cell(v) for v in row])


def write_parquet(path: Path, header: list, table: list) -> bool:
    """metrics.parquet beside metrics.csv when pyarrow is installed (it is optional); returns whether written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    columns = {h: [None if isinstance(v, str) and v == "" else v for v in (row[i] for row in table)]
               for i, h in enumerate(header)}
    pq.write_table(pa.table({h: pa.array(col, type=_arrow_type(pa, col)) for h, col in columns.items()}), path)
    return True


def _arrow_type(pa, column: list):
    """The Arrow type of a metrics.csv column, the type a CSV reader infers from its cells: string, bool, int64,
    else float64. A column whose cells are all empty (None here) is float64 too: the empty cells are the
    numeric columns' "no value" (no exact theory, no diffusion approximation); left to inference, Arrow would
    type it null, and the Parquet table's column would not be the CSV's."""
    present = [v for v in column if v is not None]
    if present and all(isinstance(v, str) for v in present):
        return pa.string()
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return pa.int64()
    return pa.float64()


def summary_lines(sweep: SweepSpec, rows: list[dict]) -> list[str]:
    """The printed table: one line per grid point with the summary, its standard error and theory."""
    kind, metric = parse_summary(sweep.summary)
    head = "".join(f"{n:>12}" for n in sweep.names)
    if sweep.until_collapse:
        lines = [head + f"{'mean tau':>12}{'stderr':>9}{'censored':>9}{'exact':>11}{'z':>7}{'diffusion':>11}{'vs exact':>9}{'vs MC':>8}"]
        for row in rows:
            tau = row["tau"]
            se = tau.std(ddof=1) / math.sqrt(tau.size)
            ex, ap = row["exact"], row["approx"]
            z = f"{(tau.mean() - ex) / se:+.2f}" if ex is not None and se > 0 else ""
            rel = f"{(ap - ex) / ex:+.1%}" if ex and ap is not None else ""
            rel_mc = f"{(ap - tau.mean()) / tau.mean():+.1%}" if ap is not None and tau.mean() > 0 else ""
            lines.append("".join(f"{row['point'].assignment[n]!s:>12}" for n in sweep.names)
                         + f"{tau.mean():>12.5g}{se:>9.3g}{row['censored']:>9}"
                         + f"{'' if ex is None else f'{ex:.5g}':>11}{z:>7}{'' if ap is None else f'{ap:.5g}':>11}{rel:>9}"
                         + f"{rel_mc:>8}")
        return lines
    lines = [head + f"{sweep.summary:>18}{'stderr':>10}{'theory':>12}"]
    for row in rows:
        k = row["metrics"].index(metric)
        value = summary_value(kind, row["mean"][k])
        se = row["stderr"][k][-1] if kind == "final" else float("nan")
        th = row["theory"].get(metric)
        never = f">{row['mean'].shape[1] - 1}"  # halving: not within the run's generations
        th_value = None if th is None else summary_value(kind, th)
        # nan: a halving time beyond the run, or (final) no exact value at the last generation
        th_text = "" if th is None else ((never if kind == "halving" else "") if np.isnan(th_value) else f"{th_value:.5g}")
        lines.append("".join(f"{row['point'].assignment[n]!s:>12}" for n in sweep.names)
                     + f"{never if np.isnan(value) else f'{value:.5g}':>18}{'' if kind != 'final' else f'{se:.3g}':>10}{th_text:>12}")
    return lines


def _collapse_theory(point: Point) -> tuple[Optional[float], Optional[float], str]:
    """(exact mean collapse generation or None, an approximation or None, why none) for one point, from its
    family's entry."""
    from collapsim.runs.registry import entry

    e = entry(point.spec.family)
    if e.collapse_theory is None:
        return None, None, f"no collapse-time theory for family {point.spec.family!r}"
    return e.collapse_theory(point.spec, point.loop)
