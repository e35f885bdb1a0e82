"""Gaussian collapse benchmark: collapsim vs vectorised NumPy vs a per-chain loop vs the bare RNG.

Same as ``collapsim bench gaussian`` (all options pass through), e.g.::

    python benchmarks/bench_gaussian.py --chains 20000 --generations 100 --samples 100 --json
"""

from collapsim.commands.bench.gaussian import bench_gaussian_cmd

if __name__ == "__main__":
    bench_gaussian_cmd()
