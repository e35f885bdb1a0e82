"""``collapsim bench gaussian``: the same Gaussian collapse simulation timed four ways in one run.

The work: C chains x T generations x M samples; each generation draws M normals from the current fit,
refits mean and unbiased variance, and records sigma^2, the squared mean drift and W2^2 (the metrics of
``collapsim run gaussian``). Timed:

- collapsim: the engine's explicit-sample path (jitted lax.scan over generations, vmap over chains, chains
  spread over one host device per core), results copied back to NumPy as ``collapsim run`` does;
  compilation is timed separately (compile_s: the first call, compile plus one run) and excluded;
- numpy: the same loop vectorised over chains with NumPy's default generator;
- loop: a per-chain Python loop in the style published with the papers (one chain at a time), timed
  on a subset of chains and scaled linearly to C chains (each chain is independent work, so the cost is
  linear in C; the subset size is reported);
- rng: just drawing C * T * M normals with the family's generator (:mod:`collapsim.engine.rng`) in the same scan,
  the floor for any sampler.
Also reported: the sufficient-statistics shortcut (same distribution of results, not the same draws).
Speed claims are ratios measured in the same run; the machine is noisy, so each fast timing is the
median of ``repeats``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time, median_time
from collapsim.commands.bench.grid import format_grid, markdown_grid, scaled_loop_seconds, seconds
from collapsim.commands.options import Checked
from collapsim.schema import Rule


def time_collapsim(chains: int, generations: int, samples: int, repeats: int, shortcut: bool = False) -> tuple[float, float]:
    """(seconds per run after compilation, compile seconds) for ``engine.run_loop``, as ``collapsim run`` calls it."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.gaussian import default_params, gaussian

    family, params = gaussian(1, "full", 1), default_params(1)
    cfg = LoopConfig("replace", samples, generations, shortcut)
    alpha = np.zeros(generations, np.float32)
    return compiled_median_time(lambda: run_loop(family, cfg, params, alpha, chains), repeats)


def time_rng(chains: int, generations: int, samples: int, repeats: int) -> float:
    """Seconds to draw chains * generations * samples normals with jax.random (summed so none is elided).

    Laid out like the engine (a scan over generations per chain, vmapped, the same chunks of chains spread
    over the same devices), so the ratio compares the engine with the draws it cannot avoid.
    """
    import jax
    import jax.numpy as jnp

    from collapsim.engine import rng
    from collapsim.engine import LoopConfig, default_chunk, dispatch

    def chain(key):
        def step(total, k):
            return total + rng.normal(k, (samples,)).sum(), None

        return jax.lax.scan(step, jnp.float32(0), jax.random.split(key, generations))[0]

    draw = jax.jit(jax.vmap(chain))
    chunk = default_chunk(LoopConfig("replace", samples, generations), chains)
    keys = jax.random.split(jax.random.key(1), -(-chains // chunk) * chunk)
    pieces = [keys[i : i + chunk] for i in range(0, keys.shape[0], chunk)]

    def run():
        dispatch([lambda device, k=k: draw(jax.device_put(k, device)) for k in pieces])

    run()
    return median_time(run, repeats)


def numpy_reference(chains: int, generations: int, samples: int, seed: int = 0) -> dict:
    """The simulation vectorised over chains in NumPy; returns the per-generation metrics (T, C)."""
    rng = np.random.default_rng(seed)
    mu, var = np.zeros(chains), np.ones(chains)
    out = {"sigma2": [], "mean_sq_drift": [], "w2sq": []}
    for _ in range(generations):
        x = mu[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((chains, samples))
        mu, var = x.mean(axis=1), x.var(axis=1, ddof=1)
        out["sigma2"].append(var)
        out["mean_sq_drift"].append(mu**2)
        out["w2sq"].append(mu**2 + (np.sqrt(var) - 1.0) ** 2)
    return {k: np.array(v) for k, v in out.items()}


def loop_reference(chains: int, generations: int, samples: int, seed: int = 0) -> list:
    """Per-chain Python loop, as in the papers' notebooks: one chain, one generation at a time."""
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(chains):
        mu, sigma = 0.0, 1.0
        chain = []
        for _ in range(generations):
            x = rng.normal(mu, sigma, samples)
            mu, sigma = x.mean(), x.std(ddof=1)
            chain.append((sigma**2, mu**2, mu**2 + (sigma - 1.0) ** 2))
        history.append(chain)
    return history


def run_bench(chains: int, generations: int, samples: int, loop_chains: int, repeats: int, say=lambda s: None) -> dict:
    work = chains * generations * samples
    say("compiling and timing collapsim")
    collapsim_s, compile_s = time_collapsim(chains, generations, samples, repeats)
    shortcut_s, _ = time_collapsim(chains, generations, samples, repeats, shortcut=True)
    say("timing the bare jax.random draw")
    rng_s = time_rng(chains, generations, samples, repeats)
    say("timing vectorised numpy")
    t0 = time.perf_counter()
    numpy_reference(chains, generations, samples)
    numpy_s = time.perf_counter() - t0
    loop_chains = max(1, min(loop_chains, chains))
    say(f"timing the per-chain loop on {loop_chains} chains")
    t0 = time.perf_counter()
    loop_reference(loop_chains, generations, samples)
    loop_s = (time.perf_counter() - t0) * chains / loop_chains
    return {
        "chains": chains, "generations": generations, "samples": samples, "draws": work,
        "collapsim_s": collapsim_s, "compile_s": compile_s, "shortcut_s": shortcut_s,
        "numpy_s": numpy_s, "loop_s": loop_s, "loop_chains_timed": loop_chains, "rng_s": rng_s,
        "loop_over_collapsim": loop_s / collapsim_s, "numpy_over_collapsim": numpy_s / collapsim_s,
        "collapsim_over_rng": collapsim_s / rng_s,
        "collapsim_samples_per_s": work / collapsim_s, "rng_samples_per_s": work / rng_s,
    }


def format_report(r: dict) -> str:
    rows = [
        ("collapsim (explicit samples)", r["collapsim_s"]),
        ("collapsim (sufficient-statistics shortcut)", r["shortcut_s"]),
        ("numpy, vectorised over chains", r["numpy_s"]),
        (f"per-chain python loop (timed on {r['loop_chains_timed']} chains, scaled)", r["loop_s"]),
        ("collapsim.engine.rng.normal alone (same count)", r["rng_s"]),
    ]
    lines = [f"work: {r['chains']} chains x {r['generations']} generations x {r['samples']} samples = {r['draws']:.3g} draws"]
    lines += [f"  {name:<62}{t:>9.3f} s" for name, t in rows]
    lines += [
        f"  compile time (excluded above; the wall time of a command, cold and warm: --wall) {r['compile_s']:>9.3f} s",
        f"ratios: loop / collapsim = {r['loop_over_collapsim']:.1f}x, numpy / collapsim = {r['numpy_over_collapsim']:.2f}x, "
        f"collapsim / bare draw = {r['collapsim_over_rng']:.2f}x",
        f"throughput: collapsim {r['collapsim_samples_per_s']:.3g} samples/s, bare jax.random draw {r['rng_samples_per_s']:.3g} samples/s",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ --grid
#
# Full-covariance maximum-likelihood refits of N(0, I_d) under replacement, every metric of ``collapsim run
# gaussian`` recorded every generation (sigma2, mean drift, W2^2 to the truth, det ratio for d > 1).

#: (d, n) cells of the grid; the issue's cell (d = 10, n = 100, 100 generations, 1,000 chains) comes first.
GRID_DIMS, GRID_SAMPLES = (1, 3, 10, 30, 100), (10, 100, 1000)
ISSUE_CELL = {"dim": 10, "samples": 100, "generations": 100, "chains": 1000}


def grid_cells(generations: int = 5, chains: int = 1000, points: float = 2e6, flops: float = 2e8) -> list[dict]:
    """The issue's cell, then every (d, n) of the grid with ``generations`` and at most ``chains`` chains,
    fewer where chains x n x d would pass ``points`` (NumPy's batched arrays stay well inside memory) or
    chains x (n d^2 + d^3), a generation's arithmetic, would pass ``flops`` (so the grid takes minutes)."""
    cells = [dict(ISSUE_CELL)]
    for d in GRID_DIMS:
        for n in GRID_SAMPLES:
            most = min(chains, points // (n * d), flops // (n * d * d + d**3))
            cells.append({"dim": d, "samples": n, "generations": generations, "chains": int(max(10, most))})
    return cells


def _full_setup(dim: int, samples: int):
    from collapsim.families.gaussian import default_params, loop_family, shortcut_supports
    from collapsim.families.gaussian import SHORTCUT_FROM_SAMPLES

    shortcut = shortcut_supports(dim, "full", "replace", samples) and samples >= SHORTCUT_FROM_SAMPLES  # what auto picks
    return loop_family(dim, "full", 0, samples, shortcut), default_params(dim), shortcut


def time_collapsim_cell(dim: int, samples: int, generations: int, chains: int, repeats: int = 1) -> dict:
    """collapsim on one cell as ``collapsim run gaussian --covariance full --ddof 0`` runs it (method auto)."""
    from collapsim.engine import LoopConfig, run_loop

    family, params, shortcut = _full_setup(dim, samples)
    cfg = LoopConfig("replace", samples, generations, shortcut)
    alpha = np.zeros(generations, np.float32)
    compile_s = seconds(lambda: run_loop(family, cfg, params, alpha, chains))
    return {"collapsim_s": median_time(lambda: run_loop(family, cfg, params, alpha, chains), repeats),
            "compile_s": compile_s, "method": "shortcut" if shortcut else "explicit"}


def numpy_full_reference(chains: int, dim: int, samples: int, generations: int, seed: int = 0) -> np.ndarray:
    """The cell vectorised over chains in NumPy: one batched eigh per generation gives the next sampler's
    factor and the W2 and determinant metrics (truth N(0, I), so W2's cross term is sum sqrt(eig)).
    Returns the last generation's tr(Sigma) / d per chain (chains,)."""
    rng = np.random.default_rng(seed)
    mu, root = np.zeros((chains, dim)), np.broadcast_to(np.eye(dim), (chains, dim, dim))
    for _ in range(generations):
        x = mu[:, None, :] + rng.standard_normal((chains, samples, dim)) @ np.swapaxes(root, 1, 2)
        mu = x.mean(axis=1)
        xc = x - mu[:, None, :]
        cov = np.swapaxes(xc, 1, 2) @ xc / samples  # batched BLAS (einsum without optimize loops in C)
        w, v = np.linalg.eigh(cov)
        w = np.clip(w, 0.0, None)
        root = v * np.sqrt(w)[:, None, :]
        drift = (mu * mu).sum(1)
        metrics = (np.trace(cov, axis1=1, axis2=2) / dim, drift,
                   drift + w.sum(1) + dim - 2 * np.sqrt(w).sum(1), np.prod(w, axis=1))
    return metrics[0]


def loop_full_reference(chains: int, dim: int, samples: int, generations: int, seed: int = 0) -> list:
    """One chain at a time, as published code does it: np.random.multivariate_normal, np.cov, and the
    metrics per generation (W2 to N(0, I) by np.linalg.eigvalsh, the determinant by np.linalg.det).
    Returns the last generation's tr(Sigma) / d per chain."""
    np.random.seed(seed)
    last = []
    for _ in range(chains):
        mu, cov = np.zeros(dim), np.eye(dim)
        for _ in range(generations):
            if dim == 1:
                x = np.random.normal(mu[0], np.sqrt(cov[0, 0]), samples)[:, None]
            else:
                x = np.random.multivariate_normal(mu, cov, samples)
            mu = x.mean(axis=0)
            cov = np.atleast_2d(np.cov(x, rowvar=False, bias=True))
            w = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
            drift = mu @ mu
            metrics = (np.trace(cov) / dim, drift, drift + np.trace(cov) + dim - 2 * np.sqrt(w).sum(), np.linalg.det(cov))
        last.append(metrics[0])
    return last


def run_grid_bench(cells: list[dict], loop_seconds: float = 1.0, repeats: int = 1, say=lambda s: None) -> list[dict]:
    """One row per cell: collapsim, vectorised NumPy and the per-chain loop (scaled), with their ratios."""
    from collapsim.engine import one_blas_thread

    rows = []
    for cell in cells:
        d, n, T, C = cell["dim"], cell["samples"], cell["generations"], cell["chains"]
        say(f"d={d} n={n} T={T} chains={C}")
        row = dict(cell, **time_collapsim_cell(d, n, T, C, repeats))
        # The references get their better BLAS setting: timed with OpenBLAS's default threads and with one
        # (the setting collapsim's LAPACK path runs under), the faster kept; the one-thread run wins at d = 100.
        timings = []
        for blas in (contextlib.nullcontext, one_blas_thread):
            with blas():
                numpy_s = seconds(lambda: numpy_full_reference(C, d, n, T))
                loop_s, timed = scaled_loop_seconds(lambda k: loop_full_reference(k, d, n, T), C, loop_seconds)
            timings.append((numpy_s, loop_s, timed))
        row["numpy_s"] = min(t[0] for t in timings)
        row["loop_s"], row["loop_chains_timed"] = min((t[1], t[2]) for t in timings)
        row["loop_over_collapsim"] = row["loop_s"] / row["collapsim_s"]
        row["numpy_over_collapsim"] = row["numpy_s"] / row["collapsim_s"]
        rows.append(row)
    return rows


GRID_COLUMNS = [("d", "dim", "d"), ("n", "samples", "d"), ("T", "generations", "d"), ("chains", "chains", "d"),
                ("method", "method", "s"), ("collapsim s", "collapsim_s", ".3f"), ("numpy s", "numpy_s", ".3f"),
                ("loop s", "loop_s", ".2f"), ("loop/collapsim", "loop_over_collapsim", ".1f"),
                ("numpy/collapsim", "numpy_over_collapsim", ".1f"), ("compile s", "compile_s", ".1f")]


@click.command()
@click.option("--chains", type=click.IntRange(1), default=20000, show_default=True)
@click.option("--generations", type=click.IntRange(1), default=100, show_default=True)
@click.option("--samples", type=click.IntRange(2), default=100, show_default=True)
@click.option("--loop-chains", type=click.IntRange(1), default=200, show_default=True,
              help="Chains actually run by the per-chain loop (its time is scaled to --chains).")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--grid", is_flag=True, help="Time the grid d in 1..100 x n in 10..1000 (full covariance, MLE) instead.")
@click.option("--grid-generations", type=click.IntRange(1), default=5, show_default=True)
@click.option("--loop-seconds", type=Checked(Rule(float, low=0, open_low=True)), default=1.0, show_default=True,
              help="--grid: time the per-chain loop on as many chains as take this long, then scale.")
@click.option("--markdown", is_flag=True, help="--grid: print the table as Markdown.")
@click.option("--wall", is_flag=True, help="Time the peers' cell as a user waits for it instead: `collapsim run` "
              "in a fresh process with an empty compilation cache (cold) and again (warm), against the per-chain loop.")
def bench_gaussian_cmd(chains, generations, samples, loop_chains, repeats, as_json, grid, grid_generations, loop_seconds,
                       markdown, wall):
    """Time the Gaussian loop: collapsim vs vectorised NumPy vs a per-chain loop vs the bare RNG."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    if wall:
        from collapsim.commands.bench.wall import format_wall, time_wall

        report = time_wall(loop_seconds=loop_seconds, say=lambda s: click.echo(f"... {s}", err=True))
        click.echo(json.dumps(report) if as_json else format_wall(report))
        return
    if grid:
        rows = run_grid_bench(grid_cells(grid_generations), loop_seconds, 1, say=lambda s: click.echo(f"... {s}", err=True))
        table = markdown_grid(rows, GRID_COLUMNS) if markdown else format_grid(rows, GRID_COLUMNS)
        click.echo(json.dumps(rows) if as_json else table)
        return
    report = run_bench(chains, generations, samples, loop_chains, repeats, say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(report) if as_json else format_report(report))


if __name__ == "__main__":  # pragma: no cover
    bench_gaussian_cmd(sys.argv[1:])
