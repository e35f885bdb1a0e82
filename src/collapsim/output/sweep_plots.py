"""Figures of a sweep: a phase diagram (heatmap of a summary over two swept axes with the theory's contour of
the same quantity), line plots for a one-dimensional grid, collapse-time distributions. Plotting only."""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
from matplotlib.lines import Line2D

from collapsim.output.plots import Figure  # not pyplot's: see collapsim.output.plots


def _varying(sweep) -> list:
    return [a for a in sweep.axes if len(a.values) > 1]


def _panels(sweep, x, y):
    """Assignments of the axes other than x and y (one panel each, at most 6)."""
    rest = [a for a in sweep.axes if a.name not in (x.name, y.name if y else None)]
    combos = list(itertools.product(*(a.values for a in rest)))[:6]
    return [dict(zip([a.name for a in rest], c)) for c in combos]


def _lookup(rows, fixed: dict):
    return [r for r in rows if all(r["point"].assignment[k] == v for k, v in fixed.items())]


def _heatmap(ax, fig, x, y, value, theory, label: str, theory_label: str, log: bool = False, style: str = "--"):
    """value, theory: (len(y), len(x)) arrays (theory may hold nan). Cells at index positions, ticks = values.
    ``style``: the contour's line style ("--" an exact theory, ":" an approximation)."""
    shown = np.log10(np.maximum(value, 1e-300)) if log else value
    mesh = ax.pcolormesh(np.arange(len(x.values) + 1) - 0.5, np.arange(len(y.values) + 1) - 0.5, shown,
                         cmap="viridis", shading="flat")
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(("log10 " if log else "") + label, fontsize=8)
    for (i, j), v in np.ndenumerate(value):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7, color="w")
    th = np.log10(np.maximum(theory, 1e-300)) if log else theory
    drawn = False
    if np.isfinite(th).sum() >= 4 and min(th.shape) >= 2 and np.nanmax(th) > np.nanmin(th):
        finite = np.isfinite(shown)
        levels = np.linspace(np.nanmin(shown[finite]), np.nanmax(shown[finite]), 7)[1:-1] if finite.any() else 5
        cs = ax.contour(np.arange(len(x.values)), np.arange(len(y.values)), np.ma.masked_invalid(th), levels=levels,
                        colors="k", linestyles=style, linewidths=1.2)
        ax.clabel(cs, fontsize=7, fmt=(lambda v: f"{10 ** v:.3g}") if log else "%.3g")
        drawn = True
    ax.set_xticks(range(len(x.values)), [f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in x.values])
    ax.set_yticks(range(len(y.values)), [f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in y.values])
    if any(isinstance(v, str) for v in x.values):
        ax.tick_params(axis="x", labelrotation=20)
    ax.set_xlabel(x.name)
    ax.set_ylabel(y.name)
    if drawn:
        ax.legend(handles=[Line2D([], [], color="k", ls=style, label=theory_label)], fontsize=7, loc="upper right")
    return drawn


def _grid(rows, x, y, fixed, get):
    out = np.full((len(y.values), len(x.values)), np.nan)
    for r in _lookup(rows, fixed):
        a = r["point"].assignment
        v = get(r)
        out[y.values.index(a[y.name]), x.values.index(a[x.name])] = np.nan if v is None else v
    return out


def plot_sweep(sweep, rows: list, path, title: str) -> None:
    """:func:`sweep_figure` written to the PNG file ``path`` (figure.png)."""
    sweep_figure(sweep, rows, title).savefig(path, dpi=110)


def sweep_figure(sweep, rows: list, title: str) -> Figure:
    """The figure of a fixed-length sweep: phase diagram(s) of the summary over the first two varying axes
    (theory contour dashed), or for a one-dimensional grid the metric's mean curve per grid point beside
    the summary against the axis.

    ``rows``: per grid point {"point": an object whose ``assignment`` is {axis: value}, "metrics": [names],
    "mean", "stderr": (metrics, T + 1), "theory": {metric: (T + 1,)}}."""
    from collapsim.sweeps.spec import parse_summary
    from collapsim.output.sweep_table import summary_value

    kind, metric = parse_summary(sweep.summary)
    varying = _varying(sweep) or list(sweep.axes[:1])

    def mc(r):
        return summary_value(kind, r["mean"][r["metrics"].index(metric)])

    def th(r):
        curve = r["theory"].get(metric)
        return None if curve is None else summary_value(kind, curve)

    def approx(r):  # the labelled approximation, where a point's exact curve has no value at the summary
        label_curve = r.get("approx_theory", {}).get(metric)
        return None if label_curve is None else summary_value(kind, label_curve[1])

    labels = sorted({r["approx_theory"][metric][0] for r in rows if metric in r.get("approx_theory", {})})

    if len(varying) >= 2:
        x, y = varying[0], varying[1]
        panels = _panels(sweep, x, y)
        fig = Figure(figsize=(6.2 * len(panels), 4.6))
        axes = fig.subplots(1, len(panels), squeeze=False)
        for ax, fixed in zip(axes.flat, panels):
            exact = _grid(rows, x, y, fixed, th)
            fallback = _grid(rows, x, y, fixed, approx)
            use = ~np.isfinite(exact) & np.isfinite(fallback)  # cells with no exact value at the summary
            if use.any():  # drawn dotted and named: exact where computed, the approximation elsewhere
                contour, style = np.where(use, fallback, exact), ":"
                what = (f"approx. ({labels[0]})" if not np.isfinite(exact).any()
                        else f"exact where computed, else approx. ({labels[0]})")
            else:
                contour, style, what = exact, "--", f"exact theory {sweep.summary}"
            _heatmap(ax, fig, x, y, _grid(rows, x, y, fixed, mc), contour, f"Monte Carlo {sweep.summary}", what,
                     style=style)
            ax.set_title(", ".join(f"{k}={v}" for k, v in fixed.items()) or sweep.summary, fontsize=9)
    else:
        x = varying[0]
        fig = Figure(figsize=(11, 4.2))
        left, right = fig.subplots(1, 2)
        colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(rows)))
        for r, c in zip(rows, colors):
            k = r["metrics"].index(metric)
            g = np.arange(r["mean"].shape[1])
            left.plot(g, r["mean"][k], color=c, lw=1.4, label=f"{x.name}={r['point'].assignment[x.name]}")
            left.fill_between(g, r["mean"][k] - 2 * r["stderr"][k], r["mean"][k] + 2 * r["stderr"][k], color=c, alpha=0.25, lw=0)
            if r["theory"].get(metric) is not None:
                left.plot(g, r["theory"][metric], "--", color="k", lw=0.9)
        left.set_xlabel("generation")
        left.set_ylabel(metric)
        left.legend(fontsize=7, title="dashed: exact theory", title_fontsize=7)
        xs = [r["point"].assignment[x.name] for r in rows]
        right.plot(xs, [mc(r) for r in rows], "o-", label="Monte Carlo")
        right.plot(xs, [np.nan if th(r) is None else th(r) for r in rows], "kx--", label="exact theory")
        right.set_xlabel(x.name)
        right.set_ylabel(sweep.summary + (" (missing: never within the run)" if kind == "halving" else ""))
        right.legend(fontsize=7)
        for ax in (left, right):
            ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_collapse(sweep, rows: list, path, title: str) -> None:
    """:func:`collapse_figure` written to the PNG file ``path`` (figure.png)."""
    collapse_figure(sweep, rows, title).savefig(path, dpi=110)


def collapse_figure(sweep, rows: list, title: str) -> Figure:
    """The figure of an until-collapse sweep: mean collapse generation over the first two varying axes with
    the theory's contour (exact where computed, else the diffusion approximation, marked per cell), and the
    distribution of collapse generations per grid point beside both theories.

    ``rows``: per grid point {"point": with ``assignment``, "tau": collapse generations (chains,) with the
    censored ones at the cap, "censored": count, "exact", "approx": mean collapse generation or None}."""
    varying = _varying(sweep) or list(sweep.axes[:1])
    fig = Figure(figsize=(13 if len(varying) >= 2 else 8, 4.8))
    axes = fig.subplots(1, 2 if len(varying) >= 2 else 1, squeeze=False)
    axes = list(axes.flat)
    if len(varying) >= 2:
        x, y = varying[0], varying[1]
        fixed = _panels(sweep, x, y)[0]

        def theory(r):
            return r["exact"] if r["exact"] is not None else r["approx"]

        ax = axes.pop(0)
        _heatmap(ax, fig, x, y, _grid(rows, x, y, fixed, lambda r: r["tau"].mean()), _grid(rows, x, y, fixed, theory),
                 "mean collapse generation", "theory (exact where marked e, else diffusion approx.)", log=True)
        for r in _lookup(rows, fixed):
            a = r["point"].assignment
            mark = "e" if r["exact"] is not None else ("d" if r["approx"] is not None else "")
            ax.text(x.values.index(a[x.name]) + 0.42, y.values.index(a[y.name]) - 0.42, mark, fontsize=7,
                    ha="right", va="bottom", color="w")
            if r["censored"]:
                ax.text(x.values.index(a[x.name]), y.values.index(a[y.name]) + 0.3, f"{r['censored']} censored",
                        fontsize=6, ha="center", color="r")
        ax.set_title("mean generation at which one category is left" + (f" ({fixed})" if fixed else ""), fontsize=9)
    ax = axes[0]
    labels = [", ".join(f"{k}={v}" for k, v in r["point"].assignment.items()) for r in rows]
    ax.boxplot([r["tau"] for r in rows], whis=(2.5, 97.5), showfliers=False)
    pos = np.arange(1, len(rows) + 1)
    ax.plot(pos, [r["tau"].mean() for r in rows], "b^", label="Monte Carlo mean")
    ax.plot(pos, [np.nan if r["exact"] is None else r["exact"] for r in rows], "kx", ms=9, mew=2, label="exact mean")
    ax.plot(pos, [np.nan if r["approx"] is None else r["approx"] for r in rows], "o", mfc="none", color="tab:red",
            label="diffusion approx. -2n sum (1-p) ln(1-p)")
    ax.set_yscale("log")
    ax.set_xticks(pos, labels, rotation=60, ha="right", fontsize=6)
    ax.set_ylabel("collapse generation (box 25-75%, whiskers 2.5-97.5%)")
    censored = sum(r["censored"] for r in rows)
    ax.set_title("distribution over chains" + (f"; {censored} chains censored at the cap (counted as the cap)"
                                                  if censored else "; no chain censored"), fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
