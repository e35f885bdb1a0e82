"""``collapsim bench ngram``: the n-gram loop timed against a per-chain NumPy count loop, in one run.

The work: C chains x T generations on the LLM loop's known source (order 2), each drawing n texts of L
tokens from the current order-2 model, refitting by counts and recording every metric of the family
(:func:`collapsim.families.ngram.ngram_metrics` and ``distinct_2`` on its own fresh texts), under
``replace``. Both sides do that same work. Timed:

- collapsim: ``engine.run_loop`` as ``collapsim run ngram`` calls it, cold (the first call, compilation
  included) and compiled (median of the next calls), and the CPU seconds of one more compiled call;
- numpy: one chain at a time, each step vectorised over the chain's texts as well as NumPy allows: inverse
  CDF by one ``np.searchsorted`` per position over all rows' CDFs laid end to end (row r's CDF shifted by r,
  so the flat array is sorted and a text in context r searches r + u), counts by ``np.bincount`` of the
  bigram ids, the position marginals by one matrix-vector product per position, distinct bigrams by a
  bincount bitmap; timed on a subset of chains and scaled linearly to C.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time


def numpy_texts(opening: np.ndarray, table: np.ndarray, n: int, length: int, rng) -> np.ndarray:
    """n texts (n, L) int64 of the order-2 chain (opening (V,), table (V, V)), by inverse CDF."""
    V = table.shape[1]
    cdf = np.cumsum(table, axis=1)
    flat = (cdf / cdf[:, -1:] + np.arange(V)[:, None]).ravel()  # row r's CDF on (r, r + 1], sorted end to end
    first = np.cumsum(opening)
    x = np.empty((n, length), np.int64)
    x[:, 0] = np.minimum(np.searchsorted(first / first[-1], rng.random(n), side="right"), V - 1)
    for t in range(1, length):
        r = x[:, t - 1]
        x[:, t] = np.minimum(np.searchsorted(flat, r + rng.random(n), side="right") - r * V, V - 1)
    return x


def numpy_fit(table: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximum-likelihood refit (opening, table) on texts x (n, L); unvisited rows keep their law."""
    n, V = x.shape[0], table.shape[1]
    counts = np.bincount((x[:, :-1] * V + x[:, 1:]).ravel(), minlength=V * V).reshape(V, V).astype(np.float64)
    visits = counts.sum(axis=1, keepdims=True)
    return np.bincount(x[:, 0], minlength=V) / n, np.where(visits > 0, counts / np.where(visits > 0, visits, 1.0), table)


def _entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log(q)).sum())


def numpy_distinct(x: np.ndarray, vocab: int) -> float:
    """Distinct bigrams / bigrams within the texts x (n, L)."""
    codes = (x[:, :-1] * vocab + x[:, 1:]).ravel()
    return np.count_nonzero(np.bincount(codes, minlength=vocab * vocab)) / codes.size


def numpy_metrics(opening: np.ndarray, table: np.ndarray, real: dict, length: int) -> dict:
    """The family's deterministic metrics of one order-2 model (the definitions of
    :mod:`collapsim.families.ngram`), in float64; ``real``: unigram, real_opening, real_pairs, real_context."""
    m, p, mbar = opening, opening.copy(), np.zeros_like(opening)
    for _ in range(length - 1):
        mbar += m
        m = m @ table
        p += m
    p /= length
    u, o, W = real["unigram"], real["real_opening"], real["real_pairs"]
    alive, live = p > 0, table > 0
    logs = np.log(np.where(live, table, 1.0))
    unseen = (o @ (opening <= 0) + W[~live].sum()) / length
    loss = -(o @ np.log(np.where(opening > 0, opening, 1.0)) + (W * logs).sum()) / length
    return {
        "opening_entropy": _entropy(opening), "opening_support": float(np.count_nonzero(opening)),
        "unigram_entropy": _entropy(p), "gini_simpson": 1.0 - p @ p, "support": float(alive.sum()),
        "tail_mass": float(u[~alive].sum()),
        "kl_unigram": float((p[alive] * (np.log(p[alive]) - np.log(np.where(u > 0, u, 1.0))[alive])).sum()),
        "entropy_rate": float(mbar @ -(table * logs).sum(axis=1)) / (length - 1),
        "row_gini_simpson": float(real["real_context"] @ (1.0 - (table * table).sum(axis=1))),
        "cross_entropy": loss / (1.0 - unseen) if unseen < 1 else 0.0, "unseen_rate": float(unseen),
        "live_transitions": float(live[mbar > 0].sum()),
    }


def numpy_chain(opening, table, real: dict, n: int, length: int, generations: int, rng) -> list:
    """One order-2 chain refit on its own texts for T generations, every metric recorded (the reference)."""
    metric_texts = max(1, -(-1000 // (length - 1)))
    g, Q, out = opening, table, []
    for _ in range(generations):
        g, Q = numpy_fit(Q, numpy_texts(g, Q, n, length, rng))
        m = numpy_metrics(g, Q, real, length)
        m["distinct_2"] = numpy_distinct(numpy_texts(g, Q, metric_texts, length, rng), Q.shape[1])
        out.append(m)
    return out


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
    # CPU seconds as well (all threads): on a loaded machine the wall ratio depends on how many of the cores
    # each side gets (collapsim uses every core, the NumPy loop one), the CPU ratio much less.
    c0 = time.process_time()
    run_loop(family, cfg, params, alpha, chains)
    collapsim_cpu = time.process_time() - c0
    real = {name: np.asarray(params[name], np.float64) for name in ("unigram", "real_opening", "real_pairs", "real_context")}
    k = max(1, min(loop_chains, chains))
    rng = np.random.default_rng(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(k):
        numpy_chain(truth.opening, truth.table, real, samples, length, generations, rng)
    numpy_s = (time.perf_counter() - t0) * chains / k
    numpy_cpu = (time.process_time() - c0) * chains / k
    return {"chains": chains, "vocab": vocab, "order": 2, "samples": samples, "length": length,
            "generations": generations, "tokens": chains * generations * samples * length,
            "metrics": "all (both sides)", "collapsim_s": compiled, "cold_s": cold, "numpy_s": numpy_s,
            "numpy_chains_timed": k, "numpy_over_collapsim": numpy_s / compiled, "numpy_over_cold": numpy_s / cold,
            "collapsim_cpu_s": collapsim_cpu, "numpy_cpu_s": numpy_cpu, "numpy_over_collapsim_cpu": numpy_cpu / collapsim_cpu,
            "numpy_us_per_chain_generation": 1e6 * numpy_s / (chains * generations),
            "collapsim_us_per_chain_generation": 1e6 * compiled / (chains * generations)}


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
    """Time the n-gram loop (order 2, the known source, every metric): collapsim vs a per-chain NumPy loop."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    r = run_bench(chains, vocab, samples, length, generations, loop_chains, repeats)
    if as_json:
        click.echo(json.dumps(r))
        return
    click.echo(f"work: {chains} chains x {generations} generations x {samples} texts x {length} tokens, V={vocab}, k=2, "
               "every metric on both sides")
    click.echo(f"  collapsim compiled {r['collapsim_s']:.3f} s, cold (with compilation) {r['cold_s']:.3f} s")
    click.echo(f"  numpy per-chain loop (timed on {r['numpy_chains_timed']} chains, scaled) {r['numpy_s']:.3f} s")
    click.echo(f"ratios: numpy / collapsim = {r['numpy_over_collapsim']:.1f}x compiled, {r['numpy_over_cold']:.1f}x cold, "
               f"{r['numpy_over_collapsim_cpu']:.1f}x in CPU seconds (compiled)")
