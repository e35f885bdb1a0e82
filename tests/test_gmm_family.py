"""Gaussian mixture refit by EM: EM recovers a well-separated truth within sampling error, its log-likelihood
never decreases, collapsed components stay finite, and the CLI writes a run folder."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

import jax
import jax.numpy as jnp

from collapsim.commands.cli import main
from collapsim.families import gmm as G


def _fits(family, params, n, chains, seed=0):
    keys = jax.random.split(jax.random.key(seed), chains)

    def one(key):
        k1, k2 = jax.random.split(key)
        x = family.sample_real(k1, params, n)
        return family.fit(k2, None, x, None, params)

    return jax.tree.map(np.asarray, jax.jit(jax.vmap(one))(keys))


@pytest.mark.parametrize("covariance,init", [("full", "kmeans++"), ("diag", "kmeans++")])
def test_em_recovers_a_well_separated_mixture_within_sampling_error(covariance, init):
    """Truth 0.3 N(-3 e1, I) + 0.7 N(3 e1, I) in d = 2, n = 2000, 64 independent fits. Each fit is within 5
    sampling sd of the truth (weight sd sqrt(w(1-w)/n), mean sd 1/sqrt(n w), variance sd sqrt(2/(n w))),
    and the average over fits within 4 standard errors (no bias)."""
    n, chains = 2000, 64
    weights, means, covs = G.two_component_truth(2, 6.0, 0.3)
    params = G.make_params(weights, means, covs)
    fits = _fits(G.gmm(2, 2, covariance, init), params, n, chains)
    order = np.argsort(fits["means"][:, :, 0], axis=1)
    take = lambda a: np.take_along_axis(a, order.reshape(order.shape + (1,) * (a.ndim - 2)), 1)  # noqa: E731
    w, mu = take(fits["weights"]), take(fits["means"])
    var = take(fits["covs"]) if covariance == "diag" else np.diagonal(take(fits["covs"]), axis1=2, axis2=3)
    sd = {"w": np.sqrt(weights * (1 - weights) / n), "mu": 1 / np.sqrt(n * weights), "var": np.sqrt(2 / (n * weights))}
    for est, truth, s in ((w, weights, sd["w"]), (mu[:, :, 0], means[:, 0], sd["mu"]), (mu[:, :, 1], means[:, 1], sd["mu"]),
                          (var[:, :, 0], 1.0, sd["var"]), (var[:, :, 1], 1.0, sd["var"])):
        assert np.all(np.abs(est - truth) <= 5 * s), (est, truth)
        se = est.std(0, ddof=1) / np.sqrt(chains)
        assert np.all(np.abs(est.mean(0) - truth) <= 4 * se + 1e-6), (est.mean(0), truth, se)
        assert np.all(est.std(0) < 1.5 * s)  # and no more spread than sampling error: EM found the optimum each time


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_em_log_likelihood_never_decreases(covariance):
    """Three components fitted to two overlapping ones from random responsibilities (a slow climb): over 60
    iterations and 32 data sets the mean log-likelihood climbs and never falls by more than float32
    rounding (1e-6 relative; EM's ascent property, Dempster et al. 1977, theorem 1)."""
    params = G.make_params(*G.two_component_truth(2, 1.5, 0.4))
    fam = G.gmm(2, 3, covariance, "random")
    w = jnp.ones((500,))

    def trace(key):
        k1, k2 = jax.random.split(key)
        x = fam.sample_real(k1, params, 500)
        r = jax.random.uniform(k2, (500, 3))
        start = G.m_step(x, w, r / r.sum(1, keepdims=True), params["reg"], covariance == "full")
        return G.em_trace(x, w, start, params["reg"], 60, covariance == "full")

    lls = np.asarray(jax.jit(jax.vmap(trace))(jax.random.split(jax.random.key(4), 32)), np.float64)
    steps = np.diff(lls, axis=1)
    assert np.all(steps >= -1e-6 * np.abs(lls[:, 1:])), steps.min()
    gain = lls[:, -1] - lls[:, 0]
    assert np.all(gain > 0) and np.median(gain) > 0.005, gain  # a real climb, so the check has teeth


def test_a_component_that_loses_every_point_is_a_finite_legal_state():
    fam = G.gmm(1, 3, "full", "kmeans++")
    params = G.make_params(*G.two_component_truth(1, 4.0))
    x = jnp.full((10, 1), 2.0)  # every point identical: two components get nothing, one gets zero variance
    model = jax.jit(fam.fit)(jax.random.key(0), None, x, None, params)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in model.values())
    assert np.sum(np.asarray(model["weights"]) > 0.5) == 1 and np.min(np.asarray(model["weights"])) < 1e-5
    assert np.all(np.isfinite(np.asarray(jax.jit(fam.sample, static_argnums=2)(jax.random.key(1), model, 50, params))))
    assert all(np.isfinite(float(v)) for v in jax.jit(fam.metrics)(jax.random.key(2), model, params).values())


@pytest.mark.slow
def test_cli_gmm_run_folder(tmp_path):
    out = tmp_path / "g"
    res = CliRunner().invoke(main, ["run", "gmm", "--generations", "3", "--samples", "200", "--seeds", "8",
                                    "--init", "warm", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    names = {r["metric"] for r in rows}
    assert {"weight_1", "weight_2", "mean_1", "var_2", "active", "heldout_ll", "sliced_w2sq", "tail_mass"} <= names
    assert all(np.isfinite(float(r["mean"])) for r in rows)
    first = {r["metric"]: float(r["mean"]) for r in rows if r["generation"] == "0"}
    assert first["weight_1"] == 0.5 and first["mean_1"] == -2.0 and first["active"] == 2.0  # generation 0 is the truth


@pytest.mark.parametrize("bad", [["--components", "0"], ["--init", "nope"], ["--truth-weight", "1.5"], ["--max-iter", "0"]])
def test_bad_options_are_one_line_errors(tmp_path, bad):
    out = tmp_path / "never"
    res = CliRunner().invoke(main, ["run", "gmm", "--generations", "2", "--seeds", "4", "--out", str(out), *bad])
    assert res.exit_code == 2, res.output
    assert not out.exists()


@pytest.mark.slow
def test_shumailov_experiment_runs_small(tmp_path, capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "shumailov_gmm.py"
    spec = importlib.util.spec_from_file_location("shumailov_gmm", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--chains", "16", "--generations", "4", "--samples", "60", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "wall time" in printed and "both components active" in printed
    assert (tmp_path / "shumailov_gmm.png").stat().st_size > 10_000
