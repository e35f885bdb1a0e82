"""What recording the expensive metrics every k-th generation saves (``collapsim run ... --metrics-every K``).

(At n <= d a Gaussian fit is thin and carries W2 with the model, so W2 is not expensive there: use n > d.)

Times ``engine.run_loop`` exactly as ``collapsim run`` calls it (the default method for the cell), once with
every metric every generation (k = 1) and once with k, interleaved over a few rounds so both see the same
load; reports the best wall and CPU seconds of each (compilation excluded) and their ratio, with the load
average. One run on a shared machine: only the ratios mean anything. E.g.::

    python benchmarks/bench_metrics_every.py gaussian --dim 10 --samples 100 --generations 100 --chains 1000 --every 10
    python benchmarks/bench_metrics_every.py gaussian --dim 100 --samples 200 --generations 20 --chains 100 --every 10
    python benchmarks/bench_metrics_every.py categorical --vocab 1000 --samples 1000 --generations 200 --chains 500 --every 10
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def build(args):
    """(family, params, shortcut) for the cell, with ``collapsim run``'s default method."""
    from collapsim.runs.execute import resolve
    from collapsim.runs.spec import RunSpec

    if args.family == "gaussian":
        options = {"dim": args.dim, "covariance": "full", "ddof": 0}
    else:
        options = {"vocab": args.vocab}
    spec = RunSpec(args.family, options, {}, "replace", "none", args.samples, args.generations, max(args.chains, 2))
    spec, _, loop = resolve(spec)
    return loop.family, loop.params, loop.shortcut


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("family", choices=("gaussian", "categorical"))
    p.add_argument("--dim", type=int, default=10)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--generations", type=int, default=100)
    p.add_argument("--chains", type=int, default=1000)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    from collapsim.commands.options import use_all_cores

    use_all_cores()
    from collapsim.engine import LoopConfig, run_loop

    family, params, shortcut = build(args)
    alpha = np.zeros(args.generations, np.float32)
    cfgs = {k: LoopConfig("replace", args.samples, args.generations, shortcut, k) for k in (1, args.every)}
    load0 = os.getloadavg()
    for cfg in cfgs.values():  # compile
        run_loop(family, cfg, params, alpha, args.chains)
    best = {k: [np.inf, np.inf] for k in cfgs}
    for _ in range(args.rounds):
        for k, cfg in cfgs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run_loop(family, cfg, params, alpha, args.chains)
            best[k] = [min(best[k][0], time.perf_counter() - wall), min(best[k][1], time.process_time() - cpu)]
    cell = (f"{args.family} " + (f"d={args.dim}" if args.family == "gaussian" else f"K={args.vocab}")
            + f" n={args.samples} T={args.generations} chains={args.chains} "
            + ("shortcut" if shortcut else "explicit") + f", expensive: {', '.join(family.expensive) or 'none'}")
    print(cell)
    for k, (wall, cpu) in best.items():
        print(f"  metrics every {k:>3}: wall {wall:.3f} s  cpu {cpu:.3f} s")
    (w1, c1), (wk, ck) = best[1], best[args.every]
    print(f"  k=1 / k={args.every}: wall {w1 / wk:.2f}x  cpu {c1 / ck:.2f}x  "
          f"(load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after)")


if __name__ == "__main__":
    main()
