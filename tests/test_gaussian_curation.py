"""Gaussian curation (``collapsim run gaussian --curate K --reward ...``): the built-in rewards and their
closed-form expected_reward, the winner law of theory.gaussian_curation against a direct Monte Carlo, and one
curated generation of the loop within 4 standard errors of the exact rows, which the same Monte Carlo
refuses for K - 1 draws."""

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.families import gaussian as fam
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.spec import RunSpec
from collapsim.theory import gaussian_curation as gc


# ------------------------------------------------------------------------------------------- winner law


def test_winner_moments_without_selection_and_symmetry():
    assert gc.winner_moments(0.0, 5) == (0.0, 1.0)
    assert gc.winner_moments(2.0, 1) == (0.0, 1.0)
    m1, v = gc.winner_moments(1.3, 4)
    m1_neg, v_neg = gc.winner_moments(-1.3, 4)  # a reward pointing the other way mirrors the winner
    assert m1 > 0 and m1_neg == pytest.approx(-m1, abs=1e-14) and v_neg == pytest.approx(v, abs=1e-14)
    # K = 2: E Z_W^2 = 1 exactly (the symmetry of the logistic), whatever c
    assert gc.winner_raw_moments(0.7, 2)[2] == pytest.approx(1.0, abs=1e-13)


def test_winner_moments_grid_converged_and_monotone():
    for c, k in [(0.05, 3), (1.0, 8), (40.0, 4)]:
        np.testing.assert_allclose(gc.winner_raw_moments(c, k), gc.winner_raw_moments(c, k, step=0.05), atol=1e-12)
    means = [gc.winner_moments(1.0, k)[0] for k in (2, 3, 4, 8)]
    assert np.all(np.diff(means) > 0)  # more draws, a better winner
    limit = gc.max_normal_moments(4)[0]
    assert gc.winner_moments(3.0, 4)[0] < gc.winner_moments(30.0, 4)[0] < limit  # noise only hurts the winner


def _mc_winner(c, k, draws, seed):
    """Z of the softmax winner among K N(0, 1) draws with logits c Z_j, sampled with explicit probabilities."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, k))
    p = np.exp(c * (z - z.max(axis=1, keepdims=True)))
    p /= p.sum(axis=1, keepdims=True)
    win = (rng.random((draws, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return z[np.arange(draws), win]


def test_winner_moments_match_monte_carlo_and_refuse_k_minus_one():
    c, k = 1.5, 4
    zw = _mc_winner(c, k, 200_000, 11)
    se_mean = zw.std(ddof=1) / np.sqrt(zw.size)
    se_var = np.sqrt(((zw - zw.mean()) ** 2).var(ddof=1) / zw.size)
    m1, v = gc.winner_moments(c, k)
    assert abs(zw.mean() - m1) < 4 * se_mean and abs(zw.var(ddof=1) - v) < 4 * se_var
    assert abs(zw.mean() - gc.winner_moments(c, k - 1)[0]) > 4 * se_mean


# ---------------------------------------------------------------------------------------------- rewards


def _params(name, dim=2, scale=0.5, target=1.5):
    return fam.reward_params(name, dim, scale, target)


def test_point_rewards_by_hand():
    x = np.array([[1.0, 2.0], [-0.5, 0.0], [3.0, -1.0]], np.float32)
    np.testing.assert_allclose(fam.point_rewards("linear", x, _params("linear")), [[0.5], [-0.25], [1.5]], rtol=1e-6)
    # target x* = (1.5, 0), a = 0.5: -0.5 * ||x - x*||^2
    np.testing.assert_allclose(fam.point_rewards("target", x, _params("target")), [[-2.125], [-2.0], [-1.625]],
                               rtol=1e-6)
    several = np.asarray(fam.point_rewards("several", x, _params("several")))
    assert several.shape == (3, 2)  # R = 2: +t e_1 then -t e_1
    np.testing.assert_allclose(several[:, 1], [-0.5 * 10.25, -0.5 * 1.0, -0.5 * 21.25], rtol=1e-6)


@pytest.mark.parametrize("name", ["linear", "target", "several"])
def test_expected_reward_closed_form_against_monte_carlo(name):
    mean = np.array([0.4, -0.3], np.float32)
    cov = np.array([[1.2, 0.3], [0.3, 0.5]], np.float32)
    params = _params(name)
    x = np.random.default_rng(5).multivariate_normal(mean, cov, 400_000).astype(np.float32)
    r = np.asarray(fam.point_rewards(name, x, params), np.float64).mean(axis=1)  # mean over the R rewards
    exact = float(fam.model_expected_reward(name, mean, cov, params))
    assert abs(r.mean() - exact) < 4 * r.std(ddof=1) / np.sqrt(r.size), (r.mean(), exact)


def test_unknown_reward_and_curating_without_one_are_one_line():
    with pytest.raises(ConfigError, match="unknown --reward"):
        fam.gaussian(1, "full", 1, 0, "best")
    with pytest.raises(ConfigError, match="needs a reward") as err:
        resolve(RunSpec("gaussian", {}, {}, generations=2, samples=5, seeds=4, curate=2))
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------- one curated generation

SEEDS = 4000


def _generation_one(options, **fields):
    spec = RunSpec("gaussian", {"reward": "linear", **options}, {},
                   **{"samples": 20, "generations": 1, "seeds": SEEDS, "seed": 3, **fields})
    spec, entry, loop = resolve(spec)
    return spec, entry, simulate(spec, loop)


def _z(out, curves):
    return {name: (out[name][:, 1].mean() - curves[name][1]) / (out[name][:, 1].std(ddof=1) / np.sqrt(SEEDS))
            for name in ("expected_reward", "mean_sq_drift", "sigma2")}


@pytest.mark.parametrize("options,fields", [
    # the categorical K vs K - 1 check stays in the default set (test_curation); the Gaussian's runs in the slow set
    pytest.param({"reward_scale": 1.0}, {"curate": 4, "policy": "replace"}, marks=pytest.mark.slow),
    pytest.param({"dim": 2, "variance": 2.0, "reward_scale": -0.7, "ddof": 0},
                 {"curate": 3, "policy": "mix", "alpha": "0.3", "reward_temperature": 0.5}, marks=pytest.mark.slow),
])
def test_one_curated_generation_matches_exact_rows_and_not_k_minus_one(options, fields):
    spec, entry, out = _generation_one(options, **fields)
    z = _z(out, entry.predict(spec, None).curves)
    assert all(abs(v) < 4 for v in z.values()), z
    wrong = _z(out, entry.predict(spec.replace(curate=spec.curate - 1), None).curves)
    assert abs(wrong["expected_reward"]) > 4, wrong


def test_uncurated_rewards_keep_their_exact_expected_reward():
    """K = 1 with a target reward: E r = -a (t^2 + E ||mu||^2 + d E s^2) from the exact G1/G4 curves."""
    spec = RunSpec("gaussian", {"reward": "target", "reward_scale": 0.5, "reward_target": 1.0}, {},
                   samples=10, generations=3, seeds=SEEDS, seed=1)
    spec, entry, loop = resolve(spec)
    out = simulate(spec, loop)
    theory = entry.predict(spec, loop).curves["expected_reward"]
    x = out["expected_reward"]
    z = (x.mean(axis=0) - theory)[1:] / (x.std(axis=0, ddof=1)[1:] / np.sqrt(SEEDS))
    assert np.all(np.abs(z) < 4), z


def _gmm(**fields):
    options = {"dim": 1, "covariance": "diag", "reward": "linear", "reward_scale": 0.5, "truth_weight": 0.3,
               "holdout": 64, "max_iter": 20}
    return resolve(RunSpec("gmm", options, {}, **{"samples": 50, "generations": 1, "seeds": 16, "seed": 2, **fields}))


@pytest.mark.slow  # ~20 s of GMM compilation; the Gaussian's rewards keep the default set's check
def test_gmm_linear_reward_and_expected_reward():
    """GMM --reward linear: r(x) = a x_1, and expected_reward = a sum_k pi_k mu_k1 of the model; at the truth
    a (w mu_left + (1 - w) mu_right) = 0.5 (0.3 (-2) + 0.7 (2)) = 0.4."""
    import jax

    _, _, loop = _gmm()
    family, params = loop.family, loop.params
    model = family.init(jax.random.PRNGKey(0), params)
    assert float(family.metrics(jax.random.PRNGKey(1), model, params)["expected_reward"]) == pytest.approx(0.4, abs=1e-6)
    x = np.array([[1.0], [-3.0]], np.float32)
    np.testing.assert_allclose(family.reward(x, params), [[0.5], [-1.5]])
    with pytest.raises(ConfigError, match="needs a reward"):
        resolve(RunSpec("gmm", {"dim": 1}, {}, curate=2, generations=1, samples=50, seeds=4))


@pytest.mark.slow
def test_gmm_curation_raises_expected_reward():
    spec, _, loop = _gmm(curate=4)
    out = simulate(spec, loop)
    assert out["expected_reward"][:, 0] == pytest.approx(0.4, abs=1e-6)
    assert out["expected_reward"][:, 1].mean() > 0.4 + 0.2


@pytest.mark.slow  # two compilations (~40 s); test_curation keeps K = 1 bit for bit in the default set
def test_a_reward_without_curation_changes_no_gaussian_number():
    """--reward linear at K = 1 only adds expected_reward: every other metric is the plain run's, to float32
    rounding (the extra metric output changes how XLA fuses the fit's reductions: ~1e-7 apart, not bitwise)."""
    base = dict(samples=10, generations=3, seeds=32, seed=4, method="explicit", policy="mix", alpha="0.2")
    plain, _, plain_loop = resolve(RunSpec("gaussian", {}, {}, **base))
    rewarded, _, loop = resolve(RunSpec("gaussian", {"reward": "linear"}, {}, **base))
    a, b = simulate(plain, plain_loop), simulate(rewarded, loop)
    assert set(b) == set(a) | {"expected_reward"}
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-5, err_msg=name)
