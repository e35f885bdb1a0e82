"""A forecast folder (``collapsim predict gpt2``): the curves a calibration predicts before any loop runs.

Files: ``config.json`` (the spec, the calibration, what the curves are), ``forecast.csv``
(``generation,metric,kind,label,value``: kind ``approximate``, labels ``forecast``, ``band_lo``, ``band_hi``
(the curves at n_eff's one-SE band) and ``calibration_se``) and ``figure.png``; written under the out-folder
rule of every writing command (:mod:`collapsim.files.outdir`), kind ``forecast``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
from pathlib import Path

import numpy as np

from collapsim.files import outdir
from collapsim.output.runfolder import _json_default

KIND = "forecast"
COLUMNS = ("generation", "metric", "kind", "label", "value")
PARTS = (("forecast", "forecast"), ("lo", "band_lo"), ("hi", "band_hi"), ("se", "calibration_se"))


def default_out(family: str) -> Path:
    """``runs/predict-<family>-<UTC timestamp>`` under the working directory (made unique when written)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"predict-{family}-{stamp}"


def check_out(out) -> Path:
    return outdir.check_out(out, kind=KIND)


def rows(fc: dict) -> list[tuple]:
    """forecast.csv's rows from a forecast dict (part -> metric -> (T + 1,))."""
    out = []
    for name in fc["forecast"]:
        for part, label in PARTS:
            out.extend((g, name, "approximate", label, float(v)) for g, v in enumerate(np.asarray(fc[part][name])))
    return out


def table(fc: dict, max_rows: int = 8) -> str:
    """The printed forecast: a few generations, each metric's forecast with its band."""
    names = list(fc["forecast"])
    T1 = len(next(iter(fc["forecast"].values())))
    gens = sorted(set(np.linspace(0, T1 - 1, min(max_rows, T1)).round().astype(int).tolist()))
    lines = ["gen " + "".join(f"{k:>28}" for k in names)]
    for g in gens:
        cells = [f"{fc['forecast'][k][g]:.4g} [{fc['lo'][k][g]:.4g}, {fc['hi'][k][g]:.4g}]".rjust(28) for k in names]
        lines.append(f"{g:<4}" + "".join(cells))
    return "\n".join(lines)


def draw(fc: dict, path, title: str) -> None:
    from collapsim.output.plots import Figure

    names = list(fc["forecast"])
    fig = Figure(figsize=(4.4 * len(names), 3.4))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, k in zip(axes, names):
        g = np.arange(len(fc["forecast"][k]))
        ax.fill_between(g, fc["lo"][k], fc["hi"][k], color="tab:orange", alpha=0.3, lw=0, label="n_eff +- 1 SE")
        ax.plot(g, fc["forecast"][k], ":", color="tab:orange", lw=1.8, label="forecast (approximate)")
        ax.set_title(k, fontsize=9)
        ax.set_xlabel("generation")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(out, config: dict, fc: dict, title: str) -> Path:
    """Write the forecast folder (``out`` None: a fresh default name); returns where it went."""
    out = outdir.unique_default(default_out(config.get("family", "gpt2"))) if out is None else check_out(out)
    with outdir.staged(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=_json_default) + "\n")
        with open(tmp / "forecast.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for r in rows(fc):
                w.writerow([r[0], r[1], r[2], r[3], repr(r[4])])
        draw(fc, tmp / "figure.png", title)
        return outdir.publish(tmp, out, kind=KIND)
