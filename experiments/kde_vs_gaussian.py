"""Two opposite failures: the MLE Gaussian's variance shrinks, a fixed-bandwidth KDE's diffuses upward.

Truth N(0, 1), n points per generation, replace. The Gaussian refit by its MLE has E sigma_t^2 = q^t with
q = (n - 1)/n (eq. G1); the KDE with bandwidth h has E variance_t = n h^2 + q^t (q + h^2 - n h^2) (eq. K2),
which rises by about h^2 a generation while t << n and settles at n h^2. Monte Carlo over exact theory;
writes experiments/figures/kde_vs_gaussian.png.

    python experiments/kde_vs_gaussian.py [--seeds 2000] [--samples 50] [--bandwidth 0.2] [--generations 200]
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
from collapsim.families import gaussian as gauss  # noqa: E402
from collapsim.families import kde  # noqa: E402
from collapsim.theory import gaussian as gth  # noqa: E402
from collapsim.theory import kde as kth  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--bandwidth", type=float, default=0.2)
    ap.add_argument("--generations", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)
    n, h, T = args.samples, args.bandwidth, args.generations
    g = np.arange(T + 1)
    runs = {
        "MLE Gaussian": (run_loop(gauss.gaussian(1, "full", 0), LoopConfig("replace", n, T), gauss.default_params(1),
                                  np.zeros(T), args.seeds, seed=3)["sigma2"], gth.expected_sigma2(T, n, 0)),
        f"KDE h = {h:g}": (run_loop(kde.kde(1, n), LoopConfig("replace", n, T), kde.make_params("gaussian", 1, h),
                                    np.zeros(T), args.seeds, seed=3)["variance"], kth.replace_variance(T, n, h, 1.0)),
    }
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    print(f"truth N(0, 1), n = {n}, {args.seeds} chains, replace")
    for (name, (values, theory)), colour in zip(runs.items(), ("tab:red", "tab:blue")):
        s = summarize(values)
        z = (s["mean"] - theory) / np.where(s["stderr"] > 0, s["stderr"], np.inf)
        print(f"{name:<16} variance at t = 0, 10, 50, {T}: "
              + ", ".join(f"{s['mean'][t]:.3f} (exact {theory[t]:.3f})" for t in (0, 10, 50, T))
              + f"; largest |z| {np.abs(z).max():.2f}")
        ax.fill_between(g, s["lo"], s["hi"], color=colour, alpha=0.15, lw=0)
        ax.plot(g, s["mean"], color=colour, lw=1.5, label=f"{name}: Monte Carlo mean, 95% of chains")
        ax.plot(g, theory, "k--", lw=1.0)
    ax.axhline(n * h * h, color="tab:blue", ls=":", lw=1, label=f"KDE limit n h^2 = {n * h * h:g}")
    ax.plot([], [], "k--", lw=1.0, label="exact theory")
    ax.set_xlabel("generation")
    ax.set_ylabel("variance of the model")
    ax.set_title(f"Refit on own samples: the Gaussian collapses, the KDE diffuses (n = {n})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "kde_vs_gaussian.png"
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
