"""The n-gram family: its pieces against plain NumPy, order 1 against the categorical family draw for draw,
the exact opening law (Wright-Fisher, population n) against Monte Carlo within 4 SE (and population n + 1
outside), and one-line refusals."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from collapsim.errors import ConfigError
from collapsim.families import ngram as G
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.spec import RunSpec
from collapsim.runs.summary import summarize


def _chain(V=4, k=2, seed=0):
    return G.random_chain(V, k, 2, seed)


def test_fit_counts_transitions_and_openings_by_hand():
    x = jnp.array([[0, 1, 1, 2], [1, 1, 0, 1]], jnp.int32)  # V = 3, k = 2: 6 transitions, 2 openings
    counts, opens, texts = G.count_texts(x, None, 3, 2)
    want = np.zeros((3, 3))
    for a, b in [(0, 1), (1, 1), (1, 2), (1, 1), (1, 0), (0, 1)]:
        want[a, b] += 1
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(opens, [1, 1, 0])
    prev = jnp.full((3, 3), 1 / 3)
    table = G.refit(counts, counts.sum(1, keepdims=True), prev, 0.0, 0.0, 3)
    np.testing.assert_allclose(table[1], [1 / 4, 2 / 4, 1 / 4])
    np.testing.assert_array_equal(table[2], prev[2])  # context 2 never visited: keeps its row
    # k = 3 contexts: (x_{t-2}, x_{t-1}) as x_{t-2} V + x_{t-1}.
    np.testing.assert_array_equal(G.text_contexts(x, 3, 3), [[0 * 3 + 1, 1 * 3 + 1], [1 * 3 + 1, 1 * 3 + 0]])


@pytest.mark.slow  # a sampled-text check (~8 s); the exact-marginal tests stay in the default set
def test_position_laws_match_numpy_marginals_and_a_sampled_text_frequency():
    chain = G.lift(_chain(4, 2), 3)  # an order-2 chain seen by an order-3 model
    L = 6
    p, mbar = G.position_laws(jnp.asarray(chain.opening, jnp.float32), jnp.asarray(chain.table, jnp.float32), L, 3)
    np.testing.assert_allclose(p, G.unigram_law(chain, L), atol=1e-6)
    np.testing.assert_allclose(mbar, G.context_marginals(chain, L).sum(0), atol=1e-5)
    # The JAX sampler's token frequencies agree with the exact unigram law (4 SE per token, 20,000 texts).
    x = np.asarray(G.sample_texts(jax.random.PRNGKey(0), jnp.asarray(chain.opening, jnp.float32),
                                  jnp.asarray(chain.table, jnp.float32), 20000, L, 3))
    freq = np.stack([(x == i).mean(1) for i in range(4)], 1)  # per-text frequencies (independent texts)
    z = (freq.mean(0) - G.unigram_law(chain, L)) / (freq.std(0) / np.sqrt(len(x)))
    assert np.all(np.abs(z) < 4), z


def test_lift_and_project_keep_the_text_law():
    src = _chain(3, 2, seed=1)
    lifted = G.lift(src, 3)
    np.testing.assert_allclose(lifted.opening.reshape(3, 3), src.opening[:, None] * src.table)
    np.testing.assert_allclose(G.project(lifted, 2, 5).table, src.table, atol=1e-12)  # reachable rows
    one = G.project(src, 1, 5)
    np.testing.assert_allclose(one.table[0], G.unigram_law(src, 5))


@pytest.mark.slow  # two loops to compile (~18 s); the opening law's exact Wright-Fisher test stays default
def test_order_one_equals_the_categorical_family_draw_for_draw():
    """k = 1 on an i.i.d. truth under replace is the categorical family with n L samples: the same key
    gives the same tokens, counts and laws (metrics equal to float32 rounding)."""
    pytest.importorskip("wordfreq")
    common = dict(policy="replace", generations=12, seeds=64, seed=5, method="explicit")
    spec, _, loop = resolve(RunSpec("ngram", samples=4, family_options={"order": 1, "vocab": 20, "length": 5,
                                                                      "init": "wordfreq"}, **common))
    cspec, _, cloop = resolve(RunSpec("categorical", samples=20, family_options={"vocab": 20, "init": "wordfreq"}, **common))
    np.testing.assert_array_equal(loop.params["init_table"][0], cloop.params["truth"])
    a, b = simulate(spec, loop), simulate(cspec, cloop)
    for mine, theirs in [("unigram_entropy", "entropy"), ("gini_simpson", "gini_simpson"), ("support", "support"),
                         ("tail_mass", "tail_mass"), ("kl_unigram", "kl")]:
        np.testing.assert_allclose(a[mine], b[theirs], rtol=2e-6, atol=2e-6, err_msg=mine)
    assert a["support"][:, -1].mean() < 19  # the chains did drift


def test_opening_law_is_wright_fisher_within_4_se_and_n_plus_one_is_not():
    """k = 2 under replace: the opening law's expected entropy and support (exact, every generation) against
    Monte Carlo; the same theory at population n + 1 (a plausible off-by-one) must be rejected."""
    from collapsim.theory.categorical import marginals

    V, k, L, n, T = 5, 2, 4, 6, 10
    spec, e, loop = resolve(RunSpec("ngram", samples=n, generations=T, seeds=3000, seed=2,
                                    family_options={"order": k, "vocab": V, "length": L, "init": "random",
                                                    "branching": 3}))
    per_chain = simulate(spec, loop)
    pred = e.predict(spec, loop)
    opening = np.asarray(loop.params["init_opening"], np.float64)
    wrong = marginals(opening / opening.sum(), n + 1, np.zeros(T))
    worst_wrong = 0.0
    for metric, bad in (("opening_entropy", wrong.entropy), ("opening_support", wrong.support)):
        s = summarize(per_chain[metric])
        z = (s["mean"][1:] - pred.curves[metric][1:]) / s["stderr"][1:]
        assert np.all(np.abs(z) < 4), (metric, z)
        worst_wrong = max(worst_wrong, np.max(np.abs((s["mean"][1:] - bad[1:]) / s["stderr"][1:])))
    assert worst_wrong > 4, worst_wrong
    # The row Gini-Simpson's approximation (eq. N2) is drawn dotted, and is close: within 2% at generation 1.
    (label, approx), = pred.approx["row_gini_simpson"].items()
    assert "approx" in label
    s = summarize(per_chain["row_gini_simpson"])
    assert abs(s["mean"][1] / approx[1] - 1) < 0.02 and s["mean"][1] < s["mean"][0]


@pytest.mark.parametrize("options,match", [
    ({"order": 0}, "--order"),
    ({"order": 3, "vocab": 5000}, "--vocab 5000 at --order 3"),
    ({"order": 4, "length": 3}, "shorter than --order"),
    ({"init": "random", "branching": 9, "vocab": 4}, "--branching"),
])
def test_bad_input_is_one_line(options, match):
    with pytest.raises(ConfigError, match=match) as err:
        resolve(RunSpec("ngram", samples=4, generations=2, seeds=2, family_options=options))
    assert "\n" not in str(err.value)


def test_shortcut_is_refused():
    with pytest.raises(ConfigError, match="shortcut"):
        resolve(RunSpec("ngram", samples=4, generations=2, seeds=2, method="shortcut",
                        family_options={"init": "random", "vocab": 4}))
