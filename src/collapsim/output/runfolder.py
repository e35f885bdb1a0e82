"""From a loop's per-chain metrics to a run folder (the output contract in the README).

A run folder holds ``config.json`` (resolved config, versions, seed), ``metrics.csv`` (tidy:
``generation,metric,mean,stderr,lo,hi,theory``: an empty theory cell means no exact prediction, a non-finite
number is written ``nan``/``inf``; a metric recorded only every k-th generation (``--metrics-every``) has no
row at the generations it skips, and config.json's ``sparse_metrics`` says which) and ``figure.png``; a run
whose theory has approximations or curves fitted on the run itself also gets ``approximations.csv``
(``generation,metric,kind,label,value``, kind ``approximate`` or ``fitted``), and config.json's
``theory_curves`` says per metric which kinds exist and on which generations a fit was made. Where and how it
is written is :mod:`collapsim.files.outdir`'s rule, shared by every command that writes a folder.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import click
import numpy as np

from collapsim.files import outdir
from collapsim.runs.summary import summarize
from collapsim.runs.tails import khat_threshold, mean_unestimable

CSV_COLUMNS = ("generation", "metric", "mean", "stderr", "lo", "hi", "theory")
APPROX_COLUMNS = ("generation", "metric", "kind", "label", "value")
#: Fewer chains than this and lo/hi (the 2.5% and 97.5% quantiles over chains) are a per-seed range, not an
#: estimate of a 95% band: with 4 chains the 2.5% quantile is the smallest value give or take interpolation.
RANGE_BELOW_CHAINS = 8


def default_out(family: str) -> Path:
    """``runs/<family>-<UTC timestamp>`` under the working directory (made unique when written)."""
    return Path("runs") / f"{family}-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def check_out(out) -> Path:
    """Refuse, before any work, a destination that is not new, empty, or a run folder collapsim wrote
    (:func:`collapsim.files.outdir.check_out`, the rule every writing command shares)."""
    return outdir.check_out(out, kind="run")


def versions() -> dict:
    import jax

    from collapsim import __version__

    return {
        "collapsim": __version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": str(jax.devices()[0]),
    }


def every_kth(k: int) -> str:
    """"every 5th generation", "every 2nd generation", ... (k >= 1)."""
    if k == 1:
        return "every generation"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"every {k}{suffix} generation"


def tidy_rows(summary: dict) -> list[tuple]:
    """Rows of metrics.csv from metric -> {"mean","stderr","lo","hi": (T+1,), "theory": (T+1,) or None,
    optional "recorded": bool (T+1,)}; a metric has no row at a generation its "recorded" mask leaves out."""
    rows = []
    T1 = len(next(iter(summary.values()))["mean"])
    for g in range(T1):
        for name, s in summary.items():
            if "recorded" in s and not s["recorded"][g]:
                continue
            th = s.get("theory")
            # NaN in an exact curve marks a generation it does not cover (curation: exact at generations 0-1 only)
            cell = "" if th is None or np.isnan(th[g]) else th[g]
            rows.append((g, name, s["mean"][g], s["stderr"][g], s["lo"][g], s["hi"][g], cell))
    return rows


def approximation_rows(summary: dict) -> list[tuple]:
    """Rows of approximations.csv: every approximate and fitted curve of every metric, per generation."""
    rows = []
    for name, s in summary.items():
        for kind, key in (("approximate", "approx"), ("fitted", "fitted")):
            for label, curve in (s.get(key) or {}).items():
                rows.extend((g, name, kind, label, float(v)) for g, v in enumerate(np.asarray(curve, np.float64)))
    return rows


def theory_curves_note(summary: dict) -> dict:
    """config.json's ``theory_curves``: per metric, whether metrics.csv's theory column holds an exact curve,
    and the labels of its approximate and fitted curves (in approximations.csv), with the fit's generations."""
    per, fit = {}, ()
    for name, s in summary.items():
        th = s.get("theory")
        exact = th is not None and bool(np.isfinite(np.asarray(th, np.float64)).any())
        per[name] = {"exact": exact, "approximate": list(s.get("approx") or {}),
                     "fitted": list(s.get("fitted") or {})}
        fit = fit or tuple(s.get("fit_generations", ()))
    chains = next(iter(summary.values())).get("chains")
    note = {"per_metric": per,
            "meaning": "exact: metrics.csv's theory column (an exact expectation); approximate and fitted curves are "
                       "in approximations.csv, never in the theory column; a fitted curve's parameter was fitted on "
                       "this run's own generations fitted_on_generations (in-sample there, held out after)"}
    if fit:
        note["fitted_on_generations"] = [int(g) for g in fit]
    out = {"theory_curves": note}
    if chains is not None:
        out["lo_hi"] = ("2.5% and 97.5% quantiles over chains" if chains >= RANGE_BELOW_CHAINS else
                        f"a per-seed range over {chains} chains (interpolated 2.5% and 97.5% quantiles), not a 95% "
                        f"band: fewer than {RANGE_BELOW_CHAINS} chains")
    return out


def _fmt(v) -> str:
    """A cell of metrics.csv: an empty cell means "no theory"; a non-finite number is spelled out (nan, inf)."""
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


def write_run(out, config: dict, summary: dict, draw: Callable[[Path], None]) -> Path:
    """Write config.json, metrics.csv and figure.png as one folder; returns the folder that holds them.

    ``out`` None means a fresh default name (:func:`default_out`, made unique). Written into a hidden
    staging folder and moved into place (:func:`collapsim.files.outdir.publish`), so a failure or a kill never
    leaves a half-written run, and an earlier run at ``out`` is replaced only once the new one is complete.
    If another run took ``out`` meanwhile, this one goes to a ``NAME-2`` sibling, which is returned.
    """
    if out is None:
        out = outdir.unique_default(default_out(config.get("family", "run")))
    else:
        out = check_out(out)
    with outdir.staged(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=_json_default) + "\n")
        with open(tmp / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for row in tidy_rows(summary):
                w.writerow([_fmt(v) for v in row])
        approx = approximation_rows(summary)
        if approx:
            with open(tmp / "approximations.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(APPROX_COLUMNS)
                for row in approx:
                    w.writerow([_fmt(v) for v in row])
        draw(tmp / "figure.png")
        return outdir.publish(tmp, out, kind="run")


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def heavy_tail_note(summary: dict, chains: int) -> dict:
    """What config.json says about metrics whose Monte Carlo mean cannot estimate its expectation ({} if none)."""
    flagged = {}
    for name, s in summary.items():
        gens = np.flatnonzero(s.get("unestimable", ()))
        if gens.size:
            flagged[name] = {"generations": gens.tolist(), "max_khat": round(float(np.nanmax(s["khat"][gens])), 3)}
            if np.any(s.get("floored", False)):
                flagged[name]["floored_generations"] = np.flatnonzero(s["floored"]).tolist()
    if not flagged:
        return {}
    return {"heavy_tails": {
        "metrics": flagged, "khat_threshold": round(khat_threshold(chains), 3),
        "meaning": "at these generations the chains' tail is too heavy (Pareto shape k-hat above the threshold, "
                   "Vehtari et al. 2024) for the Monte Carlo mean over this many chains to estimate the "
                   "expectation: the mean and stderr in metrics.csv are the sample's, not an estimate to test "
                   "theory with; compare the log metrics instead. floored_generations: some chain's log metric "
                   "sits at its floor (rounding took the variance or a direction to 0; --precision float64 "
                   "lowers the floor)"}}


def reference_curve(s: dict) -> tuple:
    """(curve, kind) a metric's table row compares with: its exact theory, else its first fitted curve, else
    its first approximation (:func:`other_curve`); (None, "") when it has none."""
    if s.get("theory") is not None:
        return s["theory"], "exact"
    return other_curve(s)


def other_curve(s: dict) -> tuple:
    """(curve, kind) of a metric's first fitted curve, else its first approximation; (None, "") if neither."""
    for key, kind in (("fitted", "fitted"), ("approx", "approx")):
        if s.get(key):
            return np.asarray(next(iter(s[key].values())), np.float64), kind
    return None, ""


def summary_table(summary: dict, max_rows: int = 6) -> str:
    """A short text table: a few generations per metric, mean +- stderr beside the prediction, its kind and
    the z-score.

    The kind column says what the prediction is: ``exact`` (the theory column of metrics.csv), ``approx``
    (an approximation), ``fit-in`` (a curve fitted on this generation: in-sample, its z says little) or
    ``fit-out`` (fitted on other generations: held out). Where the chains' tail is too heavy for the mean to
    estimate its expectation (``"unestimable"``), the z column says ``tail`` and a line under the table says
    why."""
    T1 = len(next(iter(summary.values()))["mean"])
    gens = sorted(set(np.linspace(0, T1 - 1, min(max_rows, T1)).round().astype(int).tolist()))
    lines = [f"{'metric':<14}{'gen':>5}{'mean':>13}{'stderr':>11}{'predicted':>13} {'kind':<8}{'z':>8}"]
    tails = False
    kinds = set()
    for name, s in summary.items():
        mine = gens
        if "recorded" in s:  # the recorded generation nearest each row's (the last is always recorded)
            have = np.flatnonzero(s["recorded"])
            mine = sorted({int(have[np.argmin(np.abs(have - g))]) for g in gens})
        ref, kind = reference_curve(s)
        fit = set(s.get("fit_generations", ()))
        for g in mine:
            th, k = ref, kind
            if kind == "exact" and not np.isfinite(ref[g]):  # nan: no exact value at this generation
                th, k = other_curve(s)
            k = ("fit-in" if g in fit else "fit-out") if k == "fitted" else k
            kinds.add(k)
            z = ""
            if th is not None and "floored" in s and s["floored"][g]:
                z, tails = "floor", True
            elif th is not None and "unestimable" in s and s["unestimable"][g]:
                z, tails = "tail", True
            elif th is not None and s["stderr"][g] > 0:
                z = f"{(s['mean'][g] - th[g]) / s['stderr'][g]:+.2f}"
            th_txt = "" if th is None else f"{th[g]:.5g}"
            lines.append(f"{name:<14}{g:>5}{s['mean'][g]:>13.5g}{s['stderr'][g]:>11.3g}{th_txt:>13} {k:<8}{z:>8}")
    if kinds & {"approx", "fit-in", "fit-out"}:
        lines.append("kind: exact = an exact expectation; approx = an approximation; fit-in / fit-out = a curve whose "
                     "parameter was fitted on this run, at a fitted (in-sample) or held-out generation")
    if tails:
        lines.append("tail / floor: the chains' tail is too heavy, or some chain's log sits at the float floor, for "
                     "their mean to estimate the expectation (no z-score; config.json heavy_tails)")
    return "\n".join(lines)


def simulate_with_progress(run: Callable[..., dict], seeds: int, work: float, label: str) -> dict:
    """Call ``run(progress=...)``, with a progress bar on stderr when the work is large.

    ``work`` is a rough count of random draws; under ~2e8 there is no bar. The engine picks the chunk size
    and reports after each chunk.
    """
    if work < 2e8 or seeds < 8:
        return run(progress=None)
    with click.progressbar(length=seeds, label=label, file=sys.stderr) as bar:
        done = [0]

        def progress(n):
            bar.update(n - done[0])
            done[0] = n

        return run(progress=progress)


def finish_summary(per_chain: dict, theory: dict, approx: Optional[dict] = None, recorded: Optional[dict] = None,
                   every: int = 1, floors: Optional[dict] = None, fitted: Optional[dict] = None,
                   fit_generations: tuple = ()) -> dict:
    """metric -> summary dict with its theory curve (or None), labelled approximations ("approx") and curves
    fitted on the run ("fitted", with "fit_generations"), and "chains", the number of chains.

    Each summary also carries "khat" (T + 1,), the chains' Pareto tail shape, and "unestimable" (T + 1,)
    bool, the generations whose Monte Carlo mean cannot estimate the expectation at this number of chains
    (:mod:`collapsim.runs.tails`); the table and figure show those instead of a z-score. ``floors``: metric -> the
    value a chain reads once rounding took its quantity to 0 (the log metrics' floor); a generation where
    any chain sits there is "floored", its mean no estimate of the exact one either.
    ``recorded``: metric -> bool (T + 1,) for metrics recorded only every ``every``-th generation; their
    summaries carry the mask as "recorded" and ``every``, and are NaN at the generations they skip.
    """
    out = {}
    recorded = recorded or {}
    for name, values in per_chain.items():
        values = np.asarray(values)
        mask = np.asarray(recorded[name], bool) if name in recorded else np.ones(values.shape[1], bool)
        s = {k: np.full(mask.shape, np.nan) for k in ("mean", "stderr", "lo", "hi", "khat")}
        s["unestimable"] = np.zeros(mask.shape, bool)
        for k, v in summarize(values[:, mask]).items():
            s[k][mask] = v
        s["unestimable"][mask], s["khat"][mask] = mean_unestimable(values[:, mask])
        floor = (floors or {}).get(name)
        if floor is not None:
            s["floored"] = np.zeros(mask.shape, bool)
            s["floored"][mask] = (values[:, mask] <= floor + 1e-6 * abs(floor)).any(axis=0)
            s["unestimable"] |= s["floored"]
        if name in recorded:
            s["recorded"], s["every"] = mask, every
        s["theory"] = None if theory.get(name) is None else np.asarray(theory[name], np.float64)
        if approx and name in approx:
            s["approx"] = approx[name]
        if fitted and name in fitted:
            s["fitted"], s["fit_generations"] = fitted[name], tuple(fit_generations)
        s["chains"] = values.shape[0]
        out[name] = s
    return out


def timed(fn: Callable, *args, **kw):
    t0 = time.perf_counter()
    res = fn(*args, **kw)
    return res, time.perf_counter() - t0
