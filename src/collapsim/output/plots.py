"""Figures from summary tables. Plotting only: simulations return arrays and never draw."""

from __future__ import annotations

import io

import numpy as np
# Figures of their own, not pyplot's: no backend and no global figure state, so drawing works headless and in
# a notebook whose pyplot backend is the user's (the Python API returns these figures; collapsim.api).
from matplotlib.figure import Figure as _Figure

from collapsim.output.runfolder import RANGE_BELOW_CHAINS, every_kth


class Figure(_Figure):
    """A matplotlib Figure that a notebook shows as a cell's value whatever the backend: IPython shows a plain
    Figure as an image only once pyplot or ``%matplotlib inline`` has set up the inline backend, which a
    notebook that only calls collapsim.run(...).plot() never does."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


def plot_summary(summary: dict, path, title: str, theory_note: str = "") -> None:
    """:func:`summary_figure` written to the PNG file ``path``."""
    summary_figure(summary, title, theory_note).savefig(path, dpi=110)


def summary_figure(summary: dict, title: str, theory_note: str = "") -> Figure:
    """One panel per metric: the Monte Carlo mean, the 95% band over chains, mean +- 2 stderr, theory.

    Args:
      summary: metric -> {"mean", "stderr", "lo", "hi": arrays (T + 1,), "theory": array or None,
        "approx": optional {label: array}} (labelled approximations drawn dotted), "fitted": optional {label:
        array} with "fit_generations" (curves fitted on the run, drawn dash-dotted, the fitted generations
        shaded grey), "chains" (fewer than RANGE_BELOW_CHAINS: the lo-hi band is called a per-seed range), and for a metric recorded
        only every k-th generation "recorded": bool (T + 1,) and "every": k (drawn with markers at the
        recorded generations only, and the panel title says so), and optionally "unestimable": bool (T + 1,)
        (shaded: generations whose mean cannot estimate its expectation, :mod:`collapsim.runs.tails`).
    """
    names = list(summary)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        s = summary[name]
        gens = np.arange(len(s["mean"]))
        g = gens[s["recorded"]] if "recorded" in s else gens  # where the Monte Carlo values were recorded
        mc = {k: np.asarray(s[k])[g] for k in ("mean", "stderr", "lo", "hi")}
        marker = "o" if "recorded" in s else None
        chains = s.get("chains", RANGE_BELOW_CHAINS)
        band = "95% of chains" if chains >= RANGE_BELOW_CHAINS else f"range of {chains} seeds"
        ax.fill_between(g, mc["lo"], mc["hi"], color="tab:blue", alpha=0.15, lw=0, label=band)
        ax.fill_between(g, mc["mean"] - 2 * mc["stderr"], mc["mean"] + 2 * mc["stderr"], color="tab:blue", alpha=0.35, lw=0)
        ax.plot(g, mc["mean"], color="tab:blue", lw=1.5, marker=marker, ms=2.5, label="Monte Carlo mean (+-2 se)")
        if s.get("theory") is not None:
            ax.plot(gens, s["theory"], "k--", lw=1.2, label="exact theory")
        if np.any(s.get("unestimable", False)):  # where the mean cannot estimate the expectation: say so
            ax.fill_between(gens, 0, 1, where=np.asarray(s["unestimable"]), transform=ax.get_xaxis_transform(),
                            color="tab:red", alpha=0.12, lw=0, step="mid")
            ax.text(0.02, 0.02, "shaded: mean not estimable (heavy tail or float floor)", transform=ax.transAxes,
                    fontsize=7, color="tab:red")
        for label, curve in (s.get("approx") or {}).items():
            ax.plot(gens, curve, ":", lw=1.5, label=label)
        for label, curve in (s.get("fitted") or {}).items():
            ax.plot(gens, curve, "-.", lw=1.3, label=label)
        fit = list(s.get("fit_generations", ()))
        if s.get("fitted") and fit:  # the generations the fit saw: in-sample, no test of the theory there
            ax.axvspan(min(fit) - 0.5, max(fit) + 0.5, color="0.6", alpha=0.18, lw=0, label="fitted on (in-sample)")
        extra = len(s.get("approx") or {}) + len(s.get("fitted") or {})
        if extra:  # say which dotted / dash-dotted line is what, right where it is drawn
            ax.legend(handles=ax.get_lines()[-extra:], fontsize=7, loc="best")
        ax.set_title(f"{name}, {every_kth(s['every'])}" if "recorded" in s else name)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(title + (f"\n{theory_note}" if theory_note else ""), fontsize=9)
    fig.tight_layout()
    return fig
