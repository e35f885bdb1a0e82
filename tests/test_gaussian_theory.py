"""Monte Carlo against the exact Gaussian theory: tolerance 4 standard errors, thousands of chains, fixed seeds."""

import numpy as np
import pytest
from scipy import stats

from collapsim.engine import LoopConfig, run_loop
from collapsim.runs.summary import summarize
from collapsim.families.gaussian import default_params, gaussian
from collapsim.theory import gaussian as th

SEEDS = 4000


def _within(values, theory, k=4.0):
    """Assert every generation's Monte Carlo mean lies within k standard errors of theory (gen 0 exact)."""
    s = summarize(values)
    np.testing.assert_allclose(s["mean"][0], theory[0], rtol=1e-6, atol=1e-6)
    z = (s["mean"][1:] - theory[1:]) / s["stderr"][1:]
    assert np.all(np.abs(z) <= k), f"max |z| = {np.abs(z).max():.2f} at generation {np.argmax(np.abs(z)) + 1}"


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("shortcut", [False, True])
def test_replace_1d_matches_every_closed_form(ddof, shortcut):
    T, n = 30, 20
    out = run_loop(gaussian(1, "full", ddof), LoopConfig("replace", n, T, shortcut), default_params(1), np.zeros(T), SEEDS, seed=11)
    _within(out["sigma2"], th.expected_sigma2(T, n, ddof))
    _within(out["mean_sq_drift"], th.expected_mean_sq_drift(T, n, ddof))
    _within(out["w2sq"], th.expected_w2sq(T, n, ddof))
    _within(np.sqrt(out["sigma2"]), th.expected_sigma(T, n, ddof))
    _within(np.log(out["sigma2"]), th.expected_log_sigma2_change(T, n, ddof))


def test_ddof0_variance_really_decays_and_ddof1_does_not():
    """Power check: the tests above can tell the two denominators apart at this size."""
    T, n = 30, 20
    out = run_loop(gaussian(1, "full", 0), LoopConfig("replace", n, T), default_params(1), np.zeros(T), SEEDS, seed=2)
    s = summarize(out["sigma2"])
    wrong = th.expected_sigma2(T, n, 1)  # the ddof-1 martingale prediction
    assert abs(s["mean"][-1] - wrong[-1]) > 4 * s["stderr"][-1]


# The schedule variants in the slow set: the constant alpha keeps both paths against the recursion by default.
@pytest.mark.parametrize("alpha_spec", ["const", pytest.param("schedule", marks=pytest.mark.slow)])
@pytest.mark.parametrize("shortcut", [False, True])
def test_mix_matches_linear_recursion(alpha_spec, shortcut):
    T, n, ddof = 30, 20, 0
    alpha = np.full(T, 0.3) if alpha_spec == "const" else 1.0 / np.arange(1, T + 1)
    out = run_loop(gaussian(1, "full", ddof), LoopConfig("mix", n, T, shortcut), default_params(1), alpha, SEEDS, seed=5)
    drift, s2 = th.mix_moments(alpha, n, ddof)
    _within(out["sigma2"], s2)
    _within(out["mean_sq_drift"], drift)


def test_multivariate_trace_determinant_and_drift():
    T, n, d = 15, 12, 3
    out = run_loop(gaussian(d, "full", 0), LoopConfig("replace", n, T), default_params(d), np.zeros(T), SEEDS, seed=7)
    _within(out["sigma2"], th.expected_sigma2(T, n, 0))
    _within(out["mean_sq_drift"], th.expected_mean_sq_drift(T, n, 0, 1.0, d))
    # det Sigma_t is close to log-normal with log-variance growing in t: past a few generations its sample
    # mean is dominated by rare chains and the sample stderr understates the error, so test early ones.
    early = 6
    _within(out["det_ratio"][:, : early + 1], th.expected_det_ratio(early, n, 0, d))


@pytest.mark.slow
def test_isotropic_w2_and_mix():
    T, n, d = 20, 10, 3
    out = run_loop(gaussian(d, "isotropic", 1), LoopConfig("replace", n, T, True), default_params(d), np.zeros(T), SEEDS, seed=8)
    _within(out["w2sq"], th.expected_w2sq(T, n, 1, 1.0, d, "isotropic"))
    alpha = np.full(T, 0.2)
    out = run_loop(gaussian(d, "isotropic", 1), LoopConfig("mix", n, T), default_params(d), alpha, SEEDS, seed=9)
    drift, s2 = th.mix_moments(alpha, n, 1, 1.0, d)
    _within(out["mean_sq_drift"], drift)
    _within(out["sigma2"], s2)


# replace is slow-only: by default test_replace_1d_matches_every_closed_form holds both paths (shortcut True and
# False) to the exact replacement moments, and the mix case below still compares the two whole distributions (KS).
@pytest.mark.parametrize("policy", [pytest.param("replace", marks=pytest.mark.slow), "mix"])
@pytest.mark.slow
def test_shortcut_and_explicit_paths_give_the_same_distribution(policy):
    T, n, alpha = 25, 16, np.full(25, 0.25)
    fam = gaussian(1, "full", 1)
    a = run_loop(fam, LoopConfig(policy, n, T, False), default_params(1), alpha, SEEDS, seed=21)
    b = run_loop(fam, LoopConfig(policy, n, T, True), default_params(1), alpha, SEEDS, seed=22)
    for metric in ("sigma2", "mean_sq_drift"):
        for g in (1, 5, T):
            x, y = np.log(a[metric][:, g]), np.log(b[metric][:, g])
            assert stats.ks_2samp(x, y).pvalue > 1e-3, (metric, g)
            se = np.hypot(x.std() / np.sqrt(len(x)), y.std() / np.sqrt(len(y)))
            assert abs(x.mean() - y.mean()) <= 4 * se, (metric, g)


@pytest.mark.slow
def test_stationary_level_under_constant_mixing():
    T, n, alpha = 200, 20, 0.2
    out = run_loop(gaussian(1, "full", 1), LoopConfig("mix", n, T, True), default_params(1), np.full(T, alpha), SEEDS, seed=4)
    tail = out["sigma2"][:, 100:].mean(axis=1)  # per-chain time average after burn-in
    _, s2_star = th.mix_stationary(alpha, n, 1)
    se = tail.std(ddof=1) / np.sqrt(SEEDS)
    assert abs(tail.mean() - s2_star) <= 4 * se
