"""collapsim.metrics.integrity on point sets with known answers: simplices, cubes, a known drift, a known
change point, the bootstrap's spread against the standard error of a mean."""

import math
from itertools import product

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.metrics import integrity as im

IDENTITY3 = im.PCA(np.zeros(3), np.eye(3), np.ones(3))


def cube(k, side=1.0, lo=0.0):
    return lo + side * np.array(list(product([0.0, 1.0], repeat=k)))


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_simplex_volume_is_one_over_k_factorial(k):
    rng = np.random.default_rng(k)
    simplex = np.vstack([np.zeros(k), np.eye(k)])
    # Interior points (convex combinations) do not change the hull.
    w = rng.dirichlet(np.ones(k + 1), size=50)
    pts = np.vstack([simplex, w @ simplex])
    assert im.hull_volume(pts) == pytest.approx(1 / math.factorial(k), rel=1e-10)


@pytest.mark.parametrize("k,side", [(3, 1.0), (3, 2.5), (6, 0.5), (8, 1.5)])
def test_cube_volume_is_side_to_the_k(k, side):
    rng = np.random.default_rng(0)
    pts = np.vstack([cube(k, side, lo=-3.0), -3.0 + side * rng.random((40, k))])
    assert im.hull_volume(pts) == pytest.approx(side ** k, rel=1e-10)


def test_degenerate_hulls_have_zero_volume():
    flat = np.column_stack([np.random.default_rng(1).random((30, 2)), np.zeros(30)])  # a plane in R^3
    assert im.hull_volume(flat) == 0.0
    assert im.hull_volume(np.eye(3)) == 0.0  # 3 points cannot span R^3
    with pytest.raises(ConfigError):
        im.hull_volume(np.zeros((5, 1)))


def test_score_of_a_shifted_cube_in_embedding_space():
    # Reference: points at mu_0 +- sd_i e_i in R^6, so the covariance is exactly diagonal and the top-3
    # principal axes are exactly coordinates 2, 0, 4 (sd 5, 3, 2).
    sd = np.array([3.0, 0.1, 5.0, 0.1, 2.0, 0.1])
    E0 = 7.0 + np.vstack([np.diag(sd), -np.diag(sd)])
    pca = im.fit_pca(E0, 3)
    np.testing.assert_allclose(np.abs(pca.components), np.eye(6)[[2, 0, 4]], atol=1e-12)
    # Generation: a cube of side 2 in coordinates (0, 2, 4), centred at mu_0 + shift, plus noise-free extra
    # coordinates. Projection onto the same axes keeps the cube: volume 8; drift = |shift in those axes|.
    shift = np.array([0.3, 9.0, -0.4, 9.0, 1.2, 9.0])  # the large shifts lie off the PCA axes
    pts = np.zeros((8, 6))
    pts[:, [0, 2, 4]] = cube(3, 2.0, lo=-1.0)
    E = pca.mean + shift + pts
    lam = 2.0
    r = im.integrity(E, pca, lam)
    d2 = 0.3 ** 2 + 0.4 ** 2 + 1.2 ** 2
    assert r.volume == pytest.approx(8.0, rel=1e-10)
    assert r.drift == pytest.approx(math.sqrt(d2), rel=1e-10)
    assert r.score == pytest.approx(8.0 / (1 + lam * d2), rel=1e-10)
    # Generation 0 against itself: no drift, score = volume.
    r0 = im.integrity(E0, pca, lam)
    assert r0.drift < 1e-12 and r0.score == r0.volume > 0


def test_lambda_for_loss_inverts_the_score():
    v0, v, d, lam = 0.4, 0.35, 0.12, 40.0
    loss = 1 - im.score(v, d, lam) / v0
    assert im.lambda_for_loss(v0, v, d, loss) == pytest.approx(lam, rel=1e-12)
    # The study's notebook volumes (0.35 -> 0.032) already lose 91%: no lambda >= 0 gives 66.86%.
    assert im.lambda_for_loss(0.35, 0.032, 0.113) is None
    assert im.lambda_for_loss(0.148, 0.032, 0.113) is None
    with pytest.raises(ConfigError):
        im.score(1.0, 1.0, -1.0)


def test_bootstrap_spread_of_the_drift_matches_the_standard_error_of_a_mean():
    # Centroid at (5, 0, 0), unit Gaussian noise: the drift is ~ |mean|, whose sd is 1 / sqrt(N) along x.
    N, B = 400, 800
    rng = np.random.default_rng(7)
    E = rng.normal(size=(N, 3)) + np.array([5.0, 0.0, 0.0])
    boot = im.bootstrap(E, IDENTITY3, lam=1.0, n_boot=B, seed=0)
    assert boot.shape == (B, 3)
    se_target = E[:, 0].std(ddof=1) / math.sqrt(N)
    # The sd of B draws has relative standard error ~ 1/sqrt(2B) = 2.5%; allow 4 of them.
    assert boot[:, 1].std(ddof=1) == pytest.approx(se_target, rel=4 / math.sqrt(2 * B))
    np.testing.assert_array_equal(boot, im.bootstrap(E, IDENTITY3, lam=1.0, n_boot=B, seed=0))
    # Resamples repeat points, so their hulls are smaller: documented downward bias of the volume.
    assert np.all(boot[:, 0] <= im.hull_volume(E) + 1e-12)
    np.testing.assert_allclose(boot[:, 2], boot[:, 0] / (1 + boot[:, 1] ** 2))


def test_change_point_finds_the_break_of_a_two_phase_curve():
    T, tau = 20, 5
    g = np.arange(T + 1)
    clean = 1.0 - 0.15 * np.minimum(g, tau) - 0.01 * np.maximum(g - tau, 0)
    cp = im.change_point(clean)
    assert cp.tau == tau and cp.slope_before == pytest.approx(-0.15) and cp.slope_after == pytest.approx(-0.01)
    assert cp.sse_ratio < 1e-12
    rng = np.random.default_rng(0)
    Y = clean + 0.01 * rng.normal(size=(8, T + 1))
    res = im.change_point_over_seeds(Y, n_boot=300)
    assert res["tau"] == tau and res["tau_lo"] <= tau <= res["tau_hi"]
    assert len(res["per_seed"]) == 8
    # A straight line has no break worth the name: two segments barely beat one.
    line = 1.0 - 0.05 * g + 0.01 * rng.normal(size=T + 1)
    assert im.change_point(line).sse_ratio > 0.5
    with pytest.raises(ConfigError):
        im.change_point([1.0, 2.0, 3.0])


def test_pca_is_deterministic_and_orthonormal():
    E = np.random.default_rng(5).normal(size=(50, 20))
    a, b = im.fit_pca(E, 8), im.fit_pca(E.copy(), 8)
    np.testing.assert_array_equal(a.components, b.components)
    np.testing.assert_allclose(a.components @ a.components.T, np.eye(8), atol=1e-12)
    assert np.all(np.diff(a.explained_variance) <= 0)
    with pytest.raises(ConfigError):
        im.fit_pca(E, 51)
