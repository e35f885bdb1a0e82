"""Replace vs accumulate for linear regression (Gerstgrasser et al. 2024), Monte Carlo over exact theory.

One design X per chain (d features, n rows), relabelled each generation by the previous fit plus fresh noise.
Under replace the excess test error grows linearly, sigma^2 d / (n - d - 1) * t; under accumulate (every
relabelled copy of X kept) it is sigma^2 d / (n - d - 1) * sum_{i<=t} 1/i^2, below pi^2/6 times the first
generation's. Prints the table and writes experiments/figures/replace_vs_accumulate.png.

    python experiments/replace_vs_accumulate.py [--seeds 2000] [--generations 50] [--out experiments/figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from collapsim.engine import LoopConfig, run_loop  # noqa: E402
from collapsim.runs.summary import summarize  # noqa: E402
from collapsim.families.regression import default_params, regression  # noqa: E402
from collapsim.theory import regression as th  # noqa: E402

D, N = 10, 100


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2000)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)
    T = args.generations
    first = th.excess_factor(D, N)
    theory = {"replace": th.replace_test_error(T, D, N), "accumulate": th.accumulate_test_error(T, D, N)}
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    g = np.arange(T + 1)
    print(f"linear regression d = {D}, n = {N}, sigma = 1, fixed design, {args.seeds} chains, T = {T}")
    print(f"{'policy':<12}{'t':>4}{'exact':>10}{'Monte Carlo':>20}{'z':>7}")
    worst = {}
    for policy, colour in (("replace", "tab:red"), ("accumulate", "tab:blue")):
        t0 = time.perf_counter()
        out = run_loop(regression(D, N), LoopConfig(policy, N, T), default_params(D), np.zeros(T), args.seeds, seed=7)
        s = summarize(out["test_error"])
        z = (s["mean"][1:] - theory[policy][1:]) / s["stderr"][1:]
        worst[policy] = np.abs(z).max()
        for t in sorted({t for t in (1, 5, 10, 20, T) if t <= T}):
            print(f"{policy:<12}{t:>4}{theory[policy][t]:>10.4f}{s['mean'][t]:>12.4f} +- {s['stderr'][t]:.4f}{z[t - 1]:>+7.2f}")
        print(f"{policy:<12} largest |z| over t = 1..{T}: {worst[policy]:.2f}   ({time.perf_counter() - t0:.1f} s)")
        ax.fill_between(g, s["mean"] - 2 * s["stderr"], s["mean"] + 2 * s["stderr"], color=colour, alpha=0.3, lw=0)
        ax.plot(g, s["mean"], color=colour, lw=1.5, label=f"{policy}: Monte Carlo mean (+-2 se)")
        ax.plot(g, theory[policy], "k--", lw=1.0)
    ax.axhline(np.pi**2 / 6 * first, color="tab:blue", ls=":", lw=1.2, label="accumulate ceiling (pi^2/6) sigma^2 d/(n-d-1)")
    ax.plot([], [], "k--", lw=1.0, label="exact theory")
    ax.set_yscale("log")
    ax.set_xlabel("generation t")
    ax.set_ylabel("excess test error E||w_t - w*||^2")
    ax.set_title(f"Regression refit on its own labels (d={D}, n={N}, {args.seeds} chains)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "replace_vs_accumulate.png"
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")
    return worst


if __name__ == "__main__":
    main()
