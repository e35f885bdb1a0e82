"""``collapsim bench categorical``: the same Wright-Fisher simulation timed three ways in one run.

The work: C chains x T generations, each drawing M tokens from the current K-category fit (a Zipf(1)
truth at generation 0), refitting by counts and recording the eight metrics of ``collapsim run
categorical`` (entropy, Gini-Simpson, support, tail mass, TV, KL, squared error, bottom-decile mass).
Timed:

- collapsim: ``engine.run_loop`` as ``collapsim run`` calls it (jitted lax.scan over generations, vmap over
  chains, chains spread over one host device per core, results copied back to NumPy), compile time
  excluded and reported apart;
- numpy: the same loop batched over chains with ``Generator.multinomial`` on a (C, K) array (conditional
  binomials in C, which skips categories once the draws are used up, so it speeds up as chains collapse);
- loop: one chain at a time in Python, as published code does it, timed on a subset of chains and scaled
  linearly to C.
Also timed: the exact matrix theory (``theory.categorical.marginals``) for a large case, by default
K = 1,000, M = 1,000, T = 200 under replacement. Speed claims are ratios from the same run.
"""

from __future__ import annotations

import json
import sys
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time
from collapsim.commands.bench.grid import format_grid, markdown_grid, scaled_loop_seconds, seconds
from collapsim.commands.options import Checked
from collapsim.schema import Rule


def numpy_metrics(p: np.ndarray, truth: np.ndarray, bottom: np.ndarray) -> tuple:
    """The eight metrics for models p (C, K) against truth (K,), each (C,) float32."""
    alive = p > 0
    logp = np.log(np.where(alive, p, 1.0))
    gap = p - truth
    return tuple(np.asarray(v, np.float32) for v in (
        -(p * logp).sum(1),
        1.0 - (p * p).sum(1),
        alive.sum(1),
        (truth * ~alive).sum(1),
        0.5 * np.abs(gap).sum(1),
        (p * (logp - np.log(truth))).sum(1),
        (gap * gap).sum(1),
        (truth * (alive & bottom)).sum(1),
    ))


def numpy_reference(chains: int, generations: int, samples: int, truth: np.ndarray, seed: int = 0, alpha: float = 0.0) -> np.ndarray:
    """Batched NumPy: metrics (T, 8, C) for C chains; alpha > 0 mixes in the truth (policy ``mix``)."""
    from collapsim.families.categorical import bottom_decile_mask

    rng = np.random.default_rng(seed)
    bottom = bottom_decile_mask(truth)
    p = np.broadcast_to(truth, (chains, truth.shape[0]))
    out = np.empty((generations, 8, chains), np.float32)
    for t in range(generations):
        p = rng.multinomial(samples, alpha * truth + (1.0 - alpha) * p if alpha else p) / samples
        out[t] = numpy_metrics(p, truth, bottom)
    return out


def loop_reference(chains: int, generations: int, samples: int, truth: np.ndarray, seed: int = 0, alpha: float = 0.0) -> list:
    """One chain at a time, one generation at a time, as in the papers' notebooks."""
    from collapsim.families.categorical import bottom_decile_mask

    rng = np.random.default_rng(seed)
    bottom = bottom_decile_mask(truth)
    history = []
    for _ in range(chains):
        p, chain = truth, []
        for _ in range(generations):
            p = rng.multinomial(samples, alpha * truth + (1.0 - alpha) * p if alpha else p) / samples
            chain.append(numpy_metrics(p[None], truth, bottom))
        history.append(chain)
    return history


def time_collapsim(chains: int, generations: int, samples: int, truth: np.ndarray, repeats: int, alpha: float = 0.0) -> tuple[float, float]:
    """(seconds per run after compilation, compile seconds) for ``engine.run_loop``, as ``collapsim run`` calls it."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.categorical import categorical, make_params

    family, params = categorical(truth.shape[0]), make_params(truth)
    cfg = LoopConfig("mix" if alpha else "replace", samples, generations, True)
    alphas = np.full(generations, alpha, np.float32)
    return compiled_median_time(lambda: run_loop(family, cfg, params, alphas, chains), repeats)


def time_theory(vocab: int, samples: int, generations: int) -> float:
    """Seconds for the exact per-category matrix theory of a Zipf(1) truth under replacement."""
    from collapsim.families.categorical import bottom_decile_mask, zipf_truth
    from collapsim.theory.categorical import marginals

    truth = zipf_truth(vocab)
    t0 = time.perf_counter()
    marginals(truth, samples, np.zeros(generations), bottom_decile_mask(truth))
    return time.perf_counter() - t0


def run_bench(chains, vocab, samples, generations, loop_chains, repeats, theory_size, alpha=0.0, say=lambda s: None) -> dict:
    from collapsim.families.categorical import zipf_truth

    truth = zipf_truth(vocab)
    say("compiling and timing collapsim")
    collapsim_s, compile_s = time_collapsim(chains, generations, samples, truth, repeats, alpha)
    say("timing batched numpy")
    t0 = time.perf_counter()
    numpy_reference(chains, generations, samples, truth, alpha=alpha)
    numpy_s = time.perf_counter() - t0
    loop_chains = max(1, min(loop_chains, chains))
    say(f"timing the per-chain loop on {loop_chains} chains")
    t0 = time.perf_counter()
    loop_reference(loop_chains, generations, samples, truth, alpha=alpha)
    loop_s = (time.perf_counter() - t0) * chains / loop_chains
    report = {
        "policy": "mix" if alpha else "replace", "alpha": alpha, "chains": chains, "vocab": vocab, "samples": samples, "generations": generations,
        "tokens": chains * generations * samples,
        "collapsim_s": collapsim_s, "compile_s": compile_s, "numpy_s": numpy_s, "loop_s": loop_s,
        "loop_chains_timed": loop_chains,
        "numpy_over_collapsim": numpy_s / collapsim_s, "loop_over_collapsim": loop_s / collapsim_s,
        "collapsim_tokens_per_s": chains * generations * samples / collapsim_s,
    }
    if theory_size:
        k, m, t = theory_size
        say(f"timing the exact matrix theory (K={k}, M={m}, T={t})")
        report.update(theory_vocab=k, theory_samples=m, theory_generations=t, theory_s=time_theory(k, m, t))
    return report


# ------------------------------------------------------------------------------------------------ --grid

#: (K, n) cells of the grid; the issue's cell (K = n = 1,000, 200 generations, 500 chains) comes first.
GRID_VOCABS, GRID_SAMPLES = (10, 100, 1000, 10000), (10, 100, 1000, 10000)
ISSUE_CELL = {"vocab": 1000, "samples": 1000, "generations": 200, "chains": 500}


def grid_cells(generations: int = 10, chains: int = 1024, points: float = 1.1e7) -> list[dict]:
    """The issue's cell, then every (K, n) of the grid with ``generations`` and at most ``chains`` chains,
    fewer where chains x max(K, n) would pass ``points`` (NumPy's (chains, K) arrays stay small). At least
    512 chains where n is small, so the engine's chunking (256 chains a call at the least) gives every one of
    two cores a call, as a default ``collapsim run`` (2,000 chains) does."""
    cells = [dict(ISSUE_CELL)]
    for k in GRID_VOCABS:
        for n in GRID_SAMPLES:
            cells.append({"vocab": k, "samples": n, "generations": generations,
                          "chains": int(max(10, min(chains, points // max(k, n))))})
    return cells


def loop_choice_reference(chains: int, generations: int, samples: int, truth: np.ndarray, seed: int = 0) -> None:
    """One chain at a time as published code writes it: np.random.choice(K, n, p=p), np.bincount, and the
    eight metrics per generation."""
    from collapsim.families.categorical import bottom_decile_mask

    np.random.seed(seed)
    K = truth.shape[0]
    bottom = bottom_decile_mask(truth)
    for _ in range(chains):
        p = truth
        for _ in range(generations):
            p = np.bincount(np.random.choice(K, size=samples, p=p), minlength=K) / samples
            numpy_metrics(p[None], truth, bottom)


def run_grid_bench(cells: list[dict], loop_seconds: float = 1.0, repeats: int = 1, say=lambda s: None) -> list[dict]:
    """One row per cell (Zipf(1) truth, replace, method auto as ``collapsim run`` picks it): collapsim,
    batched NumPy (``Generator.multinomial``) and the per-chain ``np.random.choice`` loop (scaled)."""
    from collapsim.families.categorical import use_binomial_counts, zipf_truth

    rows = []
    for cell in cells:
        K, n, T, C = cell["vocab"], cell["samples"], cell["generations"], cell["chains"]
        say(f"K={K} n={n} T={T} chains={C}")
        truth = zipf_truth(K)
        collapsim_s, compile_s = time_collapsim(C, T, n, truth, repeats)
        row = dict(cell, collapsim_s=collapsim_s, compile_s=compile_s,
                   sampler="binomials" if use_binomial_counts(K, n) else "tokens, search tree")
        row["numpy_s"] = seconds(lambda: numpy_reference(C, T, n, truth))
        row["loop_s"], row["loop_chains_timed"] = scaled_loop_seconds(lambda k: loop_choice_reference(k, T, n, truth), C,
                                                                      loop_seconds)
        row["loop_over_collapsim"] = row["loop_s"] / row["collapsim_s"]
        row["numpy_over_collapsim"] = row["numpy_s"] / row["collapsim_s"]
        rows.append(row)
    return rows


GRID_COLUMNS = [("K", "vocab", "d"), ("n", "samples", "d"), ("T", "generations", "d"), ("chains", "chains", "d"),
                ("sampler", "sampler", "s"), ("collapsim s", "collapsim_s", ".3f"), ("numpy s", "numpy_s", ".3f"),
                ("loop s", "loop_s", ".2f"), ("loop/collapsim", "loop_over_collapsim", ".1f"),
                ("numpy/collapsim", "numpy_over_collapsim", ".1f"), ("compile s", "compile_s", ".1f")]


def format_report(r: dict) -> str:
    lines = [f"work ({r['policy']}" + (f", alpha={r['alpha']:g}" if r["alpha"] else "") + f"): {r['chains']} chains x K={r['vocab']} x M={r['samples']} x {r['generations']} generations "
             f"= {r['tokens']:.3g} tokens, eight metrics recorded per chain and generation"]
    rows = [
        ("collapsim (jitted scan, vmapped chains)", r["collapsim_s"]),
        ("numpy, batched multinomial over chains", r["numpy_s"]),
        (f"per-chain python loop (timed on {r['loop_chains_timed']} chains, scaled)", r["loop_s"]),
        ("collapsim compile time (excluded above)", r["compile_s"]),
    ]
    lines += [f"  {name:<62}{t:>9.3f} s" for name, t in rows]
    lines.append(f"ratios: numpy / collapsim = {r['numpy_over_collapsim']:.2f}x, loop / collapsim = {r['loop_over_collapsim']:.1f}x; "
                 f"collapsim {r['collapsim_tokens_per_s']:.3g} tokens/s")
    if "theory_s" in r:
        lines.append(f"exact matrix theory, K={r['theory_vocab']}, M={r['theory_samples']}, T={r['theory_generations']} "
                     f"(replace): {r['theory_s']:.2f} s")
    return "\n".join(lines)


@click.command()
@click.option("--chains", type=click.IntRange(1), default=20000, show_default=True)
@click.option("--vocab", type=click.IntRange(2), default=50, show_default=True)
@click.option("--samples", type=click.IntRange(1), default=200, show_default=True)
@click.option("--generations", type=click.IntRange(1), default=400, show_default=True)
@click.option("--loop-chains", type=click.IntRange(1), default=100, show_default=True,
              help="Chains actually run by the per-chain loop (its time is scaled to --chains).")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--alpha", type=Checked(Rule(float, 0, 1)), default=0.0, show_default=True,
              help="0: replace; above 0: mix in this share of fresh truth draws (chains no longer collapse).")
@click.option("--theory-size", type=(click.IntRange(1), click.IntRange(1), click.IntRange(1)), default=(1000, 1000, 200),
              show_default=True, metavar="K M T", help="Size of the exact-theory timing.")
@click.option("--no-theory", is_flag=True, help="Skip the exact-theory timing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--grid", is_flag=True, help="Time the grid K, n in 10..10,000 (replace) instead.")
@click.option("--grid-generations", type=click.IntRange(1), default=10, show_default=True)
@click.option("--loop-seconds", type=Checked(Rule(float, low=0, open_low=True)), default=1.0, show_default=True,
              help="--grid: time the per-chain loop on as many chains as take this long, then scale.")
@click.option("--markdown", is_flag=True, help="--grid: print the table as Markdown.")
def bench_categorical_cmd(chains, vocab, samples, generations, loop_chains, repeats, alpha, theory_size, no_theory, as_json,
                          grid, grid_generations, loop_seconds, markdown):
    """Time the categorical loop: collapsim vs batched NumPy vs a per-chain loop, and the exact theory."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    if grid:
        rows = run_grid_bench(grid_cells(grid_generations), loop_seconds, 1, say=lambda s: click.echo(f"... {s}", err=True))
        table = markdown_grid(rows, GRID_COLUMNS) if markdown else format_grid(rows, GRID_COLUMNS)
        click.echo(json.dumps(rows) if as_json else table)
        return
    from collapsim.memory import check_fits

    # The largest buffers, before any is allocated: the chains' counts and the NumPy references' arrays,
    # and the theory's per-category pmfs (K x (M + 1) float64, a few copies) with its (M + 1)^2 matrix.
    check_fits(float(chains) * vocab * 4 * 16 + float(chains) * samples * 8 * 4, f"--chains {chains} with --vocab {vocab}")
    if not no_theory:
        k, m, _ = theory_size
        check_fits(float(k) * (m + 1) * 8 * 4 + float(m + 1) ** 2 * 8 * 4, f"--theory-size {k} {m}")
    report = run_bench(chains, vocab, samples, generations, loop_chains, repeats, None if no_theory else theory_size, alpha,
                       say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(report) if as_json else format_report(report))


if __name__ == "__main__":  # pragma: no cover
    bench_categorical_cmd(sys.argv[1:])
