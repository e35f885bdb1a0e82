"""The Gaussian family's plain-jnp linear algebra (pivoted Cholesky, one-sided Jacobi nuclear norm) against
float64 LAPACK, and the factored replace shortcut against the exact theory (4 standard errors)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from collapsim.engine import LoopConfig, run_loop
from collapsim.runs.summary import summarize
from collapsim.families.gaussian import PURE_MAX_DIM, default_params, gaussian, nuclear_norm, psd_factor
from collapsim.theory import gaussian as th


def _scatters(d, trials, seed):
    """float32 scatters of n in 2..3d points with column scales over 8 orders: full rank and rank-deficient."""
    r = np.random.default_rng(seed)
    for _ in range(trials):
        n = int(r.integers(2, 3 * d + 1))
        x = r.standard_normal((n, d)) * np.exp(r.uniform(-6, 2, d))
        yield (x.T @ x).astype(np.float32), n


@pytest.mark.parametrize("d", [2, 3, 10, pytest.param(PURE_MAX_DIM, marks=pytest.mark.slow)])
def test_pivoted_factor_reproduces_the_matrix_and_its_log_determinant(d):
    for a, n in _scatters(d, 30, d):
        root, logdet = psd_factor(jnp.asarray(a))
        err = np.abs(np.asarray(root, np.float64) @ np.asarray(root, np.float64).T - a).max() / np.abs(a).max()
        assert err < 20 * d * np.finfo(np.float32).eps, err
        if n < d:  # rank n < d: a collapsed model, determinant 0, never nan
            assert float(logdet) == -np.inf
    a = np.diag(np.arange(1.0, d + 1)).astype(np.float32) + 0.1
    assert float(psd_factor(jnp.asarray(a))[1]) == pytest.approx(np.linalg.slogdet(a.astype(np.float64))[1], abs=1e-4)


@pytest.mark.parametrize("d", [2, 5, 10, pytest.param(13, marks=pytest.mark.slow), pytest.param(PURE_MAX_DIM, marks=pytest.mark.slow)])
def test_jacobi_nuclear_norm_matches_lapack_svd(d):
    r = np.random.default_rng(100 + d)
    ms = []
    for _ in range(25):  # rank 1..d, column scales over 8 orders of magnitude
        rank = int(r.integers(1, d + 1))
        m = r.standard_normal((d, rank)) @ r.standard_normal((rank, d)) * np.exp(r.uniform(-6, 2, d))
        ms.append(m.astype(np.float32))
    ms.append(np.zeros((d, d), np.float32))  # a fully collapsed model
    batch = jnp.asarray(np.stack(ms))
    got = np.asarray(jax.vmap(nuclear_norm)(batch))  # the batched (batch-last) path the engine uses
    one = np.array([float(nuclear_norm(m)) for m in batch[:3]])  # and the unbatched one
    ref = np.array([np.linalg.svd(m.astype(np.float64), compute_uv=False).sum() for m in ms])
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(one, ref[:3], rtol=2e-6)


def test_small_dimensions_make_no_lapack_call_and_large_ones_are_serialised():
    assert not gaussian(10, "full", 0).lapack and gaussian(PURE_MAX_DIM + 1, "full", 0).lapack
    step = jax.jit(lambda m: gaussian(10, "full", 0).fit(None, None, m, None, default_params(10)))
    hlo = step.lower(jnp.ones((20, 10))).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo


@pytest.mark.parametrize("shortcut", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["explicit", "shortcut"])
def test_d10_full_mle_matches_trace_drift_and_determinant_theory(shortcut):
    T, n, d, seeds = 12, 30, 10, 3000
    out = run_loop(gaussian(d, "full", 0), LoopConfig("replace", n, T, shortcut), default_params(d), np.zeros(T), seeds, seed=3)
    for name, theory in (("sigma2", th.expected_sigma2(T, n, 0)), ("mean_sq_drift", th.expected_mean_sq_drift(T, n, 0, 1.0, d))):
        s = summarize(out[name])
        assert np.all(np.abs(s["mean"][1:] - theory[1:]) <= 4 * s["stderr"][1:]), name
    early = 3  # det is close to log-normal; past a few generations rare chains dominate its sample mean
    s = summarize(out["det_ratio"][:, : early + 1])
    theory = th.expected_det_ratio(early, n, 0, d)
    assert np.all(np.abs(s["mean"][1:] - theory[1:]) <= 4 * s["stderr"][1:])
    # W2^2 has no closed form for a full fit; it must be finite, positive and grow as the fit drifts away.
    w2 = summarize(out["w2sq"])["mean"]
    assert w2[0] == pytest.approx(0.0, abs=1e-4) and np.all(np.diff(w2) > 0)


@pytest.mark.parametrize("d,n", [(8, 5), (8, 8), (20, 6), (20, 19), (30, 40), (8, 30)])
def test_fit_gives_the_w2_cross_term_and_log_determinant(d, n):
    """A thin fit (N <= d points, factor Xc^T / sqrt(N)) and a full one give the same W2 (its cross term from
    the carried factor, computed in the metric) and log det as float64 LAPACK on the same covariance, against
    a non-isotropic truth."""
    from collapsim.families.gaussian import make_params

    r = np.random.default_rng(d * n)
    a = r.standard_normal((d, d))
    params = make_params(np.zeros(d), a @ a.T / d + 0.5 * np.eye(d))
    x = r.standard_normal((n, d)).astype(np.float32)
    model = gaussian(d, "full", 0).fit(None, None, jnp.asarray(x), None, params)
    carried = gaussian(d, "full", 0, n)  # knows the loop's n: at n <= d its models carry the cross term
    thin = carried.fit(None, None, jnp.asarray(x), None, params)
    assert ("cross" in thin) == (n <= d)
    xc = x.astype(np.float64) - x.mean(0)
    cov = xc.T @ xc / n
    s0 = np.asarray(params["cov"], np.float64)
    w, v = np.linalg.eigh(s0)
    half = v * np.sqrt(w) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(half @ cov @ half), 0, None)).sum()
    mean = x.astype(np.float64).mean(0)
    w2sq = mean @ mean + np.trace(cov) + np.trace(s0) - 2 * cross
    got = float(gaussian(d, "full", 0).metrics(None, model, params)["w2sq"])
    assert abs(got - w2sq) <= 4e-4 * cross + 1e-5, (got, w2sq)
    got_carried = float(carried.metrics(None, thin, params)["w2sq"])
    assert abs(got_carried - w2sq) <= 4e-4 * cross + 1e-5, (got_carried, w2sq)
    assert ("w2sq" in carried.expensive) == (n > d)
    np.testing.assert_allclose(np.asarray(model["root"]) @ np.asarray(model["root"]).T, cov, atol=1e-5)
    if n <= d:
        assert float(model["logdet"]) == -np.inf
    else:
        assert float(model["logdet"]) == pytest.approx(np.linalg.slogdet(cov)[1], abs=1e-3)


def test_shortcut_loops_and_only_they_compile_at_the_lower_xla_level():
    from collapsim.families.gaussian import SHORTCUT_COMPILE_OPTIONS
    from collapsim.runs.execute import resolve
    from collapsim.runs.spec import RunSpec

    def built(method):
        spec = RunSpec("gaussian", {"dim": 10, "ddof": 0, "covariance": "full"}, {}, "replace", None, 100, 3, 10,
                       method=method)
        return resolve(spec)[2].family.compile_options

    assert built("auto") == SHORTCUT_COMPILE_OPTIONS  # the peers' cell takes the shortcut
    assert built("explicit") == ()


@pytest.mark.slow  # two compilations each (30-60 s on the loaded 2-core machine)
@pytest.mark.parametrize("dim", [1, 4])
def test_the_shortcut_compiled_at_a_lower_xla_level_gives_the_same_numbers_bit_for_bit(dim):
    """The shortcut's loop compiles at XLA optimisation level 1 (a fraction of the compile time); its numbers
    must be those of the default level, so a run's metrics do not depend on the setting."""
    from collapsim.families.gaussian import SHORTCUT_COMPILE_OPTIONS, loop_family

    quick = loop_family(dim, "full", 0, 10, shortcut=True)
    assert quick.compile_options == SHORTCUT_COMPILE_OPTIONS
    cfg = LoopConfig("replace", 10, 4, shortcut=True)
    alpha, params = np.zeros(4, np.float32), default_params(dim)
    fast, plain = (run_loop(f, cfg, params, alpha, 24, 3) for f in (quick, gaussian(dim, "full", 0, 10)))
    assert set(fast) == set(plain)
    for name in plain:
        np.testing.assert_array_equal(fast[name], plain[name], err_msg=name)
