"""Curated synthetic data (``--curate K``) on the categorical family, theory beside Monte Carlo.

Three runs of K-wise Bradley-Terry curation (Ferbach et al., NeurIPS 2024), Zipf(1) truth over V = 20 tokens,
n = 200, K = 4, reward temperature 0.25:
  single reward (rank: the truth's most probable token 1, its least 0), replace: the loop climbs to the
  reward's maximiser, its expected reward to 1 and its entropy to 0;
  the same with a real fraction alpha = 0.2 (mix): it settles at the ideal learner's stationary point;
  several rewards (three random vectors, each K-tuple judged by one at random), replace: a diverse law.
Theory (collapsim.theory.curation): exact expected values at generations 0 and 1 (markers), the ideal learner
(n = inf, dotted) and, under mix, its stationary point (dash-dot).

    python experiments/curation.py [--seeds 300] [--generations 40] [--out experiments/figures/curation.png]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from collapsim.runs.execute import resolve, simulate
from collapsim.runs.registry import entry
from collapsim.runs.spec import RunSpec
from collapsim.runs.summary import summarize

CASES = (  # (label, reward, policy, alpha)
    ("single reward, replace", "rank", "replace", None),
    ("single reward, 20% real (mix)", "rank", "mix", "0.2"),
    ("three rewards, replace", "several", "replace", None),
)
METRICS = ("expected_reward", "entropy")


def run_case(reward: str, policy: str, alpha, seeds: int, generations: int) -> dict:
    """One curated run: per-metric Monte Carlo summaries and the family's prediction."""
    spec = RunSpec("categorical", {"vocab": 20, "reward": reward}, {}, policy, alpha, 200, generations, seeds, 1,
                   curate=4, reward_temperature=0.25)
    spec, e, loop = resolve(spec)
    out = simulate(spec, loop)
    return {"mc": {m: summarize(out[m]) for m in METRICS}, "prediction": entry("categorical").predict(spec, loop)}


def draw(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, METRICS):
        for (label, r), color in zip(results.items(), ("C0", "C1", "C2")):
            mc, pred = r["mc"][metric], r["prediction"]
            g = np.arange(mc["mean"].size)
            ax.plot(g, mc["mean"], color=color, lw=1.5, label=f"{label}: Monte Carlo")
            ax.fill_between(g, mc["mean"] - 2 * mc["stderr"], mc["mean"] + 2 * mc["stderr"], color=color, alpha=0.25)
            exact = pred.curves[metric]
            ax.plot(g[:2], exact[:2], "o", color="k", ms=4)
            for name, curve in pred.approx.get(metric, {}).items():
                if name.startswith("ideal learner (n"):
                    ax.plot(g, curve, ":", color=color, lw=1.5)
                if name.startswith("stationary"):
                    ax.plot(g, curve, "-.", color=color, lw=1)
        ax.set_xlabel("generation")
        ax.set_ylabel(metric)
    axes[0].legend(fontsize=7)
    fig.suptitle("K = 4 Bradley-Terry curation, categorical V = 20 (Zipf), n = 200, beta = 0.25\n"
                 "markers: exact (generations 0, 1); dotted: ideal learner (n = inf, approx.); "
                 "dash-dot: its stationary point", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--generations", type=int, default=40)
    ap.add_argument("--out", default="experiments/figures/curation.png")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = {label: run_case(reward, policy, alpha, args.seeds, args.generations)
               for label, reward, policy, alpha in CASES}
    print(f"{'case':<32}{'metric':<17}{'gen 1 MC':>10}{'exact':>10}{'z':>7}{'final MC':>10}{'ideal':>9}")
    for label, r in results.items():
        for m in METRICS:
            mc, pred = r["mc"][m], r["prediction"]
            z = (mc["mean"][1] - pred.curves[m][1]) / mc["stderr"][1]
            ideal = pred.approx[m]["ideal learner (n = inf)"][-1]
            print(f"{label:<32}{m:<17}{mc['mean'][1]:>10.4f}{pred.curves[m][1]:>10.4f}{z:>+7.2f}"
                  f"{mc['mean'][-1]:>10.4f}{ideal:>9.4f}")
    draw(results, args.out)
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
