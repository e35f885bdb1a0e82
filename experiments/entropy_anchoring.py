"""Entropy of a token distribution refit on its own samples, anchored by a share alpha_t of real data: the
claim ``zenil-anchoring`` of ``collapsim reproduce`` (src/collapsim/claims/zenil_anchoring.py holds the
setting, the six schedules, the Monte Carlo, the exact theory and the verdict). This script runs its full
setting and writes the README's figure.

    python experiments/entropy_anchoring.py [--quick] [--out experiments/figures/entropy_anchoring.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

if __name__ == "__main__":
    # Only as a script: one XLA host device per core (before JAX is imported), as the CLI does.
    from collapsim.commands.options import use_all_cores

    use_all_cores()

from collapsim.claims import zenil_anchoring  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the claim's --quick setting")
    ap.add_argument("--out", type=Path, default=Path("experiments/figures/entropy_anchoring.png"), help="figure path")
    args = ap.parse_args(argv)
    res = zenil_anchoring.CLAIM.run(args.quick)
    print(f"{res.verdict}: {res.reason}")
    print(json.dumps(res.details, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    res.figure(args.out)
    print(f"figure: {args.out}")
    return res


if __name__ == "__main__":
    main()
