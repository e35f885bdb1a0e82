"""Where the time goes in the grid cells below 10x the per-chain loop, and what bounds them (issue 25).

For each slow cell this prints, in CPU seconds per chain and generation (process time, so the numbers
hold up on a shared machine better than wall time): collapsim's whole step (``engine.run_loop``, all host
devices), the pieces of its step timed alone (jitted, vmapped, inside a scan like the engine's), and the
per-chain loop's own pieces. The limit is the work neither side can skip:

- Gaussian d >= 30: one LAPACK call of size d per chain and generation (W2's cross term by SVD; the loop
  needs the same class of call, an SVD inside multivariate_normal and an eigvalsh), run one call at a time;
- categorical K = 10,000: K-long passes over each chain's model (CDF, counts, eight metrics), the same
  passes the loop makes with NumPy's vectorised C loops;
- the categorical default cell against batched NumPy: the Threefry words of n uniforms per chain and
  generation, against NumPy's conditional binomials that stop once a collapsed row's draws are used up.

    PYTHONPATH=src python benchmarks/cell_limits.py [gaussian|categorical|default|machine ...]
"""

from __future__ import annotations

import sys
import time

from collapsim.commands.options import use_all_cores

use_all_cores()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def cpu(fn, repeats: int = 3) -> float:
    """Least process seconds of ``repeats`` calls (after one untimed call)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def collapsim_cpu(family, params, samples: int, gens: int, chains: int, shortcut: bool = True) -> float:
    """CPU seconds of one compiled ``engine.run_loop`` (replace), as ``collapsim run`` calls it."""
    from collapsim.engine import LoopConfig, run_loop

    cfg = LoopConfig("replace", samples, gens, shortcut)
    alphas = np.zeros(gens, np.float32)
    return cpu(lambda: run_loop(family, cfg, params, alphas, chains), 1)


def per_call(fn, calls: int) -> float:
    return cpu(lambda: [fn() for _ in range(calls)], 2) / calls


def machine() -> None:
    """One core's memory bandwidth (copy of 200 MB) and float32 matmul rate (OpenBLAS, one thread)."""
    from threadpoolctl import threadpool_limits

    a, b = np.ones(25_000_000, np.float64), np.empty(25_000_000, np.float64)
    s = cpu(lambda: np.copyto(b, a))
    m = np.ones((1000, 1000), np.float32)
    with threadpool_limits(1):
        g = cpu(lambda: m @ m)
    print(f"machine: copy {2 * a.nbytes / s / 1e9:.1f} GB/s (read + write, one core); "
          f"float32 matmul {2e9 / g / 1e9:.1f} GFLOP/s (one thread)")


def gaussian(cells=((30, 10), (30, 100), (30, 1000), (100, 10), (100, 100), (100, 1000))) -> None:
    from threadpoolctl import threadpool_limits

    from collapsim.commands.bench.gaussian import _full_setup, loop_full_reference

    rng = np.random.default_rng(0)
    for d, n in cells:
        chains, gens = (100, 5) if d == 100 else (400, 5)
        family, params, shortcut = _full_setup(d, n)
        coll = collapsim_cpu(family, params, n, gens, chains, shortcut) / (chains * gens)
        x = rng.standard_normal((max(n, d + 1), d))
        cov = np.cov(x, rowvar=False, bias=True)
        m = rng.standard_normal((d, min(n, d)))
        with threadpool_limits(1):
            svd = per_call(lambda: np.linalg.svd(m, compute_uv=False), 50)
            eig = per_call(lambda: np.linalg.eigvalsh(cov), 50)
            mvn = per_call(lambda: np.random.multivariate_normal(np.zeros(d), cov, n), 20)
            loop = cpu(lambda: loop_full_reference(4, d, n, 5), 1) / 20
        print(f"gaussian d={d} n={n} ({'shortcut' if shortcut else 'explicit'}): collapsim {coll * 1e6:.0f} us CPU per chain-gen; "
              f"LAPACK svd of {d}x{min(n, d)} {svd * 1e6:.0f} us; loop {loop * 1e6:.0f} us "
              f"(multivariate_normal {mvn * 1e6:.0f}, eigvalsh {eig * 1e6:.0f}); "
              f"loop / collapsim {loop / coll:.1f}x, loop / one svd {loop / svd:.1f}x")


def _scan_cpu(piece, init, chains: int, gens: int) -> float:
    """CPU seconds per chain-generation of ``piece(key, state) -> (state, out)`` in a vmapped scan."""
    def chain(key):
        return jax.lax.scan(lambda s, k: piece(k, s), init, jax.random.split(key, gens))[1]

    f = jax.jit(jax.vmap(chain))
    keys = jax.random.split(jax.random.key(0), chains)
    return cpu(lambda: jax.block_until_ready(f(keys))) / (chains * gens)


def categorical(cells=((10000, 10), (10000, 100), (10000, 1000), (10000, 10000), (1000, 1000), (1000, 10000), (100, 10000))) -> None:
    from collapsim.commands.bench.categorical import loop_choice_reference, numpy_metrics
    from collapsim.engine import rng
    from collapsim.families import categorical as cat

    for K, n in cells:
        truth = cat.zipf_truth(K)
        params = cat.make_params(truth)
        chains, gens = 256, 10
        coll = collapsim_cpu(cat.categorical(K), params, n, gens, chains) / (chains * gens)
        tr, bt, lt = params["truth"], params["bottom"], params["log_truth"]
        vary = lambda k, p: p * (1.0 + jax.random.uniform(k) * 1e-30)  # noqa: E731  (nothing hoisted)
        pieces = {
            "uniforms": lambda k, p: (p, rng.uniform(k, n).sum()),
            "cdf": lambda k, p: (p, cat.cumulative_probs(vary(k, p))[-1]),
            "metrics": lambda k, p: (p, sum(cat.category_metrics(vary(k, p), tr, bt, lt).values())),
            "refit": lambda k, p: (lambda c: (c, c[0]))(cat.sample_counts(k, p, n) / n),
        }
        took = {name: _scan_cpu(f, tr, chains, gens) for name, f in pieces.items()}
        loop = cpu(lambda: loop_choice_reference(20, gens, n, truth), 1) / (20 * gens)
        p = np.bincount(np.random.default_rng(0).choice(K, n, p=truth), minlength=K) / n
        bottom = cat.bottom_decile_mask(truth)
        loop_metrics = per_call(lambda: numpy_metrics(p[None], truth, bottom), 50)
        loop_cumsum = per_call(lambda: np.cumsum(truth), 200)
        print(f"categorical K={K} n={n}: collapsim {coll * 1e6:.1f} us CPU per chain-gen (pieces alone: "
              + ", ".join(f"{k} {v * 1e6:.1f}" for k, v in took.items())
              + f"); loop {loop * 1e6:.1f} us (its metrics {loop_metrics * 1e6:.1f}, one cumsum of K {loop_cumsum * 1e6:.1f}); "
              f"loop / collapsim {loop / coll:.1f}x")


def default_cell(chains: int = 4000, gens: int = 200, vocab: int = 50, n: int = 200) -> None:
    from collapsim.commands.bench.categorical import numpy_metrics
    from collapsim.engine import rng
    from collapsim.families import categorical as cat

    truth = cat.zipf_truth(vocab)
    coll = collapsim_cpu(cat.categorical(vocab), cat.make_params(truth), n, gens, chains)
    uniforms = _scan_cpu(lambda k, p: (p, rng.uniform(k, n).sum()), jnp.float32(0), chains, gens) * chains * gens
    g = np.random.default_rng(0)
    bottom = cat.bottom_decile_mask(truth)
    draws = metrics = 0.0
    p = np.broadcast_to(truth, (chains, vocab))
    for _ in range(gens):
        t0 = time.process_time()
        p = g.multinomial(n, p) / n
        t1 = time.process_time()
        numpy_metrics(p, truth, bottom)
        draws, metrics = draws + t1 - t0, metrics + time.process_time() - t1
    print(f"categorical default cell K={vocab} n={n}, {chains} chains x {gens} generations (replace), CPU s: "
          f"collapsim {coll:.2f} (its uniforms alone {uniforms:.2f}); numpy {draws + metrics:.2f} "
          f"(multinomial {draws:.2f}, metrics {metrics:.2f}); numpy / collapsim {(draws + metrics) / coll:.2f}x, "
          f"numpy / uniforms alone {(draws + metrics) / uniforms:.2f}x")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["machine", "gaussian", "categorical", "default"]
    for part in parts:
        {"machine": machine, "gaussian": gaussian, "categorical": categorical, "default": default_cell}[part]()
