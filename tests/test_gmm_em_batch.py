"""The GMM fit's fast paths against their plain definitions: the refilled-buffer batched EM stops each chain
where its own per-chain EM stops, the fused M-step equals the weighted moments computed directly, the sort
used by the sliced W2 equals jnp.sort, and the scikit-learn reference of ``bench gmm`` runs."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from collapsim.families import gmm as G


def _chains(B=24, n=200, seed=0):
    """B data sets whose separations run from 0.5 to 5 (EM needs from 2 to tens of iterations), points (B, n, 2),
    and k-means starts."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, n, 2))
    x[:, :, 0] += np.where(rng.random((B, n)) < 0.4, -1.0, 1.0) * np.linspace(0.25, 2.5, B)[:, None]
    x = jnp.asarray(x, jnp.float32)
    w = jnp.ones((B, n), jnp.float32)
    keys = jax.random.split(jax.random.key(seed), B)

    def start(key, xt, w):
        c = G.kmeans_centres(key, xt, w, 2)
        return G._moments(xt[None] - c[:, :, None], G._nearest(xt, c) * w, c, 1e-6, True)

    return x, w, jax.jit(jax.vmap(start))(keys, jnp.swapaxes(x, 1, 2), w)


def test_buffered_batch_em_equals_the_per_chain_em(buffer=5):
    """A buffer of 5 slots for 24 chains forces many refills; every chain must run exactly its own
    iteration count and end at its own model (up to float rounding of a differently fused program)."""
    x, w, start = _chains()
    B = x.shape[0]
    per_chain = jax.jit(jax.vmap(lambda x_, w_, s: G.em(x_, w_, s, 1e-6, 1e-3, 100, True)[:2]))
    ref, ref_it = per_chain(x, w, start)
    got, got_it = jax.jit(lambda x_, w_, s: G.em_batch(jnp.swapaxes(x_, 1, 2), w_, s, jnp.full(B, 1e-6),
                                                       jnp.full(B, 1e-3), 100, True, buffer))(x, w, start)
    ref_it, got_it = np.asarray(ref_it), np.asarray(got_it)
    assert ref_it.max() >= 4 * np.median(ref_it) / 2 and ref_it.max() > ref_it.min() + 3  # a real spread to compact
    np.testing.assert_array_equal(got_it, ref_it)
    for k in ref:
        np.testing.assert_allclose(np.asarray(got[k]), np.asarray(ref[k]), rtol=1e-5, atol=1e-5, err_msg=k)


def test_the_iteration_cap_holds_in_the_batch():
    x, w, start = _chains(B=8)
    _, it = jax.jit(lambda x_, w_, s: G.em_batch(jnp.swapaxes(x_, 1, 2), w_, s, jnp.full(8, 1e-6), jnp.zeros(8), 3,
                                                 True, 2))(x, w, start)
    np.testing.assert_array_equal(np.asarray(it), 3)  # tol 0 never converges: every chain stops at max_iter


def test_vmapped_fit_takes_the_batched_rule_and_matches_unbatched_fits(monkeypatch):
    """The family's fit under vmap (as the drivers run it) goes through em_batch, and matches the same fit
    called chain by chain."""
    calls = []
    batch = G.em_batch
    monkeypatch.setattr(G, "em_batch", lambda *a, **k: calls.append(a[0].shape) or batch(*a, **k))
    fam = G.gmm(2, 2, "full", "kmeans++", 99)  # a max_iter no other test uses: a fresh family
    params = G.make_params(*G.two_component_truth(2, 2.0, 0.3), holdout_size=16, directions=1)
    keys = jax.random.split(jax.random.key(3), 10)
    x = jax.vmap(lambda k: fam.sample_real(k, params, 300))(keys)
    fit = lambda k, x_: fam.fit(k, None, x_, None, params)  # noqa: E731
    batched = jax.jit(jax.vmap(fit))(keys, x)
    assert calls == [(10, 2, 300)]
    one = jax.jit(fit)
    for i in range(len(keys)):
        single = one(keys[i], x[i])
        for k in single:
            np.testing.assert_allclose(np.asarray(batched[k][i]), np.asarray(single[k]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("full", [True, False])
def test_m_step_equals_the_weighted_moments(full):
    """The M-step computed from moments about reference means equals weighted means and covariances computed
    directly in float64 (PRML 9.24-9.27 with the 10 eps count floor), for arbitrary responsibilities."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 2)) * [1.0, 0.3] + [5.0, -2.0]  # off-centre: raw moments would cancel
    r = rng.random((300, 3))
    r /= r.sum(1, keepdims=True)
    w = (rng.random(300) < 0.8).astype(np.float64)
    got = G.m_step(jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32), jnp.asarray(r, jnp.float32), 1e-6, full)
    rw = r * w[:, None]
    nk = rw.sum(0) + 10 * np.finfo(np.float32).eps
    mu = rw.T @ x / nk[:, None]
    cov = np.stack([(rw[:, k, None] * (x - mu[k])).T @ (x - mu[k]) / nk[k] for k in range(3)]) + 1e-6 * np.eye(2)
    np.testing.assert_allclose(np.asarray(got["weights"]), nk / nk.sum(), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got["means"]), mu, rtol=1e-5, atol=1e-5)
    want = cov if full else np.diagonal(cov, axis1=1, axis2=2)
    np.testing.assert_allclose(np.asarray(got["covs"]), want, rtol=1e-4, atol=1e-6)
    if full:
        np.testing.assert_allclose(np.asarray(got["chol"]), np.linalg.cholesky(cov), rtol=1e-4, atol=1e-6)


def test_sort_floats_equals_jnp_sort_alone_and_vmapped():
    a = jax.random.normal(jax.random.key(0), (5, 40, 3))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: G.sort_floats(v, 1))(a)), np.sort(np.asarray(a), 1))
    vm = jax.jit(jax.vmap(lambda v: G.sort_floats(v, 0)))(a)
    np.testing.assert_array_equal(np.asarray(vm), np.sort(np.asarray(a), 1))


def test_sklearn_reference_and_report():
    pytest.importorskip("sklearn")
    from collapsim.commands.bench.gmm import format_report, sklearn_chains

    ref = sklearn_chains(2, 2, 200)
    assert ref["seconds"] > 0 and len(ref["smaller_weight"]) == 2 and ref["iterations"] >= 1
    # two well-separated unit components at N = 200 keep both components after two refits
    assert all(0.3 < s <= 0.5 for s in ref["smaller_weight"]), ref
    row = {"samples": 200, "chains": 10, "generations": 2, "collapsim_s": 0.5, "collapsim_ms_per_fit": 25.0,
           "collapsim_cold_s": 9.0, "sklearn_s": 5.0, "sklearn_ms_per_fit": 250.0, "sklearn_init": "kmeans",
           "sklearn_iterations": 3.0, "loop_chains_timed": 2, "ratio": 10.0, "ratio_cold": 0.56,
           "smaller_weight_collapsim": [0.48, 0.01], "smaller_weight_sklearn": [0.47, 0.02]}
    text = format_report(row)
    assert "10.0x compiled" in text and "0.6x cold" in text and "one thread" in text
