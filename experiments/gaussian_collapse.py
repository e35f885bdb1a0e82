"""Recursive fitting of a Gaussian (Shumailov et al., Nature 631, 2024): the README's figure, drawn by the
`shumailov-variance` claim of `collapsim reproduce` (the numbers, with the first-order W2 against the exact
value, are the `shumailov-w2` claim's). This script only writes the figure where the README expects it.

    python experiments/gaussian_collapse.py [--quick] [--out experiments/figures]
    collapsim reproduce shumailov-w2 shumailov-variance          # the same claims, with their verdicts
"""

from __future__ import annotations

import argparse
from pathlib import Path

from collapsim.claims import shumailov_variance, shumailov_w2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("experiments/figures"))
    args = ap.parse_args(argv)
    for claim in (shumailov_w2.CLAIM, shumailov_variance.CLAIM):
        res = claim.run(args.quick)
        print(f"{claim.name}: {res.verdict}: {res.reason}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gaussian_collapse.png"
    res.figure(path)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
