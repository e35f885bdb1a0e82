"""``collapsim bench gmm``: the GMM refit loop against scikit-learn's ``GaussianMixture`` in a per-chain loop.

The Shumailov et al. setting: 2 components, d = 2, full covariances, N points per generation, C chains under
pure replacement, T generations, EM with tol 1e-3, at most 100 iterations, reg_covar 1e-6, and a k-means
start (collapsim: k-means++ seeding and at most 10 Lloyd steps; scikit-learn: ``init_params="kmeans"``, its
default: k-means++ seeding and Lloyd steps to KMeans' own tolerance, ``n_init=1``). The reference loop is how
the published experiments run: per chain and generation, ``GaussianMixture.fit`` on the N points, then
``sample(N)`` for the next generation. It runs in a subprocess with OpenBLAS/MKL/OpenMP held to one thread
(environment variables before NumPy loads, and threadpoolctl), on ``--loop-chains`` chains, scaled linearly to
C. collapsim runs ``run_loop`` (both host devices: all cores) with BLAS held to one thread as well, its
metrics kept negligible (a 16-point holdout, one projection) since the reference records only the fit.
Reported: the wall time a user waits the first time (``cold``: compilation included) and the compiled time
(median of ``--repeats``), and the reference's time; the ratio is reference / compiled collapsim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def sklearn_chains(chains: int, generations: int, samples: int, init: str = "kmeans", seed: int = 0) -> dict:
    """The reference: ``chains`` chains of ``generations`` GaussianMixture refits (one process, one thread).

    Returns {"seconds": wall time of the loop, "smaller_weight": (chains,) the smaller component weight at
    the last generation, "iterations": mean EM iterations per fit}."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    means = np.array([[-2.0, 0.0], [2.0, 0.0]])
    smaller, iters = [], []
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        for _ in range(chains):
            comp = rng.random(samples) < 0.5  # generation 0: the truth, 0.5 N(-2 e1, I) + 0.5 N(+2 e1, I)
            x = means[comp.astype(int)] + rng.standard_normal((samples, 2))
            for _ in range(generations):
                gm = GaussianMixture(2, covariance_type="full", tol=1e-3, max_iter=100, reg_covar=1e-6,
                                     init_params=init, n_init=1, random_state=int(rng.integers(2**31)))
                gm.fit(x)
                iters.append(gm.n_iter_)
                x = gm.sample(samples)[0]
            smaller.append(float(gm.weights_.min()))
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "smaller_weight": smaller, "iterations": float(np.mean(iters))}


def sklearn_reference(chains: int, generations: int, samples: int, init: str = "kmeans") -> dict:
    """:func:`sklearn_chains` in a fresh Python whose BLAS and OpenMP pools are one thread from the start."""
    code = ("import json, sys; from collapsim.commands.bench.gmm import sklearn_chains; "
            f"print(json.dumps(sklearn_chains({chains}, {generations}, {samples}, {init!r})))")
    env = {**os.environ, **ONE_THREAD}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise click.ClickException(f"the scikit-learn reference failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def collapsim_times(chains: int, generations: int, samples: int, repeats: int) -> dict:
    """collapsim's loop: cold wall seconds (the first call, compilation included), compiled median seconds,
    and the smaller component weight (chains,) at the last generation."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.engine.devices import one_blas_thread
    from collapsim.families.gmm import gmm, make_params, two_component_truth

    family = gmm(2, 2, "full", "kmeans++", 100)
    params = make_params(*two_component_truth(2), holdout_size=16, directions=1)
    cfg = LoopConfig("replace", samples, generations)
    alpha = np.zeros(generations, np.float32)
    out = {}

    def once():
        out["metrics"] = run_loop(family, cfg, params, alpha, chains)

    with one_blas_thread():
        compiled, cold = compiled_median_time(once, repeats)
    w = out["metrics"]
    return {"cold_s": cold, "compiled_s": compiled, "smaller_weight": np.minimum(w["weight_1"], w["weight_2"])[:, -1]}


def run_bench(chains: int, generations: int, samples: int, loop_chains: int, repeats: int, init: str = "kmeans",
              say=lambda s: None) -> dict:
    say(f"collapsim: {chains} chains x {generations} generations (the first call compiles)")
    ours = collapsim_times(chains, generations, samples, repeats)
    k = max(1, min(loop_chains, chains))
    say(f"scikit-learn GaussianMixture loop on {k} chains, one thread")
    ref = sklearn_reference(k, generations, samples, init)
    loop_s = ref["seconds"] * chains / k
    fits = chains * generations
    ws, wr = np.asarray(ours["smaller_weight"]), np.asarray(ref["smaller_weight"])
    return {"chains": chains, "generations": generations, "samples": samples, "loop_chains_timed": k,
            "sklearn_init": init, "collapsim_cold_s": ours["cold_s"], "collapsim_s": ours["compiled_s"],
            "sklearn_s": loop_s, "sklearn_ms_per_fit": 1e3 * ref["seconds"] / (k * generations),
            "collapsim_ms_per_fit": 1e3 * ours["compiled_s"] / fits, "sklearn_iterations": ref["iterations"],
            "ratio": loop_s / ours["compiled_s"], "ratio_cold": loop_s / ours["cold_s"],
            # the loops' state after T generations, which should agree within sampling error
            "smaller_weight_collapsim": [float(ws.mean()), float(ws.std(ddof=1) / np.sqrt(len(ws)))],
            "smaller_weight_sklearn": [float(wr.mean()), float(wr.std(ddof=1) / np.sqrt(len(wr))) if len(wr) > 1 else float("nan")]}


def format_report(r: dict) -> str:
    sc, ss = r["smaller_weight_collapsim"], r["smaller_weight_sklearn"]
    return "\n".join([
        f"GMM K=2 d=2 full, N={r['samples']}, {r['chains']} chains x {r['generations']} generations, tol 1e-3, max_iter 100",
        f"collapsim          compiled {r['collapsim_s']:8.2f} s  ({r['collapsim_ms_per_fit']:.3f} ms/fit, all cores)"
        f"   cold (compile included) {r['collapsim_cold_s']:.2f} s",
        f"scikit-learn loop           {r['sklearn_s']:8.2f} s  ({r['sklearn_ms_per_fit']:.3f} ms/fit, one thread, init "
        f"{r['sklearn_init']!r}, {r['sklearn_iterations']:.1f} EM iterations/fit; timed on {r['loop_chains_timed']} chains, scaled)",
        f"ratio (loop / collapsim): {r['ratio']:.1f}x compiled, {r['ratio_cold']:.1f}x cold",
        f"smaller weight at T: collapsim {sc[0]:.4f} +- {sc[1]:.4f}, scikit-learn {ss[0]:.4f} +- {ss[1]:.4f} (mean +- SE)"])


@click.command()
@click.option("--chains", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--generations", type=click.IntRange(1), default=20, show_default=True)
@click.option("--samples", type=click.IntRange(2), default=1000, show_default=True, help="Points per generation (N).")
@click.option("--loop-chains", type=click.IntRange(1), default=20, show_default=True,
              help="Chains actually run by the scikit-learn loop (its time is scaled to --chains).")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--sklearn-init", type=click.Choice(["kmeans", "k-means++"]), default="kmeans", show_default=True,
              help="GaussianMixture's init_params: k-means++ seeding then Lloyd steps (kmeans), or seeding only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def bench_gmm_cmd(chains, generations, samples, loop_chains, repeats, sklearn_init, as_json):
    """Time the GMM refit loop: collapsim vs scikit-learn's GaussianMixture per chain, in one run."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise click.ClickException("bench gmm needs scikit-learn: pip install 'collapsim[bench]'") from None
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    r = run_bench(chains, generations, samples, loop_chains, repeats, sklearn_init, say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(r) if as_json else format_report(r))
