"""Recursive fitting of a Gaussian (Shumailov et al., Nature 631, 2024), against exact theory.

M = 100 samples per generation, T = 200 generations, both variance estimators. Prints our Monte Carlo
numbers beside the exact closed forms and the paper's first-order W2 approximation
E W2^2 ~ (3/2) sigma^2 sum_i 1/M_i (its SI), and writes a figure.

    python experiments/gaussian_collapse.py [--seeds 4000] [--out experiments/figures]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from collapsim.engine import LoopConfig, run_loop  # noqa: E402
from collapsim.runs.summary import summarize  # noqa: E402
from collapsim.families.gaussian import default_params, gaussian  # noqa: E402
from collapsim.theory import gaussian as th  # noqa: E402

M, T = 100, 200


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    print(f"Gaussian refit on its own samples: M = {M}, T = {T}, {args.seeds} chains (exact shortcut path)")
    print(f"{'quantity':<34}{'ddof':>5}{'published':>11}{'exact':>10}{'Monte Carlo':>20}")
    for ddof, ax in zip((1, 0), axes):
        out = run_loop(gaussian(1, "full", ddof), LoopConfig("replace", M, T, True), default_params(1), np.zeros(T), args.seeds, seed=2024)
        s2, w2 = summarize(out["sigma2"]), summarize(out["w2sq"])
        exact_s2, exact_w2 = th.expected_sigma2(T, M, ddof), th.expected_w2sq(T, M, ddof)
        first_order = 1.5 * T / M
        rows = [
            ("E sigma_T^2", "", exact_s2[-1], s2),
            ("E W2^2 to the truth at T", f"{first_order:.3f}" if ddof == 1 else "", exact_w2[-1], w2),
            ("median sigma_T^2", "", np.nan, None),
        ]
        for name, published, exact, summ in rows:
            if summ is None:
                mc = f"{np.median(out['sigma2'][:, -1]):.4f}"
            else:
                mc = f"{summ['mean'][-1]:.4f} +- {summ['stderr'][-1]:.4f}"
            ex = "" if np.isnan(exact) else f"{exact:.4f}"
            print(f"{name:<34}{ddof:>5}{published:>11}{ex:>10}{mc:>20}")
        g = np.arange(T + 1)
        ax.fill_between(g, s2["lo"], s2["hi"], alpha=0.2, lw=0, label="95% of chains")
        ax.plot(g, np.median(out["sigma2"], axis=0), color="tab:orange", lw=1.2, label="median chain")
        ax.plot(g, s2["mean"], color="tab:blue", lw=1.5, label="Monte Carlo mean")
        ax.plot(g, exact_s2, "k--", lw=1.2, label="exact E sigma_t^2")
        ax.set_title(f"sigma_t^2, ddof = {ddof} ({'unbiased' if ddof else 'MLE'})")
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Variance of a Gaussian refit on its own samples (M = {M}): the mean is exact, the typical chain collapses", fontsize=9)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gaussian_collapse.png"
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
