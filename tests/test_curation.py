"""Curated synthetic data (``--curate K``): K = 1 is the uncurated loop bit for bit, the curated step's one
generation from the truth matches the exact theory within 4 standard errors, and the same Monte Carlo
refuses the theory of K - 1 draws (the test can fail on an off-by-one in K)."""

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.spec import RunSpec
from collapsim.theory import curation

SEEDS = 3000


def _run(**fields):
    options = {"vocab": fields.pop("vocab", 10), "reward": fields.pop("reward", "rank")}
    spec = RunSpec("categorical", options, {}, **{"samples": 40, "generations": 1, "seeds": SEEDS, "seed": 7,
                                                  "method": "explicit", **fields})
    spec, _, loop = resolve(spec)
    return spec, loop, simulate(spec, loop)


def _z(out, spec, loop, k):
    """z-scores at generation 1 of the Monte Carlo against the exact theory of k draws, per metric."""
    truth = loop.derived["truth"]
    reward = np.asarray(loop.params["reward"], np.float64)
    curves, _, _ = curation.predictions(truth, reward, k, spec.reward_temperature, spec.samples, spec.alpha_schedule(),
                                        np.asarray(loop.params["bottom"]))
    z = {}
    for name in ("expected_reward", "gini_simpson", "entropy", "support", "tail_mass", "sq_error"):
        x = out[name][:, 1]
        z[name] = (x.mean() - curves[name][1]) / (x.std(ddof=1) / np.sqrt(x.size))
    return z


@pytest.mark.parametrize("fields", [
    {"curate": 4, "policy": "replace"},
    # several rewards under mix: the slow set (the replace case keeps the exact map's check in the default set)
    pytest.param({"curate": 3, "policy": "mix", "alpha": "0.3", "reward_temperature": 0.5, "reward": "several"},
                 marks=pytest.mark.slow),
])
def test_one_curated_generation_matches_exact_theory_and_not_k_minus_one(fields):
    spec, loop, out = _run(**fields)
    k = spec.curate
    z = _z(out, spec, loop, k)
    assert all(abs(v) < 4 for v in z.values()), z
    wrong = _z(out, spec, loop, k - 1)  # the winner of one draw fewer: the Monte Carlo must refuse it
    assert abs(wrong["expected_reward"]) > 4, wrong


def test_curate_one_is_the_uncurated_loop_bit_for_bit():
    """K = 1 with a reward set runs the old step: every metric the unrewarded family records is identical."""
    base = dict(samples=30, generations=4, seeds=64, seed=3, method="explicit", policy="mix", alpha="0.2")
    plain, _, plain_loop = resolve(RunSpec("categorical", {"vocab": 12}, {}, **base))
    rewarded, _, loop = resolve(RunSpec("categorical", {"vocab": 12, "reward": "random"}, {}, curate=1, **base))
    a, b = simulate(plain, plain_loop), simulate(rewarded, loop)
    assert set(b) == set(a) | {"expected_reward"}
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("family,options,fields,message", [
    ("categorical", {}, {"curate": 2}, "needs a reward"),
    ("gaussian", {}, {"curate": 2}, "has no reward"),
    ("categorical", {"reward": "rank"}, {"curate": 2, "method": "shortcut"}, "no exact shortcut for curated data"),
    ("categorical", {"reward": "rank"}, {"curate": 0}, "--curate"),
    ("categorical", {"reward": "rank"}, {"curate": 2, "reward_temperature": 0.0}, "--reward-temperature"),
])
def test_curation_refusals_are_one_line(family, options, fields, message):
    with pytest.raises(ConfigError, match=message) as err:
        resolve(RunSpec(family, options, {}, generations=2, samples=5, seeds=4, **fields))
    assert "\n" not in str(err.value)


def test_winner_law_limits():
    """The integral's two limits: equal rewards keep p; a cold temperature makes the winner the best of K
    draws, P(best) = 1 - (1 - p_best)^K."""
    p = np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(curation.winner_law(p, np.zeros(3), 5, 1.0), p, atol=1e-13)
    q = curation.winner_law(p, np.array([0.0, 0.0, 1.0]), 5, 0.005)
    np.testing.assert_allclose(q[2], 1 - 0.8**5, atol=1e-12)


def test_a_law_curated_to_its_point_mass_keeps_finite_theory():
    """beta = 0.01 and K = 8 drive the ideal learner to a point mass within a few generations: its shares go
    subnormal, where scipy's binomial pmf overflowed (a traceback from `collapsim run`); the exact rows and
    the approximations must stay finite."""
    from collapsim.runs.registry import entry

    spec, e, loop = resolve(RunSpec("categorical", {"reward": "rank"}, {}, samples=2, generations=200, seeds=2,
                                    curate=8, reward_temperature=0.01))
    prediction = entry("categorical").predict(spec, loop)
    assert prediction.curves, prediction.note
    for name, curve in prediction.curves.items():
        assert np.all(np.isfinite(curve[:2])), name
        for label, a in prediction.approx[name].items():
            assert np.all(np.isfinite(a)), (name, label)


def test_an_unresolvable_ngram_reward_spread_is_a_note_not_a_traceback():
    from collapsim.runs.registry import entry

    spec, e, loop = resolve(RunSpec("ngram", {"vocab": 16, "length": 8, "init": "random", "reward": "good"}, {},
                                    samples=2, generations=5, seeds=2, curate=8, reward_temperature=0.01))
    prediction = entry("ngram").predict(spec, loop)
    assert prediction.curves == {} and "no curation theory drawn" in prediction.note
