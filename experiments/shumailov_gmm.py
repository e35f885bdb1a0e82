"""Component collapse of a Gaussian mixture refit by EM on its own samples (Shumailov et al. 2024, the GMM
illustration), for 1,000 chains in one vmapped call where the paper ran one.

Truth 0.5 N(-2 e1, I) + 0.5 N(+2 e1, I) in d = 2; each generation draws N points from the current mixture and
refits K = 2 full-covariance components by EM. Generation 0 is the truth. Reports, over chains, the share of
chains with both components above weight 0.05, the smaller component's weight, the mean component variance,
the mass beyond 2 sigma of the truth and the sliced W2^2 to a held-out real sample; prints the wall time of
each run. ``--init warm`` (default) starts EM from the previous model (about 4 EM steps a generation);
``--init kmeans++`` refits from k-means++ + Lloyd each generation as scikit-learn's GaussianMixture does
(about 8x slower).

    python experiments/shumailov_gmm.py [--chains 1000] [--generations 500] [--samples 1000 100] [--init warm]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from collapsim.claims.shumailov_gmm import simulate  # noqa: E402
from collapsim.families import gmm as G  # noqa: E402


def run(n: int, chains: int, generations: int, init: str, dim: int, seed: int = 0) -> tuple[dict, float, float]:
    """The `shumailov-gmm` claim's simulation (collapsim.claims.shumailov_gmm), with its wall and CPU time."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = simulate(n, chains, generations, init, dim, seed)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chains", type=int, default=1000)
    ap.add_argument("--generations", type=int, default=500)
    ap.add_argument("--samples", type=int, nargs="+", default=[1000, 100])
    ap.add_argument("--init", default="warm", choices=("warm", "kmeans++", "random"))
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)
    T = args.generations
    g = np.arange(T + 1)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.6))
    for n, colour in zip(args.samples, ("tab:blue", "tab:red", "tab:green")):
        print(f"N = {n}: {args.chains} chains x {T} generations, EM init {args.init} ...", flush=True)
        out, wall, cpu = run(n, args.chains, T, args.init, args.dim)
        small = np.minimum(out["weight_1"], out["weight_2"])
        both = np.mean(out["active"] == 2, axis=0)
        var = out["weight_1"] * out["var_1"] + out["weight_2"] * out["var_2"]
        print(f"  wall time {wall:.1f} s ({args.chains * T / wall:,.0f} chain-generations/s; process CPU time {cpu:.1f} s, "
              "compilation included)")
        for t in sorted({1, T // 10, T // 4, T // 2, T}):
            print(f"  t = {t:>4}: both components active in {both[t]:6.1%} of chains; smaller weight median "
                  f"{np.median(small[:, t]):.3f}; weighted component variance median {np.median(var[:, t]):.3f}; "
                  f"tail mass {out['tail_mass'][:, t].mean():.4f}; sliced W2^2 {out['sliced_w2sq'][:, t].mean():.4f}")
        label = f"N = {n}"
        axes[0, 0].plot(g, both, color=colour, label=label)
        lo, med, hi = np.quantile(small, [0.05, 0.5, 0.95], axis=0)
        axes[0, 1].fill_between(g, lo, hi, color=colour, alpha=0.2, lw=0)
        axes[0, 1].plot(g, med, color=colour, label=f"{label}: median, 5-95%")
        lo, med, hi = np.quantile(var, [0.05, 0.5, 0.95], axis=0)
        axes[1, 0].fill_between(g, lo, hi, color=colour, alpha=0.2, lw=0)
        axes[1, 0].plot(g, med, color=colour, label=label)
        axes[1, 1].plot(g, out["tail_mass"].mean(0), color=colour, label=f"{label}: tail mass")
        axes[1, 1].plot(g, out["sliced_w2sq"].mean(0), color=colour, ls="--", label=f"{label}: sliced W2^2")
    tail0 = G.truth_tail_mass(*G.two_component_truth(args.dim, 4.0, 0.5), draws=400_000)
    axes[1, 1].axhline(tail0, color="k", lw=0.8, ls=":", label="truth's tail mass")
    titles = ["share of chains with both components (weight > 0.05)", "weight of the smaller component",
              "within-component variance (weighted)", "mass beyond 2 sigma of the truth; sliced W2^2 (dashed)"]
    for ax, title in zip(axes.flat, titles):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Two-component GMM refit by EM on its own samples: {args.chains} chains per N, d = {args.dim}, "
                 f"init {args.init}", fontsize=9)
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "shumailov_gmm.png"
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
