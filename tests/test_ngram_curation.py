"""Curated n-gram runs (``run ngram --curate K --reward ...``): rewards summed over a text, the exact
expected_reward metric, one curated generation against the theory of :mod:`collapsim.theory.ngram_curation`
within 4 SE (and the theory of K - 1 draws refused), and the one-line refusals."""

import dataclasses

import numpy as np
import pytest

import jax.numpy as jnp

from collapsim.errors import ConfigError
from collapsim.families import ngram as G
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.spec import RunSpec
from collapsim.theory import ngram_curation as nc


def _resolve(options, **fields):
    spec = RunSpec("ngram", {"vocab": 6, "length": 6, "init": "random", "branching": 3, **options}, {},
                   **{"generations": 1, "seed": 5, "method": "explicit", **fields})
    return resolve(spec)


def _z(x, value):
    return (x.mean() - value) / (x.std(ddof=1) / np.sqrt(x.size))


def _ideal_reward(spec, loop, k):
    """The ideal learner's expected reward after one generation of K = k curation (eq. NC3), from the run's
    generation-0 model; independent of the entry's adapter except for the theory module."""
    V, L, order = spec.family_options["vocab"], spec.family_options["length"], spec.family_options["order"]
    reward = np.asarray(loop.params["reward"], np.float64)
    opening = np.asarray(loop.params["init_opening"], np.float64)
    table = np.asarray(loop.params["init_table"], np.float64)
    opening, table = opening / opening.sum(), table / table.sum(axis=1, keepdims=True)
    step = G.reward_lattice(spec.family_options["reward"], V)
    units = np.rint(reward / step).astype(int)
    model = nc.curated_map(opening, table, units, step, k, spec.reward_temperature, L, order)
    return nc.model_metrics(*model, reward, L, order)["expected_reward"]


def _numpy_texts(chain, n: int, length: int, seed: int) -> np.ndarray:
    """n texts (n, L) of an order-2 chain drawn with NumPy (independent of the family's sampler)."""
    r = np.random.default_rng(seed)
    x = np.empty((n, length), int)
    x[:, 0] = r.choice(chain.vocab, n, p=chain.opening)
    cdf = np.cumsum(chain.table, axis=1)
    for t in range(1, length):
        x[:, t] = np.minimum((r.random(n)[:, None] > cdf[x[:, t - 1]]).sum(axis=1), chain.vocab - 1)
    return x


def test_text_rewards_sum_tokens_and_expected_reward_is_the_mean_over_sampled_texts():
    chain = G.random_chain(5, 2, 3, seed=2)
    reward = G.reward_vectors("several", G.unigram_law(chain, 7), seed=1)
    assert reward.shape == (3, 5) and reward.sum(axis=0).max() == 1  # disjoint quarters
    x = _numpy_texts(chain, 20000, 7, seed=3)
    r = np.asarray(G.text_rewards(jnp.asarray(x, jnp.int32), jnp.asarray(reward, jnp.float32)))
    np.testing.assert_array_equal(r[:3], [[reward[j, t].sum() for j in range(3)] for t in x[:3]])
    got = float(G.expected_text_reward(jnp.asarray(chain.opening, jnp.float32), jnp.asarray(chain.table, jnp.float32),
                                       jnp.asarray(reward, jnp.float32), 7, 2))
    assert abs(_z(r.mean(axis=1), got)) < 4  # independent texts, so the per-text mean reward has its usual SE
    assert abs(_z(r.mean(axis=1), got * 6 / 7)) > 4  # one position fewer: refused
    assert abs(got - nc.model_metrics(chain.opening, chain.table, reward, 7, 2)["expected_reward"]) < 1e-5


@pytest.mark.slow  # ~18 s of ngram compilation; the rewards and theory keep cheap checks and proofs_check
def test_one_curated_generation_matches_the_ideal_learner_and_not_k_minus_one():
    """k = 2, --reward good, K = 4, n = 500 texts: the ideal learner (n = inf) is off by O(1/n), well under the
    SE of 40 chains; the opening law's entropy and support at generation 1 are exact at any n."""
    spec, _, loop = _resolve({"reward": "good"}, curate=4, samples=500, seeds=40)
    out = simulate(spec, loop)
    x = out["expected_reward"][:, 1]
    assert abs(_z(x, _ideal_reward(spec, loop, 4))) < 4
    assert abs(_z(x, _ideal_reward(spec, loop, 3))) > 4  # one draw fewer: the Monte Carlo refuses it
    prediction = G.predict(spec, loop)
    assert prediction.approx["expected_reward"][G.IDEAL_LABEL][1] == pytest.approx(_ideal_reward(spec, loop, 4))
    for name in ("opening_entropy", "opening_support"):
        exact = prediction.curves[name][1]
        x = out[name][:, 1]
        assert np.isclose(x.mean(), exact, atol=1e-9) if x.std() == 0 else abs(_z(x, exact)) < 4, name


@pytest.mark.slow  # a second compiled loop (k = 1): about 15 s of CPU on the loaded 2-core machine
def test_order_one_expected_reward_is_exact_at_small_n_and_refuses_k_minus_one():
    """k = 1 (a unigram model), mix alpha 0.3, --reward rank, K = 3, n = 8 texts: the refit row is linear in the
    counts, so generation 1's expected reward is exact (theory column)."""
    spec, _, loop = _resolve({"reward": "rank", "order": 1}, curate=3, samples=8, seeds=1500, policy="mix",
                             alpha="0.3")
    out = simulate(spec, loop)
    x = out["expected_reward"][:, 1]
    assert abs(_z(x, G.predict(spec, loop).curves["expected_reward"][1])) < 4
    wrong = dataclasses.replace(spec, curate=2)
    assert abs(_z(x, G.predict(wrong, loop).curves["expected_reward"][1])) > 4


def test_theory_notes_where_there_is_no_exact_curation_theory():
    spec, _, loop = _resolve({"reward": "random"}, curate=2, samples=5, seeds=2)
    assert "lattice" in G.predict(spec, loop).note
    spec, _, loop = _resolve({"reward": "good"}, curate=2, samples=5, seeds=2, policy="accumulate")
    assert "no curation theory" in G.predict(spec, loop).note


@pytest.mark.parametrize("options,fields,message", [
    ({}, {"curate": 2}, "needs a reward to curate by: --reward good"),
    ({"reward": "good"}, {"curate": 2, "method": "shortcut"}, "no exact shortcut"),
    ({"reward": "best"}, {"curate": 2}, "reward"),
])
def test_curation_refusals_are_one_line(options, fields, message):
    with pytest.raises(ConfigError, match=message) as err:
        _resolve(options, samples=5, seeds=2, **fields)
    assert "\n" not in str(err.value)
