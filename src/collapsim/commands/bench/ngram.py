"""``collapsim bench ngram``: the n-gram loop timed against a per-chain NumPy count loop, in one run.

The work: C chains x T generations on the LLM loop's known source (order 2), each drawing n texts of L
tokens from the current order-k model and refitting by counts, under ``replace``. Timed:

- collapsim: ``engine.run_loop`` as ``collapsim run ngram`` calls it (every metric recorded), cold (the first
  call, compilation included) and compiled (median of the next calls);
- numpy: one chain at a time, vectorised over its n texts (inverse CDF per position against the rows'
  cumulative sums, ``np.add.at`` counts), with the cheap metrics (unigram law by position marginals), timed
  on a subset of chains and scaled linearly to C.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time


def numpy_chain(opening, table, n: int, length: int, generations: int, rng) -> None:
    """One order-2 chain refit on its own texts, vectorised over the n texts (the reference)."""
    V = table.shape[1]
    g, Q = opening.copy(), table.copy()
    for _ in range(generations):
        x = np.empty((n, length), np.int64)
        x[:, 0] = np.minimum(np.searchsorted(np.cumsum(g), rng.random(n), side="right"), V - 1)
        cdf = np.cumsum(Q, axis=1)
        for t in range(1, length):
            x[:, t] = np.minimum((cdf[x[:, t - 1]] <= rng.random(n)[:, None]).sum(1), V - 1)
        C = np.zeros((V, V))
        np.add.at(C, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1.0)
        N = C.sum(1, keepdims=True)
        Q = np.where(N > 0, C / np.where(N > 0, N, 1.0), Q)
        g = np.bincount(x[:, 0], minlength=V) / n
        m, p = g, g.copy()
        for _ in range(length - 1):  # the unigram law and its entropy, as the family records them
            m = m @ Q
            p += m
        p /= length
        -(p[p > 0] * np.log(p[p > 0])).sum()


def run_bench(chains: int, vocab: int, samples: int, length: int, generations: int, loop_chains: int,
              repeats: int) -> dict:
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families import ngram as G

    truth = G.truth_chain("source", vocab, 2, length)
    params = G.make_params(truth, 2, length)
    family = G.ngram(vocab, 2, length, truth_order=2)
    cfg = LoopConfig("replace", samples, generations)
    alpha = np.zeros(generations, np.float32)
    compiled, cold = compiled_median_time(lambda: run_loop(family, cfg, params, alpha, chains), repeats)
    k = max(1, min(loop_chains, chains))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(k):
        numpy_chain(truth.opening, truth.table, samples, length, generations, rng)
    numpy_s = (time.perf_counter() - t0) * chains / k
    return {"chains": chains, "vocab": vocab, "order": 2, "samples": samples, "length": length,
            "generations": generations, "tokens": chains * generations * samples * length,
            "collapsim_s": compiled, "cold_s": cold, "numpy_s": numpy_s, "numpy_chains_timed": k,
            "numpy_over_collapsim": numpy_s / compiled, "numpy_over_cold": numpy_s / cold}


@click.command()
@click.option("--chains", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--vocab", type=click.IntRange(2), default=64, show_default=True)
@click.option("--samples", type=click.IntRange(1), default=100, show_default=True, help="Texts per generation.")
@click.option("--length", type=click.IntRange(2), default=16, show_default=True)
@click.option("--generations", type=click.IntRange(1), default=30, show_default=True)
@click.option("--loop-chains", type=click.IntRange(1), default=20, show_default=True,
              help="Chains the NumPy loop actually runs (its time is scaled to --chains).")
@click.option("--repeats", type=click.IntRange(1), default=2, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def bench_ngram_cmd(chains, vocab, samples, length, generations, loop_chains, repeats, as_json):
    """Time the n-gram loop (order 2, the known source): collapsim vs a per-chain NumPy count loop."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    r = run_bench(chains, vocab, samples, length, generations, loop_chains, repeats)
    if as_json:
        click.echo(json.dumps(r))
        return
    click.echo(f"work: {chains} chains x {generations} generations x {samples} texts x {length} tokens, V={vocab}, k=2")
    click.echo(f"  collapsim compiled {r['collapsim_s']:.3f} s, cold (with compilation) {r['cold_s']:.3f} s")
    click.echo(f"  numpy per-chain loop (timed on {r['numpy_chains_timed']} chains, scaled) {r['numpy_s']:.3f} s")
    click.echo(f"ratios: numpy / collapsim = {r['numpy_over_collapsim']:.1f}x compiled, {r['numpy_over_cold']:.1f}x cold")
