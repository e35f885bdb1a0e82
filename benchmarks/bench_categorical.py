"""Wright-Fisher benchmark: collapsim vs batched NumPy vs a per-chain loop, plus the exact matrix theory.

Same as ``collapsim bench categorical`` (all options pass through), e.g.::

    python benchmarks/bench_categorical.py --chains 20000 --vocab 50 --samples 200 --generations 400 --json
"""

from collapsim.commands.bench.categorical import bench_categorical_cmd

if __name__ == "__main__":
    bench_categorical_cmd()
