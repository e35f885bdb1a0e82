"""Gaussian mixture refit by EM on its own samples (Shumailov et al. 2024, the GMM illustration of collapse).

Model pytree (K components in d dimensions): ``weights`` (K,), ``means`` (K, d), ``covs`` (K, d) variances
(``covariance="diag"``) or (K, d, d) matrices plus their Cholesky factors ``chol`` (K, d, d) (``"full"``).

EM (Dempster, Laird and Rubin 1977; the M-step as in Bishop, PRML eqs. 9.24-9.27, on 0/1 row weights):
  E: r_nk = pi_k N(x_n; mu_k, Sigma_k) / sum_j pi_j N(x_n; mu_j, Sigma_j), in log space (logsumexp);
  M: N_k = sum_n w_n r_nk + 10 eps, pi_k = N_k / sum N_k, mu_k = sum_n w_n r_nk x_n / N_k,
     Sigma_k = sum_n w_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg I.
The 10 eps and ``reg`` (scikit-learn's reg_covar) make a component that lost all its points a legal state: its
mean goes to 0, its covariance to reg I and its weight to ~1e-6, all finite. Iterations run in a
``lax.while_loop`` until the mean log-likelihood gains less than ``tol`` or ``max_iter`` is reached; under
vmap (the drivers) the fit runs :func:`em_batch`, which stops each chain at its own tolerance without holding
the batch for its slowest chain.
Initialisation (static ``init``): ``kmeans++`` seeding from the fit's key (Arthur and Vassilvitskii 2007)
and at most 10 weighted k-means (Lloyd) steps, then
the hard nearest-centre assignment as the first responsibilities; ``random`` responsibilities
(uniform, normalised: every component starts near the overall mean, and EM can stop at that symmetric
saddle when the likelihood climbs by less than ``tol`` per step, so it is the weakest start); ``warm``: the
previous generation's model is the first E-step's parameters (this changes the dynamics: the chain's
components keep their identity).

Sampling: a component per point by ``jax.random.categorical`` on log pi, then mu_c + L_c z (static shapes).

Truth (``params``): a mixture given by ``truth_weights`` (K0,), ``truth_means`` (K0, d), ``truth_chol``
(K0, d, d); ``holdout`` (M, d) a fixed real sample shared by every chain (the held-out log-likelihood and
the W2 estimate); ``directions`` (P, d) unit projections; ``mean0`` (d,) and ``whiten`` (d, d) the truth's
overall mean and inverse square-root covariance (tails); ``tol``, ``reg``, ``threshold``.

Metrics (components ordered by the first coordinate of their means): ``weight_k``, ``mean_k`` (first
coordinate), ``var_k`` (tr Sigma_k / d) for k = 1..K; ``active`` the number of components with weight above
``threshold``; ``heldout_ll`` the mean log-likelihood of the held-out real sample; ``sliced_w2sq`` the sliced
squared 2-Wasserstein distance between M model draws and the held-out sample, averaged over the P directions
(for d = 1 the exact W2^2 of the two empirical laws; an estimate with a finite-sample floor of order 1/M);
``tail_mass`` the share of M model draws beyond 2 sigma of the truth (Mahalanobis distance > 2 under its
overall mean and covariance; the truth's own share is in config.json); with ``--reward linear`` (r(x) = a x_1,
for ``--curate K``) ``expected_reward`` = a sum_k pi_k mu_k1, exact for the mixture (no curation theory: the
refit is EM).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from collapsim.engine import Family
from collapsim.errors import ConfigError
from collapsim.families.entry import Entry, Loop, Option, alpha_title, buffer_factor

COVARIANCES = ("full", "diag")
REWARDS = ("none", "linear")
INITS = ("kmeans++", "random", "warm")
_LOG2PI = float(np.log(2 * np.pi))


# ------------------------------------------------------------------------------------------------- truth


def two_component_truth(dim: int, separation: float = 4.0, weight: float = 0.5) -> tuple:
    """(weights (2,), means (2, d), covs (2, d, d)): N(-sep/2 e1, I) and N(+sep/2 e1, I) with weights w, 1 - w."""
    means = np.zeros((2, dim))
    means[:, 0] = [-separation / 2, separation / 2]
    return np.array([weight, 1 - weight]), means, np.stack([np.eye(dim)] * 2)


def make_params(weights, means, covs, holdout_size: int = 1000, directions: int = 16, seed: int = 0,
                tol: float = 1e-3, reg: float = 1e-6, threshold: float = 0.05) -> dict:
    """Parameter pytree for a truth mixture; the held-out sample and projections are drawn on the host from
    ``seed`` (NumPy, float64), so a run's config reproduces them."""
    weights, means, covs = (np.asarray(a, np.float64) for a in (weights, means, covs))
    k0, d = means.shape
    if weights.shape != (k0,) or covs.shape != (k0, d, d) or not np.isclose(weights.sum(), 1) or weights.min() < 0:
        raise ConfigError("the truth mixture needs weights summing to 1, means (K, d) and covariances (K, d, d)")
    chol = np.linalg.cholesky(covs)
    rng = np.random.default_rng(seed)
    comp = rng.choice(k0, size=holdout_size, p=weights)
    holdout = means[comp] + np.einsum("nij,nj->ni", chol[comp], rng.standard_normal((holdout_size, d)))
    dirs = rng.standard_normal((directions if d > 1 else 1, d))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    mean0 = weights @ means
    cov0 = np.einsum("k,kij->ij", weights, covs) + np.einsum("k,ki,kj->ij", weights, means - mean0, means - mean0)
    evals, evecs = np.linalg.eigh(cov0)
    whiten = evecs @ np.diag(evals**-0.5) @ evecs.T
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    holdout_sorted = np.sort(holdout @ dirs.T, axis=0)  # (M, P): the truth's side of the sliced W2, once
    return {"truth_weights": f32(weights), "truth_means": f32(means), "truth_chol": f32(chol), "holdout": f32(holdout),
            "holdout_sorted": f32(holdout_sorted), "directions": f32(dirs), "mean0": f32(mean0), "whiten": f32(whiten),
            "tol": f32(tol), "reg": f32(reg),
            "threshold": f32(threshold)}


def truth_tail_mass(weights, means, covs, draws: int = 2_000_000, seed: int = 1) -> float:
    """The truth's own share beyond Mahalanobis distance 2 (host Monte Carlo, float64), for comparison."""
    p = make_params(weights, means, covs, holdout_size=draws, seed=seed)
    x = np.asarray(p["holdout"], np.float64) - np.asarray(p["mean0"], np.float64)
    z = x @ np.asarray(p["whiten"], np.float64).T
    return float(np.mean((z**2).sum(1) > 4.0))


def validate(dim: int, components: int, covariance: str, init: str, max_iter: int) -> None:
    if dim < 1:
        raise ConfigError(f"--dim must be at least 1, got {dim}")
    if components < 1:
        raise ConfigError(f"--components must be at least 1, got {components}")
    if covariance not in COVARIANCES:
        raise ConfigError(f"--covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}")
    if init not in INITS:
        raise ConfigError(f"--init must be one of {', '.join(INITS)}, got {init!r}")
    if max_iter < 1:
        raise ConfigError(f"--max-iter must be at least 1, got {max_iter}")


# -------------------------------------------------------------------------------------------------- EM


def cholesky_small(cov):
    """Lower Cholesky factor of (..., d, d) matrices, unrolled over the static d (Cholesky-Banachiewicz).

    Why not jnp.linalg.cholesky: under vmap over thousands of chains on CPU each K x d x d batch becomes a
    LAPACK custom call, which runs one at a time (engine: Family.lapack) and cost 4x the whole EM step at
    d = 2; for the small d of mixture experiments plain elementwise arithmetic vectorises over chains.
    A pivot that rounding made non-positive is floored at 1e-30 relative: the factor stays finite.
    """
    d = cov.shape[-1]
    L = [[None] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1):
            acc = cov[..., i, j] - sum((L[i][k] * L[j][k] for k in range(j)), jnp.zeros_like(cov[..., i, j]))
            if i == j:
                L[i][j] = jnp.sqrt(jnp.maximum(acc, 1e-30 + 1e-7 * jnp.abs(cov[..., i, i])))
            else:
                L[i][j] = acc / L[j][j]
    zero = jnp.zeros_like(cov[..., 0, 0])
    return jnp.stack([jnp.stack([L[i][j] if j <= i else zero for j in range(d)], -1) for i in range(d)], -2)


def solve_lower_small(L, r):
    """y with L y = r by forward substitution, L (..., d, d), r (..., d), unrolled over the static d."""
    d = L.shape[-1]
    ys = []
    for i in range(d):
        acc = r[..., i] - sum((L[..., i, k] * ys[k] for k in range(i)), jnp.zeros_like(r[..., i]))
        ys.append(acc / L[..., i, i])
    return jnp.stack(ys, -1)


# The EM and k-means kernels below hold a chain's points as columns: xt (d, n), responsibilities (K, n), so
# that the long axis n is the minor (contiguous) one. Under vmap over chains the arrays are (B, K, d, n) and
# XLA's CPU loops vectorise along n; with points as rows ((n, K, d), minor axes of size 2 at K = d = 2) one
# EM iteration of 250 chains x 1,000 points took 0.15 s, about 20x the columns layout (measured, README).


def _solve_lower_cols(L, r):
    """y with L y = r for every column: L (K, d, d), r (K, d, n) -> (K, d, n), unrolled over the static d."""
    d = L.shape[-1]
    ys = []
    for i in range(d):
        acc = r[:, i] - sum((L[:, i, k, None] * ys[k] for k in range(i)), jnp.zeros_like(r[:, i]))
        ys.append(acc / L[:, i, i, None])
    return jnp.stack(ys, 1)


def _log_joint(xt, model, full: bool):
    """(log pi_k + log N(x_n; mu_k, Sigma_k) as (K, n), x_n - mu_k as (K, d, n)) for points xt (d, n)."""
    diff = xt[None] - model["means"][:, :, None]
    d = xt.shape[0]
    if full:
        chol = model["chol"]
        y = _solve_lower_cols(chol, diff)
        maha = jnp.sum(y * y, 1)
        logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=1, axis2=2)), -1)
    else:
        var = model["covs"]
        maha = jnp.sum(diff * diff / var[:, :, None], 1)
        logdet = jnp.sum(jnp.log(var), -1)
    return jnp.log(model["weights"])[:, None] - 0.5 * (maha + logdet[:, None] + d * _LOG2PI), diff


def _e_step(xt, w, model, full: bool):
    """(mean log-likelihood (sum_n w_n log p(x_n)) / sum_n w_n, responsibilities (K, n), x_n - mu_k (K, d, n))."""
    lp, diff = _log_joint(xt, model, full)
    top = jnp.max(lp, 0)
    ll = top + jnp.log(jnp.sum(jnp.exp(lp - top), 0))  # logsumexp over the K rows
    return jnp.sum(w * ll) / jnp.sum(w), jnp.exp(lp - ll), diff


def _moments(diff, rw, ref, reg, full: bool):
    """The M-step (module docstring) from weighted moments about reference means: ``diff`` = x_n - ref_k
    (K, d, n), ``rw`` = w_n r_nk (K, n), ``ref`` (K, d).

    Why about a reference: the E-step has x_n - mu_k (old means) at hand, so the M-step needs no second read
    of the points. With s = sum_n rw, N_k = s + 10 eps: mu_k = (s ref_k + sum_n rw diff) / N_k (a component
    that lost every point goes to 0, as before) and Sigma_k = sum_n rw c_n c_n^T / N_k + reg I about the new
    mean, c_n = diff_n - e, e = mu_k - ref_k. Why not the one-pass form
    sum rw diff diff^T - e S1^T - S1 e^T + s e e^T (S1 = sum rw diff): it cancels
    when a component moves far onto points that coincide (a collapsed chain), and in float32 that gave a
    negative variance and NaN (GMM, n = 2, accumulate-subsample, generation 85).
    """
    s = jnp.sum(rw, -1)
    nk = s + 10.0 * jnp.finfo(rw.dtype).eps
    s1 = jnp.sum(rw[:, None] * diff, -1)  # (K, d)
    means = (s[:, None] * ref + s1) / nk[:, None]
    c = diff - (means - ref)[:, :, None]  # (K, d, n): x_n - mu_k (new means)
    rc = rw[:, None] * c
    if not full:
        covs = jnp.sum(rc * c, -1) / nk[:, None] + reg
        return {"weights": nk / nk.sum(), "means": means, "covs": covs}
    d = diff.shape[1]
    covs = jnp.sum(rc[:, :, None] * c[:, None], -1) / nk[:, None, None] + reg * jnp.eye(d)
    return {"weights": nk / nk.sum(), "means": means, "covs": covs, "chol": cholesky_small(covs)}


def _m_step_cols(xt, w, resp, reg, full: bool):
    """M-step from responsibilities (K, n) for points xt (d, n); moments about the weighted data mean."""
    centre = (xt @ w) / jnp.sum(w)
    ref = jnp.broadcast_to(centre, (resp.shape[0], xt.shape[0]))
    return _moments(xt[None] - ref[:, :, None], resp * w, ref, reg, full)


def em_step(xt, w, model, reg, full: bool):
    """One fused EM iteration on points xt (d, n): (mean log-likelihood of ``model``, the M-step's model)."""
    ll, resp, diff = _e_step(xt, w, model, full)
    return ll, _moments(diff, resp * w, model["means"], reg, full)


def log_densities(x, model, full: bool):
    """log pi_k + log N(x_n; mu_k, Sigma_k), shape (n, K)."""
    return _log_joint(x.T, model, full)[0].T


def mean_log_likelihood(x, w, model, full: bool):
    """(sum_n w_n log p(x_n)) / sum_n w_n, and the responsibilities (n, K)."""
    ll, resp, _ = _e_step(x.T, w, model, full)
    return ll, resp.T


def m_step(x, w, resp, reg, full: bool):
    """The weighted M-step (module docstring) from responsibilities (n, K); every output finite for any
    responsibilities."""
    return _m_step_cols(x.T, w, resp.T, reg, full)


def kmeans_centres(key, xt, w, K: int, lloyd_steps: int = 10):
    """k-means++ seeding (weights w) and at most ``lloyd_steps`` k-means (Lloyd) steps: centres (K, d).

    Lloyd stops early at a fixed point (centres unchanged by a step), where the remaining steps could not
    move them: the same centres as running every step. Seeding alone put both centres in one cluster in
    ~10% of chains, and EM from there stopped at the tolerance in a poor optimum (a component mean off by
    2 in 1 chain of 200)."""
    keys = jax.random.split(key, K)
    logw = jnp.where(w > 0, 0.0, -jnp.inf)
    centres = [xt[:, jax.random.categorical(keys[0], logw)]]
    d2 = jnp.sum((xt - centres[0][:, None]) ** 2, 0)
    for k in range(1, K):
        logits = jnp.where(w > 0, jnp.log(d2 + 1e-12), -jnp.inf)
        c = xt[:, jax.random.categorical(keys[k], logits)]
        centres.append(c)
        d2 = jnp.minimum(d2, jnp.sum((xt - c[:, None]) ** 2, 0))

    def lloyd(state):  # weighted k-means steps, as scikit-learn's GaussianMixture runs k-means before EM
        c, _, it = state
        hard = _nearest(xt, c) * w
        count = hard.sum(-1)
        new = jnp.where(count[:, None] > 0, (hard @ xt.T) / jnp.maximum(count, 1.0)[:, None], c)
        return new, jnp.any(new != c), it + 1

    state = (jnp.stack(centres), jnp.bool_(True), jnp.int32(0))
    return jax.lax.while_loop(lambda s: s[1] & (s[2] < lloyd_steps), lloyd, state)[0]


def _nearest(xt, centres):
    """One-hot (K, n) of each point's nearest centre (the first on ties), points xt (d, n), centres (K, d)."""
    d2 = jnp.sum((xt[None] - centres[:, :, None]) ** 2, 1)
    return jax.nn.one_hot(jnp.argmin(d2, 0), centres.shape[0], axis=0, dtype=xt.dtype)


def kmeans_pp_resp(key, x, w, K: int, lloyd_steps: int = 10):
    """Hard responsibilities (n, K) to the nearest of :func:`kmeans_centres`, for points x (n, d)."""
    return _nearest(x.T, kmeans_centres(key, x.T, w, K, lloyd_steps)).T


def em(x, w, start, reg, tol, max_iter: int, full: bool):
    """EM from the parameters ``start`` until the mean log-likelihood gains < tol or max_iter M-steps
    (scikit-learn's rule: the gain is measured before each M-step, and the model returned is that M-step's).

    One chain, points x (n, d). Under vmap a ``lax.while_loop`` runs every chain as long as the slowest;
    the family's fit runs :func:`em_batch` instead (via ``custom_vmap``), which does not.
    Returns (model, iterations run, final mean log-likelihood).
    """
    xt = x.T
    state = _em_state(start, x.dtype)
    model, _, it, _ = jax.lax.while_loop(lambda s: _live(s, max_iter), lambda s: _em_body(xt, w, s, reg, tol, full), state)
    return model, it, _e_step(xt, w, model, full)[0]


def _em_state(start, dtype):
    """(model, previous mean log-likelihood, iterations run, converged) before the first iteration."""
    return start, jnp.full((), -jnp.inf, dtype), jnp.int32(0), jnp.bool_(False)


def _live(state, max_iter: int):
    return (state[2] < max_iter) & ~state[3]


def _em_body(xt, w, state, reg, tol, full: bool):
    model, prev, it, _ = state
    ll, new = em_step(xt, w, model, reg, full)
    return new, ll, it + 1, jnp.abs(ll - prev) < tol


def em_batch(xt, w, start, reg, tol, max_iter: int, full: bool, buffer: int = 0):
    """EM for a batch of B chains, each stopping at its own tolerance (or max_iter) as :func:`em` does, without
    holding every chain for the slowest one's iterations: points xt (B, d, n), weights w (B, n), ``start`` a
    batched model, ``reg`` and ``tol`` (B,). Returns (models, iterations run (B,)).

    The chains pass through a static buffer of ``buffer`` slots (default ceil(B / 4)): one ``lax.while_loop``
    runs EM steps on the buffered chains (converged ones frozen, as under vmap) and, whenever at most half of
    them are still live and other chains wait, writes the buffer back and refills it with the first live
    chains (an argsort and one gather of their points). The buffer thus stays at least half busy until the
    last few chains, and one EM body of one shape is compiled (a cascade of smaller buffers compiled one body
    per size, which cost more compile time than it saved at K = d = 2).
    """
    B = xt.shape[0]
    S = min(B, buffer or -(-B // 4))
    step = jax.vmap(lambda x_, w_, s, r, t: _em_body(x_, w_, s, r, t, full))
    live = jax.vmap(lambda s: _live(s, max_iter))

    def advance(x_, w_, r_, t_, sub):  # one EM step for the live chains of the buffer; the rest keep their state
        new, keep = step(x_, w_, sub, r_, t_), live(sub)
        return jax.tree.map(lambda a, b: jnp.where(keep.reshape(keep.shape + (1,) * (a.ndim - 1)), a, b), new, sub)

    state = jax.vmap(lambda s: _em_state(s, xt.dtype))(start)
    if S == B:  # one buffer holds every chain: the plain batched loop
        state = jax.lax.while_loop(lambda s: jnp.any(live(s)), lambda s: advance(xt, w, reg, tol, s), state)
        return state[0], state[2]

    def fill(state):  # the first S live chains (then finished ones), their points and state
        idx = jnp.argsort(~live(state), stable=True)[:S]
        return idx, (xt[idx], w[idx], reg[idx], tol[idx]), jax.tree.map(lambda a: a[idx], state)

    def waiting(state, idx):  # live chains outside the buffer (the buffered ones' entries are stale)
        alive = live(state)
        return jnp.sum(alive) - jnp.sum(alive[idx])

    def body(carry):
        state, idx, data, sub = carry
        sub = advance(*data, sub)
        refill = (2 * jnp.sum(live(sub)) <= S) & (waiting(state, idx) > 0)

        def swap(c):
            st = jax.tree.map(lambda a, b: a.at[c[1]].set(b), c[0], c[3])
            return (st,) + fill(st)

        return jax.lax.cond(refill, swap, lambda c: c, (state, idx, data, sub))

    def more(carry):
        state, idx, _, sub = carry
        return jnp.any(live(sub)) | (waiting(state, idx) > 0)

    state, idx, _, sub = jax.lax.while_loop(more, body, (state,) + fill(state))
    state = jax.tree.map(lambda a, b: a.at[idx].set(b), state, sub)
    return state[0], state[2]


def em_trace(x, w, start, reg, iters: int, full: bool):
    """The mean log-likelihood before each of ``iters`` EM steps and after the last, (iters + 1,): EM's
    monotonicity (Dempster et al. 1977, theorem 1) is what the tests check on it."""
    xt = x.T

    def step(model, _):
        ll, new = em_step(xt, w, model, reg, full)
        return new, ll

    model, lls = jax.lax.scan(step, start, None, length=iters)
    return jnp.append(lls, _e_step(xt, w, model, full)[0])


# ------------------------------------------------------------------------------------------------ family


def _em_per_chain_or_batch(full: bool, max_iter: int):
    """The fit's EM, ``run(xt (d, n), w (n,), start, reg, tol) -> model``: :func:`em` for one chain, and under
    vmap (the drivers map the step over chains) :func:`em_batch`, which does not hold every chain for the
    slowest one's iterations. ``custom_vmap`` swaps the batched rule in without the engine knowing."""

    @jax.custom_batching.custom_vmap
    def run(xt, w, start, reg, tol):
        return em(xt.T, w, start, reg, tol, max_iter, full)[0]

    @run.def_vmap
    def _batched(axis_size, in_batched, xt, w, start, reg, tol):
        args = [a if b else jnp.broadcast_to(a, (axis_size,) + jnp.shape(a))
                for a, b in zip(jax.tree.leaves((xt, w, start, reg, tol)), jax.tree.leaves(in_batched))]
        xt, w, start, reg, tol = jax.tree.unflatten(jax.tree.structure((xt, w, start, reg, tol)), args)
        model = em_batch(xt, w, start, reg, tol, max_iter, full)[0]
        return model, jax.tree.map(lambda _: True, model)

    return run


def sort_floats(a, axis: int = -1):
    """``jnp.sort(a, axis)``; on a CPU backend NumPy sorts, through a host callback (one call per batch of
    chains: the callback is vmapped by adding leading axes, so ``axis`` is taken from the end).

    Why: XLA's CPU sort calls a compiled comparator per comparison, and the sliced W2's 16 sorts of 1,000
    model draws per chain were most of a generation: 250 chains took 0.44 s in XLA (0.30 s on int32 keys)
    against 0.09 s in NumPy (loaded 2-core machine). Sorting is exact, so the numbers are the same; other
    backends (a GPU) keep XLA's sort."""
    if jax.default_backend() != "cpu":
        return jnp.sort(a, axis=axis)
    from_end = axis - a.ndim if axis >= 0 else axis
    return jax.pure_callback(lambda v: np.sort(v, axis=from_end), jax.ShapeDtypeStruct(a.shape, a.dtype), a,
                             vmap_method="expand_dims")


#: Metrics a loop may record only every k-th generation (``LoopConfig.metrics_every``): the two that draw the
#: held-out-size sample from the model and sort its 16 projections. Measured (d = 2, K = 2, n = 1,000,
#: k-means++ EM, 10 generations, 100 chains, CPU seconds, load ~5): 2.58 s with every metric, 0.89 s without
#: these two, 2.56 s without the held-out log-likelihood (one E-step over the held-out points: cheap here).
EXPENSIVE_METRICS = ("sliced_w2sq", "tail_mass")


@lru_cache(maxsize=None)
def gmm(dim: int = 2, components: int = 2, covariance: str = "full", init: str = "kmeans++", max_iter: int = 100,
        reward: str = "none") -> Family:
    """The GMM family for static sizes and switches (cached: one object each). ``reward`` "linear": points
    score ``x @ params["reward_direction"]`` (d,), the family can be curated and records expected_reward."""
    validate(dim, components, covariance, init, max_iter)
    if reward not in REWARDS:
        raise ConfigError(f"unknown --reward {reward!r}; choose one of {', '.join(REWARDS)}")
    full = covariance == "full"
    K = components
    start_from = init  # the name ``init`` is the family's init function below

    def _draw(key, weights, means, chol_or_sd, n):
        kc, kz = jax.random.split(key)
        c = jax.random.categorical(kc, jnp.log(weights), shape=(n,))
        z = jax.random.normal(kz, (n, dim))
        if chol_or_sd.ndim == 3:
            return means[c] + jnp.einsum("nij,nj->ni", chol_or_sd[c], z)
        return means[c] + chol_or_sd[c] * z

    def init(key, params):
        # generation 0: EM on a real sample of the holdout's size would add a fit; the truth is a mixture, and
        # when it has K components it is the model (else the first generation's fit starts the chain).
        k0 = params["truth_weights"].shape[0]
        if k0 == K:
            model = {"weights": params["truth_weights"], "means": params["truth_means"]}
            chol = params["truth_chol"]
            if full:
                return {**model, "covs": chol @ jnp.swapaxes(chol, 1, 2), "chol": chol}
            return {**model, "covs": jnp.sum(chol * chol, -1)}
        x = sample_real(key, params, params["holdout"].shape[0])
        return fit(key, None, x, None, params)

    def sample_real(key, params, n):
        return _draw(key, params["truth_weights"], params["truth_means"], params["truth_chol"], n)

    def sample(key, model, n, params):
        return _draw(key, model["weights"], model["means"], model["chol"] if full else jnp.sqrt(model["covs"]), n)

    run_em = _em_per_chain_or_batch(full, max_iter)

    def fit(key, previous, x, weight, params):
        w = jnp.ones((x.shape[0],), jnp.float32) if weight is None else weight
        xt = x.T
        if start_from == "warm" and previous is not None:
            start = previous
        elif start_from == "random":
            r = jax.random.uniform(key, (x.shape[0], K))
            start = _m_step_cols(xt, w, (r / r.sum(1, keepdims=True)).T, params["reg"], full)
        else:
            centres = kmeans_centres(key, xt, w, K)
            start = _moments(xt[None] - centres[:, :, None], _nearest(xt, centres) * w, centres, params["reg"], full)
        return run_em(xt, w, start, params["reg"], params["tol"])

    def metrics(key, model, params):
        order = jnp.argsort(model["means"][:, 0])
        var = model["covs"] if not full else jnp.diagonal(model["covs"], axis1=1, axis2=2)
        var = jnp.mean(var, -1)
        out = {}
        for k in range(K):
            out[f"weight_{k + 1}"] = model["weights"][order[k]]
            out[f"mean_{k + 1}"] = model["means"][order[k], 0]
            out[f"var_{k + 1}"] = var[order[k]]
        out["active"] = jnp.sum(model["weights"] > params["threshold"]).astype(jnp.float32)
        hold = params["holdout"]
        out["heldout_ll"] = jnp.mean(logsumexp(log_densities(hold, model, full), axis=1))
        y = sample(key, model, hold.shape[0], params)
        proj_model = sort_floats(y @ params["directions"].T, axis=0)
        out["sliced_w2sq"] = jnp.mean((proj_model - params["holdout_sorted"]) ** 2)
        z = (y - params["mean0"]) @ params["whiten"].T
        out["tail_mass"] = jnp.mean(jnp.sum(z * z, -1) > 4.0)
        if reward == "linear":  # E r = w . E X, and a mixture's mean is its weighted component means
            out["expected_reward"] = model["weights"] @ (model["means"] @ params["reward_direction"])
        return out

    def reward_fn(x, params):
        return (x @ params["reward_direction"])[:, None]  # (n, 1)

    return Family("gmm", init, sample_real, sample, fit, metrics, expensive=EXPENSIVE_METRICS,
                  reward=reward_fn if reward != "none" else None)


# ---------------------------------------------------------------------------------------------------- entry

def _gmm_build(spec) -> Loop:

    o, p = spec.family_options, spec.params
    validate(o["dim"], o["components"], o["covariance"], o["init"], o["max_iter"])
    if spec.method == "shortcut":
        raise ConfigError("the gmm family has no sufficient-statistics shortcut; use --method explicit")
    if not 0 <= o["truth_weight"] <= 1:
        raise ConfigError(f"--truth-weight must lie in [0, 1], got {o['truth_weight']}")
    if o["holdout"] < 2:
        raise ConfigError(f"--holdout must be at least 2, got {o['holdout']}")
    for name in ("tol", "reg", "threshold"):
        if not (float(p[name]) >= 0 and float(p[name]) != float("inf")):
            raise ConfigError(f"--{name} must be a finite number >= 0, got {p[name]}")
    if spec.curate > 1 and o["reward"] == "none":
        raise ConfigError(f"--curate {spec.curate} needs a reward to curate by (the gmm family has no reward unless "
                          "one is chosen): --reward linear")
    truth = two_component_truth(o["dim"], float(o["separation"]), float(o["truth_weight"]))
    params = make_params(*truth, holdout_size=o["holdout"], seed=spec.seed, tol=float(p["tol"]), reg=float(p["reg"]),
                             threshold=float(p["threshold"]))
    if o["reward"] == "linear":
        params["reward_direction"] = jnp.asarray(float(o["reward_scale"]) * np.eye(o["dim"])[0], jnp.float32)
    derived = {"truth": f"{o['truth_weight']:g} N(-{o['separation'] / 2:g} e1, I_{o['dim']}) + "
                        f"{1 - o['truth_weight']:g} N(+{o['separation'] / 2:g} e1, I_{o['dim']})",
               "truth_tail_mass": truth_tail_mass(*truth, draws=200_000)}
    return Loop(gmm(o["dim"], o["components"], o["covariance"], o["init"], o["max_iter"], o["reward"]), params, False,
                derived)


def _gmm_check(spec) -> None:
    o = spec.family_options
    if o["components"] > spec.samples:  # more components than points: k-means++ and EM have nothing to split
        raise ConfigError(f"--components {o['components']} is more than the {spec.samples} samples per generation; "
                          "a mixture fit needs at least one point per component")


def _gmm_holdout_floats(spec) -> float:
    """Floats per chain for the held-out sample's work (M = --holdout points): each chain draws M points from
    its model (M, d), projects and sorts them on P directions (M, P, twice), evaluates the held-out sample
    under its K components (M, K); generation 0 may fit EM on M real points (responsibilities and k-means
    distances, (M, K, d + 4)). ``--holdout 1,000,000,000`` is 8 GiB on the host and far more per chain."""
    o = spec.family_options
    M, K, d = float(o["holdout"]), float(o["components"]), float(o["dim"])
    P = 16.0 if d > 1 else 1.0  # gmm.make_params's projection directions
    return M * (K * (d + 4) + 2 * d + 2 * P)


def _gmm_predict(spec, loop):
    from collapsim.theory import Prediction

    return Prediction({}, {}, "no closed form for a mixture refit by EM (Monte Carlo only; with --curate, no "
                              "curation theory either)")


def _gmm_title(spec) -> str:
    o = spec.family_options
    curated = f", curate={spec.curate} ({o['reward']}, beta={spec.reward_temperature:g})" if spec.curate > 1 else ""
    return (f"gmm K={o['components']} d={o['dim']} ({o['covariance']}, init {o['init']}), n={spec.samples}, {spec.policy}"
            + alpha_title(spec) + curated + f", {spec.seeds} chains")


ENTRY = Entry(
    "gmm", "Refit a Gaussian mixture by EM on its own samples (Shumailov et al. 2024): components collapse.",
    {"generations": 50, "samples": 1000, "seeds": 200},
    (
        Option("dim", int, 2, "Dimension d.", low=1),
        Option("components", int, 2, "Components K of the fitted mixture (at most the samples per generation).", low=1),
        Option("covariance", str, "full", "Full covariance matrices or diagonal variances.", choices=("full", "diag")),
        Option("init", str, "kmeans++", "EM start: k-means++ seeding, random responsibilities, or the previous model (warm).",
               choices=("kmeans++", "random", "warm")),
        Option("max_iter", int, 100, "Most EM iterations per fit.", low=1),
        Option("separation", float, 4.0, "Truth: distance between the two unit-covariance components.", low=0),
        Option("truth_weight", float, 0.5, "Truth: weight of the left component.", low=0, high=1),
        Option("holdout", int, 1000, "Size of the held-out real sample (log-likelihood, W2, tails).", low=2),
        Option("tol", float, 1e-3, "EM stops when the mean log-likelihood gains less.", target="params", low=0),
        Option("reg", float, 1e-6, "Added to every covariance's diagonal (scikit-learn's reg_covar).", target="params", low=0),
        # A weight is at most 1, so a threshold of 1 or more would count no component active, ever.
        Option("threshold", float, 0.05, "Weight above which a component counts as active, in [0, 1).", target="params",
               low=0, high=1, open_high=True),
        Option("reward", str, "none", "Reward for --curate and the expected_reward metric: linear (a x_1, a = "
               "--reward-scale).", choices=REWARDS),
        Option("reward_scale", float, 1.0, "The linear reward's slope a along x_1 (its sign picks the direction).",
               low=-1e6, high=1e6),
    ),
    _gmm_build, _gmm_predict, _gmm_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["components"]
    * spec.family_options["dim"] ** 2 * 20 * buffer_factor(spec),
    lambda spec: (float(spec.family_options["components"]) * spec.family_options["dim"] ** 2 * 3 + _gmm_holdout_floats(spec),
                  float(spec.family_options["dim"] * (spec.family_options["components"] * 4 + 1))),
    check=_gmm_check,
    sweep_metric="active",
    # more components than samples is refused (_gmm_check), so the smallest n of K components is K
    smallest=({"samples": 2, "dim": 1, "covariance": "diag", "init": "warm", "max_iter": 10, "holdout": 64},
              {"samples": 2, "dim": 2, "init": "kmeans++", "max_iter": 20, "holdout": 64},
              {"samples": 2, "dim": 2, "init": "random", "max_iter": 20, "holdout": 64},
              {"samples": 3, "dim": 1, "components": 3, "covariance": "diag", "init": "warm", "max_iter": 20, "holdout": 64}),
)
