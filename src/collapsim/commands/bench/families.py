"""``collapsim bench families``: regression, KDE and GMM loops timed against per-chain NumPy loops in one run.

For each family the same work (C chains x T generations x n points, replace; regression also under
accumulate) is run by the engine (``run_loop``: jitted scan over generations, vmap over chains, one host
device per core; compilation timed separately and excluded; the median of ``repeats`` runs) and by a
per-chain NumPy loop written the way the papers' code runs one chain (``numpy.linalg.lstsq`` on the stacked
design; the KDE as index-and-jitter; EM with k-means++ seeding, Lloyd steps and full covariances as
scikit-learn's GaussianMixture does, which is not installed here), timed on a subset of chains and scaled
linearly to C (chains are independent work). Ratios only: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import time

import click
import numpy as np

from collapsim.commands.bench.timing import compiled_median_time

FAMILIES = ("regression", "kde", "gmm")


# ------------------------------------------------------------------------------------ per-chain references


def regression_chain(rng, d: int, n: int, T: int, accumulate: bool) -> list:
    """One chain: a fixed design relabelled by the previous fit; test error per generation."""
    x = rng.standard_normal((n, d))
    w_star = np.full(d, 1 / np.sqrt(d))
    w, ys, errs = w_star, [], []
    for t in range(1, T + 1):
        ys.append(x @ w + rng.standard_normal(n))
        if accumulate:
            w = np.linalg.lstsq(np.vstack([x] * t), np.concatenate(ys), rcond=None)[0]
        else:
            w = np.linalg.lstsq(x, ys[-1], rcond=None)[0]
            ys.clear()
        errs.append(float((w - w_star) @ (w - w_star)))
    return errs


def kde_chain(rng, n: int, T: int, h: float) -> list:
    points = rng.standard_normal(n)
    out = []
    for _ in range(T):
        points = points[rng.integers(0, n, n)] + h * rng.standard_normal(n)
        out.append((points.var() + h * h, points.mean() ** 2))
    return out


def _kmeans_pp(rng, x, K, steps=10):
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, K):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
        centres.append(x[rng.choice(len(x), p=p)])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(steps):
        lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.array([x[lab == k].mean(0) if np.any(lab == k) else c[k] for k in range(K)])
    lab = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
    return np.eye(K)[lab]


def _m_step(x, r, reg):
    nk = r.sum(0) + 1e-10
    means = r.T @ x / nk[:, None]
    covs = np.stack([(r[:, k, None] * (x - means[k])).T @ (x - means[k]) / nk[k] for k in range(r.shape[1])])
    return nk / nk.sum(), means, covs + reg * np.eye(x.shape[1])


def _log_dens(x, weights, means, covs):
    out = []
    for w, m, c in zip(weights, means, covs):
        L = np.linalg.cholesky(c)
        y = np.linalg.solve(L, (x - m).T)
        out.append(np.log(w) - 0.5 * ((y * y).sum(0) + 2 * np.log(np.diag(L)).sum() + x.shape[1] * np.log(2 * np.pi)))
    return np.stack(out, 1)


def gmm_fit(rng, x, K=2, reg=1e-6, tol=1e-3, max_iter=100):
    """EM with k-means++ start, full covariances: a NumPy transcription of GaussianMixture.fit."""
    params = _m_step(x, _kmeans_pp(rng, x, K), reg)
    prev = -np.inf
    for _ in range(max_iter):
        lp = _log_dens(x, *params)
        top = lp.max(1, keepdims=True)
        ll_n = top[:, 0] + np.log(np.exp(lp - top).sum(1))
        ll = ll_n.mean()
        params = _m_step(x, np.exp(lp - ll_n[:, None]), reg)
        if abs(ll - prev) < tol:
            break
        prev = ll
    return params


def gmm_chain(rng, n: int, T: int, d: int = 2) -> list:
    weights, means = np.array([0.5, 0.5]), np.zeros((2, d))
    means[:, 0] = [-2, 2]
    covs = np.stack([np.eye(d)] * 2)
    out = []
    for _ in range(T):
        comp = rng.choice(2, size=n, p=weights)
        L = np.linalg.cholesky(covs)
        x = means[comp] + np.einsum("nij,nj->ni", L[comp], rng.standard_normal((n, d)))
        weights, means, covs = gmm_fit(rng, x)
        out.append(weights.min())
    return out


# ------------------------------------------------------------------------------------------------- bench


def _engine(family, params, policy: str, n: int, T: int, chains: int, repeats: int) -> tuple[float, float]:
    from collapsim.engine import LoopConfig, run_loop

    cfg = LoopConfig(policy, n, T)
    alpha = np.zeros(T, np.float32)
    return compiled_median_time(lambda: run_loop(family, cfg, params, alpha, chains), repeats)


def _reference(chain_fn, loop_chains: int, chains: int) -> float:
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(loop_chains):
        chain_fn(rng)
    return (time.perf_counter() - t0) * chains / loop_chains


def cases(family: str, chains: int, generations: int):
    """(label, engine builder, reference chain function, n, T, policy) for one family's benchmark."""
    if family == "regression":
        from collapsim.families.regression import default_params, regression

        d, n = 10, 100
        for policy in ("replace", "accumulate"):
            yield (f"regression d={d} n={n} {policy}", lambda: (regression(d, n), default_params(d)),
                   lambda rng, p=policy: regression_chain(rng, d, n, generations, p == "accumulate"), n, generations, policy)
    elif family == "kde":
        from collapsim.families.kde import kde, make_params

        n, h = 100, 0.2
        yield (f"kde d=1 n={n} h={h}", lambda: (kde(1, n), make_params("gaussian", 1, h)),
               lambda rng: kde_chain(rng, n, generations, h), n, generations, "replace")
    else:
        from collapsim.families.gmm import gmm, make_params, two_component_truth

        n = 1000
        # a 16-point holdout and one projection: the reference records only the fit, so the engine's
        # metrics are kept negligible to compare the same work (EM)
        yield (f"gmm K=2 d=2 full n={n} kmeans++", lambda: (gmm(2, 2, "full", "kmeans++", 100),
                                                             make_params(*two_component_truth(2), holdout_size=16,
                                                                         directions=1)),
               lambda rng: gmm_chain(rng, n, generations), n, generations, "replace")


def run_bench(family: str, chains: int, generations: int, loop_chains: int, repeats: int, say=lambda s: None) -> list:
    rows = []
    for label, build, chain_fn, n, T, policy in cases(family, chains, generations):
        say(f"{label}: compiling and timing collapsim")
        fam, params = build()
        engine_s, compile_s = _engine(fam, params, policy, n, T, chains, repeats)
        k = max(1, min(loop_chains, chains))
        say(f"{label}: timing the per-chain NumPy loop on {k} chains")
        loop_s = _reference(chain_fn, k, chains)
        rows.append({"case": label, "chains": chains, "generations": T, "samples": n, "collapsim_s": engine_s,
                     "compile_s": compile_s, "loop_s": loop_s, "loop_chains_timed": k, "loop_over_collapsim": loop_s / engine_s})
    return rows


def format_report(rows: list) -> str:
    lines = [f"{'case':<38}{'chains x T':>12}{'collapsim s':>13}{'compile s':>11}{'numpy loop s':>14}{'ratio':>8}"]
    for r in rows:
        lines.append(f"{r['case']:<38}{r['chains']:>6} x {r['generations']:<4}{r['collapsim_s']:>13.3f}{r['compile_s']:>11.2f}"
                     f"{r['loop_s']:>14.2f}{r['loop_over_collapsim']:>7.1f}x")
    lines.append("numpy loop: one chain at a time, timed on --loop-chains chains and scaled to --chains; ratio = loop / collapsim")
    return "\n".join(lines)


@click.command()
@click.option("--family", type=click.Choice(FAMILIES + ("all",)), default="all", show_default=True)
@click.option("--chains", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--generations", type=click.IntRange(1), default=20, show_default=True)
@click.option("--loop-chains", type=click.IntRange(1), default=20, show_default=True,
              help="Chains actually run by the per-chain loop (its time is scaled to --chains).")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list instead of the table.")
def bench_families_cmd(family, chains, generations, loop_chains, repeats, as_json):
    """Time the regression, KDE and GMM loops: collapsim vs a per-chain NumPy loop, in one run."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    rows = []
    for fam in FAMILIES if family == "all" else (family,):
        rows += run_bench(fam, chains, generations, loop_chains, repeats, say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(rows) if as_json else format_report(rows))
