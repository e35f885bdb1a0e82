"""Replace vs accumulate for linear regression (Gerstgrasser et al. 2024): the README's figure, from the
`gerstgrasser-replace` and `gerstgrasser-accumulate` claims of `collapsim reproduce` (their simulation and
drawing); prints the largest |z| of each policy against the exact theory (R1, R2).

    python experiments/replace_vs_accumulate.py [--seeds 2000] [--generations 50] [--out experiments/figures]
    collapsim reproduce gerstgrasser-replace gerstgrasser-accumulate     # the claims, with their verdicts
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from collapsim.claims.gerstgrasser_replace import D, N, draw, mean_se, simulate
from collapsim.theory import regression as th


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2000)
    ap.add_argument("--generations", type=int, default=50)
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)
    T = args.generations
    exact = {"replace": th.replace_test_error(T, D, N), "accumulate": th.accumulate_test_error(T, D, N)}
    runs, worst = {}, {}
    for policy in ("replace", "accumulate"):
        runs[policy] = simulate(policy, T, args.seeds)
        m, s = mean_se(runs[policy])
        worst[policy] = float(np.abs((m[1:] - exact[policy][1:]) / s[1:]).max())
        print(f"{policy:<12} t = {T}: {m[-1]:.4f} +- {s[-1]:.4f} (exact {exact[policy][-1]:.4f}); "
              f"largest |z| over t = 1..{T}: {worst[policy]:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "replace_vs_accumulate.png"
    draw(path, runs, T)
    print(f"figure: {path}")
    return worst


if __name__ == "__main__":
    main()
