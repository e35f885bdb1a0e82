"""Deterministic tests of collapsim.theory.categorical: shapes, generation 0, limits, methods, approximations,
input errors. No Monte Carlo here; proofs_check/categorical.py holds the exact-enumeration proofs."""

import numpy as np
import pytest
from scipy.special import xlogy

from collapsim.errors import ConfigError
from collapsim.theory import categorical as th

CURVES = ["entropy", "gini_simpson", "support", "tail_mass", "bottom_decile_mass", "kl", "tv", "sq_error"]


def zipf(K, s=1.0):
    p = 1.0 / np.arange(1, K + 1) ** s
    return p / p.sum()


def bottom_of(K):
    mask = np.zeros(K, bool)
    mask[-max(1, K // 10) :] = True  # the rarest tenth (zipf is sorted by decreasing probability)
    return mask


def entropy(p):
    return float(-np.sum(xlogy(p, p)))


@pytest.mark.parametrize("alpha", [np.zeros(12), np.full(12, 0.3), np.linspace(1, 0, 12)])
def test_shapes_and_generation_zero_is_the_truth(alpha):
    q, M, mask = zipf(8), 15, bottom_of(8)
    m = th.marginals(q, M, alpha, mask)
    for name in CURVES:
        assert getattr(m, name).shape == (13,) and getattr(m, name).dtype == np.float64, name
    assert m.survival.shape == m.fixation.shape == (8, 13)
    gen0 = {name: getattr(m, name)[0] for name in CURVES}
    assert gen0 == pytest.approx(
        {
            "entropy": entropy(q),
            "gini_simpson": 1 - np.sum(q**2),
            "support": 8.0,
            "tail_mass": 0.0,
            "bottom_decile_mass": q[mask].sum(),
            "kl": 0.0,
            "tv": 0.0,
            "sq_error": 0.0,
        },
        abs=1e-14,
    )
    np.testing.assert_array_equal(m.survival[:, 0], 1.0)
    np.testing.assert_array_equal(m.fixation[:, 0], 0.0)
    assert th.marginals(q, M, alpha).bottom_decile_mass is None
    for curve in (th.expected_gini_simpson(q, M, alpha), th.expected_sq_error(q, M, alpha)):
        assert curve.shape == (13,)


def test_generation_one_ignores_alpha_one():
    """p_0 = q, so generation 1 is Multinomial(M, q) whatever alpha_1 is; generation 2 is not."""
    q, M = zipf(6), 10
    a = th.marginals(q, M, [0.0, 0.5])
    b = th.marginals(q, M, [0.9, 0.5])
    c = th.marginals(q, M, [0.0, 0.0])
    for name in CURVES[:4] + ["kl", "tv", "sq_error"]:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-15)
    assert abs(a.entropy[2] - c.entropy[2]) > 1e-3


def test_zero_generations():
    m = th.marginals(zipf(5), 7, np.zeros(0), bottom_of(5))
    assert m.entropy.shape == (1,) and m.survival.shape == (5, 1)
    assert th.predictions("mix", zipf(5), 7, np.zeros(0), None)["support"].tolist() == [5.0]
    assert th.approximations("mix", zipf(5), 7, np.zeros(0)) == {}


def test_replacement_loses_diversity_monotonically():
    q, M = zipf(12), 20
    m = th.marginals(q, M, np.zeros(40), bottom_of(12))
    for name in ["entropy", "support", "gini_simpson", "bottom_decile_mass"]:
        assert np.all(np.diff(getattr(m, name)) < 0), name
    for name in ["tail_mass", "kl", "sq_error", "tv"]:
        assert np.all(np.diff(getattr(m, name)) > 0), name
    assert np.all(np.diff(m.survival, axis=1) < 0)
    assert np.all(np.diff(m.fixation, axis=1) >= 0)


def test_replacement_limits_one_category_takes_all():
    """At large t one category i is fixed, with probability q_i: every metric's limit follows."""
    q, M, mask = np.array([0.4, 0.3, 0.15, 0.1, 0.05]), 5, np.array([0, 0, 0, 1, 1], bool)
    m = th.marginals(q, M, np.zeros(300), mask)
    G0, tol = 1 - np.sum(q**2), 1e-10
    assert m.support[-1] == pytest.approx(1.0, abs=tol)
    assert m.entropy[-1] == pytest.approx(0.0, abs=tol)
    assert m.gini_simpson[-1] == pytest.approx(0.0, abs=tol)
    assert m.tail_mass[-1] == pytest.approx(G0, abs=tol)  # sum_i q_i (1 - q_i)
    assert m.sq_error[-1] == pytest.approx(G0, abs=tol)
    assert m.tv[-1] == pytest.approx(G0, abs=tol)  # E[1 - q_I]
    assert m.kl[-1] == pytest.approx(entropy(q), abs=tol)  # E[-log q_I]
    assert m.bottom_decile_mass[-1] == pytest.approx(np.sum(q[mask] ** 2), abs=tol)
    np.testing.assert_allclose(m.fixation[:, -1], q, atol=tol)
    np.testing.assert_allclose(th.fixation_probability(q, M, 300), m.fixation, rtol=0, atol=0)


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_two_categories_one_fixes_exactly_when_the_other_dies(method):
    """K = 2: [c_1 = M] is the event [c_2 = 0], so fixation and survival come from different columns
    but must agree; M = 150 so that c/M = 1 is told apart from c/M close to 1."""
    q, M = np.array([0.7, 0.3]), 150
    alpha = np.zeros(40) if method == "backward" else np.full(40, 0.02)
    m = th.marginals(q, M, alpha, method=method)
    np.testing.assert_allclose(m.fixation[0], 1 - m.survival[1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(m.fixation[1], 1 - m.survival[0], rtol=0, atol=1e-13)
    assert m.fixation[0, -1] > 5e-4  # not vacuous: both sides are well away from 0


def test_replacement_gini_closed_form():
    q, M = zipf(30), 25
    want = (1 - np.sum(q**2)) * (1 - 1 / M) ** np.arange(51)
    np.testing.assert_allclose(th.expected_gini_simpson(q, M, np.zeros(50)), want, rtol=1e-13)


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_marginal_second_moments_match_the_closed_recursion(method):
    q, M = zipf(25), 40
    alpha = np.zeros(30) if method == "backward" else 0.5 / np.arange(1, 31)
    m = th.marginals(q, M, alpha, method=method)
    np.testing.assert_allclose(m.gini_simpson, th.expected_gini_simpson(q, M, alpha), rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.sq_error, th.expected_sq_error(q, M, alpha), rtol=0, atol=1e-10)
    # KL identity (C9) with E p = q: E KL_t = H(q) - E H_t.
    np.testing.assert_allclose(m.kl, entropy(q) - m.entropy, rtol=0, atol=1e-12)


def test_mix_converges_to_the_stationary_law():
    q, M, a, mask = zipf(6), 20, 0.3, bottom_of(6)
    m = th.marginals(q, M, np.full(150, a), mask)
    st = th.stationary(q, M, a, mask)
    assert set(st) == {"entropy", "support", "tail_mass", "gini_simpson", "sq_error", "tv", "kl", "bottom_decile_mass"}
    for name, value in st.items():
        assert getattr(m, name)[-1] == pytest.approx(value, abs=1e-10), name
    gini, sq = th.stationary_gini_sq_error(q, M, a)
    assert (st["gini_simpson"], st["sq_error"]) == pytest.approx((gini, sq), abs=1e-12)
    assert "bottom_decile_mass" not in th.stationary(q, M, a)
    # an anchor keeps every category alive with positive probability, a bounded error and TV
    assert 1 < st["support"] < 6 and 0 < st["tail_mass"] < 1


def test_alpha_one_is_a_fresh_sample_every_generation():
    q, M = zipf(7), 9
    m = th.marginals(q, M, np.ones(5))
    for name in ["entropy", "support", "tv", "kl", "sq_error"]:
        np.testing.assert_allclose(getattr(m, name)[1:], getattr(m, name)[1], rtol=1e-13)
    st = th.stationary(q, M, 1.0)
    assert st["entropy"] == pytest.approx(m.entropy[1], abs=1e-12)


def test_equal_probabilities_share_one_chain():
    """A uniform truth is computed as one group; the result must equal the ungrouped per-category chains."""
    K, M, alpha = 8, 12, np.full(10, 0.2)
    q = np.full(K, 1 / K)
    m = th.marginals(q, M, alpha)
    ungrouped = th._forward(q, M, alpha)  # (K, T, 5), no grouping
    np.testing.assert_allclose(m.survival[:, 1:], ungrouped[:, :, 1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(m.support[1:], ungrouped[:, :, 1].sum(0), rtol=0, atol=1e-13)
    assert np.all(m.survival == m.survival[0])


def test_single_category_is_trivial():
    m = th.marginals([1.0], 4, np.full(3, 0.5))
    np.testing.assert_allclose(m.entropy, 0.0, atol=1e-15)
    np.testing.assert_allclose(m.support, 1.0)
    np.testing.assert_allclose(m.fixation, 1.0)
    assert th.stationary([1.0], 4, 0.5)["support"] == pytest.approx(1.0)


def test_auto_picks_backward_for_large_replacement_runs_and_keeps_tv():
    q, M, T = zipf(300), 300, 100  # 300 * 100 * 301^2 > FORWARD_BUDGET
    assert q.size * T * (M + 1) ** 2 > th.FORWARD_BUDGET
    m = th.marginals(q, M, np.zeros(T), bottom_of(300))
    assert m.tv is not None and np.all(np.diff(m.tv) > 0)
    np.testing.assert_allclose(m.gini_simpson, th.expected_gini_simpson(q, M, np.zeros(T)), atol=1e-10)
    assert np.all(np.diff(m.support) < 0) and m.support[-1] > 1


def test_backward_without_tv_when_thresholds_are_many(monkeypatch):
    monkeypatch.setattr(th, "BACKWARD_TV_MAX_THRESHOLDS", 1)
    q = zipf(10)
    m = th.marginals(q, 30, np.zeros(5), method="backward")
    assert m.tv is None and m.entropy.shape == (6,)
    monkeypatch.setattr(th, "FORWARD_BUDGET", 0)  # make auto pick backward
    pred = th.predictions("replace", q, 30, np.zeros(5))
    assert "tv" not in pred and "entropy" in pred


def test_predictions_by_policy():
    q, M, T, mask = zipf(10), 30, 8, bottom_of(10)
    rep = th.predictions("replace", q, M, np.full(T, 0.4), mask)  # replace ignores alpha's values
    assert set(rep) == set(CURVES)
    m = th.marginals(q, M, np.zeros(T), mask)
    for name, curve in rep.items():
        assert curve.shape == (T + 1,)
        np.testing.assert_allclose(curve, getattr(m, name), rtol=0, atol=1e-10)
    mix = th.predictions("mix", q, M, np.full(T, 0.4), None)
    assert set(mix) == set(CURVES) - {"bottom_decile_mass"}
    np.testing.assert_allclose(mix["support"], th.marginals(q, M, np.full(T, 0.4)).support)
    assert mix["support"][-1] > rep["support"][-1]
    for policy in ["keep-real", "accumulate", "accumulate-subsample"]:
        assert th.predictions(policy, q, M, np.full(T, 0.4), mask) == {}
        assert th.approximations(policy, q, M, np.full(T, 0.4)) == {}


def test_approximations_structure():
    q, M, T = zipf(10), 30, 8
    rep = th.approximations("replace", q, M, np.zeros(T))
    assert list(rep) == ["entropy"] and list(rep["entropy"]) == ["small-noise approx: -(K-1)/(2M) per generation"]
    np.testing.assert_allclose(rep["entropy"][th.ENTROPY_APPROX_LABEL], th.approx_entropy(q, M, T))
    mix = th.approximations("mix", q, M, np.full(T, 0.25))
    assert list(mix) == ["sq_error"] and list(mix["sq_error"]) == ["small-noise approx: G0/(2 alpha M)"]
    np.testing.assert_allclose(mix["sq_error"][th.SQ_ERROR_APPROX_LABEL], (1 - np.sum(q**2)) / (2 * 0.25 * M))
    assert th.approximations("mix", q, M, np.linspace(0.5, 0.1, T)) == {}  # not constant
    assert th.approximations("mix", q, M, np.zeros(T)) == {}


def test_entropy_approximation_is_first_order_and_then_fails():
    q = zipf(10)
    # t = 1, large M: the loss H(q) - E H_1 is (K - 1) / (2M) to within a fraction of a percent
    M = 2000
    exact_loss = entropy(q) - th.marginals(q, M, np.zeros(1)).entropy[1]
    assert exact_loss == pytest.approx(9 / (2 * M), rel=0.01)
    assert th.approx_entropy(q, M, 1)[1] == pytest.approx(entropy(q) - 9 / (2 * M))
    # later, at small M: the linear law hits 0 while the exact entropy is still well above it
    M, T = 50, 60
    approx, exact = th.approx_entropy(q, M, T), th.marginals(q, M, np.zeros(T)).entropy
    assert approx[-1] == 0.0 and approx.min() >= 0
    assert abs(approx[5] - exact[5]) < 0.05 * exact[5]
    assert exact[30] - approx[30] > 0.3


def test_sq_error_approximation_against_the_exact_fixed_point():
    q = zipf(50)
    exact = th.stationary_gini_sq_error(q, 200, 0.1)[1]
    approx = th.approx_stationary_sq_error(q, 200, 0.1)
    G0 = 1 - np.sum(q**2)
    assert exact == pytest.approx(G0 / (200 * (0.2 - 0.01) + 0.81), rel=1e-12)
    assert exact / approx == pytest.approx(0.2 * 200 / 38.81, rel=1e-12)  # 3% above the approximation
    # small alpha M: the approximation is far off (the exact error is bounded by ~ G0)
    assert th.approx_stationary_sq_error(q, 20, 0.01) / th.stationary_gini_sq_error(q, 20, 0.01)[1] > 2.5


@pytest.mark.parametrize(
    "truth",
    [[0.5, 0.5, 0.0], [0.6, 0.6, -0.2], [0.3, 0.3], [[0.5, 0.5]], [], [np.nan, 1.0], [0.5, np.inf]],
)
def test_bad_truth_is_a_config_error(truth):
    with pytest.raises(ConfigError):
        th.marginals(truth, 10, np.zeros(3))
    with pytest.raises(ConfigError):
        th.expected_gini_simpson(truth, 10, np.zeros(3))


@pytest.mark.parametrize("M", [0, -3, 2.5, "ten", None, True])
def test_bad_sample_size_is_a_config_error(M):
    with pytest.raises(ConfigError):
        th.marginals(zipf(4), M, np.zeros(3))
    with pytest.raises(ConfigError):
        th.expected_sq_error(zipf(4), M, np.zeros(3))


def test_bad_alpha_and_options_are_config_errors():
    q = zipf(4)
    for alpha in [[0.5, 1.2], [-0.1], [[0.1, 0.2]], 0.3, [np.nan]]:
        with pytest.raises(ConfigError):
            th.marginals(q, 10, alpha)
        with pytest.raises(ConfigError):
            th.predictions("mix", q, 10, alpha)
    for a in [0.0, -0.5, 1.5, np.nan]:
        with pytest.raises(ConfigError):
            th.stationary(q, 10, a)
        with pytest.raises(ConfigError):
            th.stationary_gini_sq_error(q, 10, a)
        with pytest.raises(ConfigError):
            th.approx_stationary_sq_error(q, 10, a)
    with pytest.raises(ConfigError, match="backward"):
        th.marginals(q, 10, [0.0, 0.1], method="backward")
    with pytest.raises(ConfigError):
        th.marginals(q, 10, [0.0], method="sideways")
    for mask in [np.ones(3, bool), np.ones(4, int), [True, False]]:
        with pytest.raises(ConfigError):
            th.marginals(q, 10, [0.0], bottom=mask)
    for T in [-1, 1.5]:
        with pytest.raises(ConfigError):
            th.approx_entropy(q, 10, T)
        with pytest.raises(ConfigError):
            th.fixation_probability(q, 10, T)
    assert issubclass(ConfigError, ValueError)


def test_cost_is_estimated_before_allocating_and_a_theory_past_memory_is_refused(monkeypatch):
    import collapsim.memory

    q = zipf(30)
    cost = th.marginals_cost(q, 100_000, np.zeros(20))
    assert cost.method == "backward" and cost.bytes > 4 * 8 * 100_001**2  # P with its temporaries alone
    monkeypatch.setattr(collapsim.memory, "available_bytes", lambda: 2**20)
    with pytest.raises(ConfigError, match="exact categorical theory.*GiB"):
        th.marginals(q, 200, np.zeros(5))
    with pytest.raises(ConfigError, match="stationary law"):
        th.stationary(q, 200, 0.1)


@pytest.mark.parametrize("policy", ["replace", "mix"])
def test_a_theory_that_would_not_fit_keeps_the_closed_forms_and_says_why(policy):
    from collapsim.families.categorical import predict_spec
    from collapsim.runs.registry import with_defaults
    from collapsim.runs.spec import RunSpec

    K = M = T = 40
    # as the run pipeline hands it over: every option filled in (the adapter reads them, defaults live in the entry)
    spec = with_defaults(RunSpec("categorical", {"vocab": K, "init": "zipf"}, {}, policy,
                                 "0.2" if policy == "mix" else "none", M, T, 4))
    fits = predict_spec(spec, available=None)
    assert fits.note == "" and "entropy" in fits.curves
    small = predict_spec(spec, available=2**20)  # 1 MiB: the forward method's first chunk alone is more
    assert "exact theory skipped" in small.note and "GiB" in small.note
    assert set(small.curves) == {"gini_simpson", "sq_error"}
    q = zipf(K).astype(np.float32).astype(np.float64)
    q /= q.sum()
    G0 = 1 - np.sum(q**2)
    if policy == "replace":  # (C5) written out here, not taken from the module
        np.testing.assert_allclose(small.curves["gini_simpson"], (1 - 1 / M) ** np.arange(T + 1) * G0, rtol=1e-9)
        assert "entropy" in small.approx
    np.testing.assert_allclose(small.curves["sq_error"], fits.curves["sq_error"], rtol=1e-12)
