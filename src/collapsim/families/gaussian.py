"""Gaussian family: N(mu, Sigma) in d dimensions, refit by (weighted) sample mean and covariance.

Model pytree: ``{"mean": (d,), "cov": (d, d)}``, plus for a full covariance in d > 1 a factor ``"root"``
(d, d) (root root^T = cov) and ``"logdet"`` (log det cov) (and W2's cross term ``"cross"`` when n <= d),
computed once where the model is made (the fit, or the replace shortcut without any factorisation) and
used by the sampler, the shortcut and the metrics. Parameters (sweepable, see :func:`make_params`): the truth's ``mean``
(d,) and ``cov`` (d, d) with its factors computed once on the host in float64. Static settings: ``dim``, ``covariance`` ("full" fits the whole matrix, "isotropic" fits
s^2 I with s^2 = tr(scatter) / (d (N - ddof))) and ``ddof`` (0: maximum likelihood, 1: unbiased).

Metrics (names used in ``metrics.csv``):
  ``sigma2``         mean diagonal variance tr(Sigma_t) / d,
  ``mean_sq_drift``  ||mu_t - mu_0||^2,
  ``w2sq``           squared 2-Wasserstein distance to the truth,
                     ||mu_t - mu_0||^2 + tr(S + S0 - 2 (S0^1/2 S S0^1/2)^1/2),
  ``log_sigma2``     log sigma2 (its exact mean, unlike sigma2's, is what a Monte Carlo mean can check),
  ``det_ratio``      det(Sigma_t) / det(Sigma_0) (full covariance, d > 1 only),
  ``log_det_ratio``  log det(Sigma_t) - log det(Sigma_0) from the model's factor (full covariance, n > d > 1),
  ``expected_reward`` E_model r(X) in closed form, with a reward (``--reward``, below).

Rewards (``--reward``, for ``--curate K``; see :func:`reward_params`), with a = ``--reward-scale`` and the
target x* = t e_1, t = ``--reward-target``:
  ``linear``   r(x) = a x_1 (w = a e_1),                     E r = a mu_1;
  ``target``   r(x) = -a ||x - x*||^2,                       E r = -a (||mu - x*||^2 + tr Sigma);
  ``several``  R = 2 targets, +t e_1 and -t e_1, each K-tuple judged by one of them at random; expected_reward
               is the mean of the two targets' E r. The curated theory (collapsim.theory.gaussian_curation)
               covers ``linear``.

Surviving collapse. Collapsed chains are legal states: a covariance whose float32 scatter is no longer
positive definite (or has rank < d, as it must when n <= d) gets the factor of its PSD part (pivots or
eigenvalues within float32 rounding of 0 are 0), so it samples in its own subspace and every metric stays
finite (det_ratio becomes 0).

Linear algebra per generation. For d <= PURE_MAX_DIM it is plain jnp: a pivoted Cholesky of the fitted
covariance (:func:`psd_factor`, which also gives log det) and a one-sided Jacobi SVD for W2's cross term
(:func:`nuclear_norm`, run batch-last under vmap). With no LAPACK custom call in the step the chains run on
every host device at once; LAPACK calls must run one program at a time, because two programs with LAPACK
custom calls running at once deadlock XLA's CPU thread pool (both of its threads wait inside the calls).
Above PURE_MAX_DIM the fit takes an eigendecomposition and W2 one ``eigvalsh`` (two dependent LAPACK calls),
and the engine runs those chains one call at a time.

Sufficient-statistics shortcut (Shumailov et al. 2024, REFERENCES.md section 1): n i.i.d. draws from
N(mu, Sigma) have sample mean ~ N(mu, Sigma / n) and scatter matrix ~ Wishart(n - 1, Sigma),
independent. For the mixture alpha * truth + (1 - alpha) * model, draw the number of real points
m ~ Binomial(n, alpha), the two groups' statistics independently, and pool them with the parallel-variance
formula scatter = S_r + S_s + m (n - m) / n (xbar_r - xbar_s)(xbar_r - xbar_s)^T (Chan et al. 1979).
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import rng
from collapsim.engine import Family
from collapsim.errors import ConfigError
from collapsim.families.entry import Entry, Loop, Option, alpha_title, buffer_factor, resolve_method

COVARIANCES = ("full", "isotropic")


def make_params(mean, cov) -> dict:
    """The parameter pytree of the truth N(mean, cov) (d,), (d, d), with its factors computed in float64.

    ``root`` (d, d): an eigendecomposition factor, root root^T = cov (sampling); ``logdet``: log det cov (the
    det_ratio metric); ``tr_sqrt``: tr cov^1/2 (W2 to an isotropic model).
    """
    mean = np.asarray(mean, np.float64).reshape(-1)
    cov = np.asarray(cov, np.float64)
    d = mean.shape[0]
    if cov.shape != (d, d) or not np.allclose(cov, cov.T) or not np.all(np.isfinite(cov)):
        raise ConfigError(f"the truth's covariance must be a finite symmetric {d}x{d} matrix, got shape {cov.shape}")
    evals, evecs = np.linalg.eigh(cov)
    if evals.min() <= 0:
        raise ConfigError(f"the truth's covariance must be positive definite (smallest eigenvalue {evals.min():.3g})")
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return {"mean": f32(mean), "cov": f32(cov), "root": f32(evecs * np.sqrt(evals)),
            "logdet": f32(np.log(evals).sum()), "tr_sqrt": f32(np.sqrt(evals).sum())}


def default_params(dim: int = 1, variance: float = 1.0) -> dict:
    """Truth N(0, variance * I_dim) as a parameter pytree."""
    return make_params(np.zeros(dim), variance * np.eye(dim))


def validate(dim: int, covariance: str, ddof: int, samples: int) -> None:
    """Raise :class:`ConfigError` for settings the fit cannot honour."""
    if dim < 1:
        raise ConfigError(f"dim must be at least 1, got {dim}")
    if covariance not in COVARIANCES:
        raise ConfigError(f"covariance must be one of {', '.join(COVARIANCES)}, got {covariance!r}")
    if ddof < 0:
        raise ConfigError(f"ddof must be 0 or more, got {ddof}")
    if samples < 2:
        raise ConfigError(f"a variance needs at least 2 samples per generation, got {samples}")
    if ddof >= samples:
        raise ConfigError(f"ddof {ddof} needs more than {ddof} samples per generation, got {samples}")


def _chi2(key: jax.Array, dof: jax.Array) -> jax.Array:
    """chi^2 draws with (possibly traced, possibly zero) degrees of freedom; chi^2_0 = 0 exactly."""
    dof = jnp.asarray(dof, jnp.float32)
    g = jax.random.gamma(key, jnp.maximum(dof, 1.0) / 2.0)
    return jnp.where(dof > 0, 2.0 * g, 0.0)


def _bartlett(key: jax.Array, dof, dim: int) -> jax.Array:
    """A (d, d) lower triangular with A A^T ~ Wishart(dof, I) (Bartlett decomposition); needs dof >= d."""
    k_diag, k_off = jax.random.split(key)
    diag = jnp.sqrt(_chi2(k_diag, dof - jnp.arange(dim, dtype=jnp.float32)))
    off = jnp.tril(jax.random.normal(k_off, (dim, dim)), -1)
    return off + jnp.diag(diag)


#: Metrics a loop may record only every k-th generation (``LoopConfig.metrics_every``), full covariance in
#: d > 1: W2's cross term (a Jacobi SVD, or LAPACK ``eigvalsh`` above PURE_MAX_DIM) costs more than the rest
#: of the step; sigma2, mean_sq_drift and det_ratio (log det comes with the fit's factor) are traces and dot
#: products. Measured in the README's "Performance at scale".
EXPENSIVE_METRICS = ("w2sq",)

#: Largest dimension whose per-generation linear algebra runs in plain jnp (an unrolled Cholesky and a
#: one-sided Jacobi SVD) rather than LAPACK: no LAPACK custom call in the step lets the chains run on every
#: host device at once (LAPACK calls run one program at a time, see :class:`collapsim.engine.Family`).
#: Measured at d = 10, n = 100, 1,000 chains, 2 cores: see the README's benchmark grid.
PURE_MAX_DIM = 16


def jacobi_sweeps(dim: int) -> int:
    """Sweeps of the one-sided Jacobi SVD for float32 convergence (quadratic after the first few sweeps):
    relative error of the nuclear norm below 1e-6 over random and rank-deficient Wisharts at d <= 10 with 6,
    at d <= 16 with 8 (checked against float64 LAPACK in tests/test_gaussian_family.py)."""
    return 6 if dim <= 10 else 8


def psd_factor(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(R (d, d), log det a) with R R^T = a for a symmetric positive semi-definite a (d, d), in plain jnp.

    Cholesky with diagonal pivoting (Higham, Accuracy and Stability of Numerical Algorithms, section 10.3):
    each step takes the largest remaining diagonal of the Schur complement as pivot and subtracts its column's
    outer product; once every remaining pivot is within float32 rounding of zero (d eps max diag(a), numpy's
    matrix_rank tolerance) the rest is zero, so R R^T differs from a by at most that tolerance and a
    rank-deficient or rounding-indefinite scatter gets the factor of its PSD part (a collapsed model is a
    legal state that samples in its own subspace; its log det is -inf). R's columns are in pivot order, not
    triangular: every use (sampling, the W2 cross term, the shortcut) needs only R R^T = a. det a is the
    product of the pivots. Unrolled over the d columns (d static and small).
    """
    d = a.shape[0]
    tol = d * jnp.finfo(a.dtype).eps * jnp.max(jnp.abs(jnp.diagonal(a)))
    idx = jnp.arange(d)
    schur, cols, logdet = a, [], jnp.zeros((), a.dtype)
    for _ in range(d):
        diag = jnp.diagonal(schur)
        pick = idx == jnp.argmax(diag)
        pivot = jnp.max(diag)
        ok = pivot > tol
        col = jnp.where(ok, (schur @ pick.astype(a.dtype)) * jax.lax.rsqrt(jnp.where(ok, pivot, 1.0)), 0.0)
        schur = schur - col[:, None] * col[None, :]
        cols.append(col)
        logdet = logdet + jnp.where(ok, jnp.log(jnp.where(ok, pivot, 1.0)), -jnp.inf)
    return jnp.stack(cols, axis=1), logdet


def _nuclear_norm_last(m: jax.Array, sweeps: int) -> jax.Array:
    """:func:`nuclear_norm` of a batch m (d, k, B) with the batch axis last, returning (B,).

    Batch-last so that every step is an operation on contiguous runs of B numbers (one per chain): with the
    chains first, as vmap lays them out, the innermost axis would be k / 2 columns long and the rounds ran
    several times slower (measured at d = 10, 500 chains).
    """
    k = m.shape[1]
    if k % 2:
        m = jnp.concatenate([m, jnp.zeros((m.shape[0], 1) + m.shape[2:], m.dtype)], axis=1)
        k += 1
    # Round-robin tournament on two rows of columns: top[:, i] meets bottom[:, i]; then the first column stays
    # and the others move one place round the two rows (k - 1 rounds meet every pair once).
    def round_(_, pair):  # the same body every round, so one rolled loop (small programs at any d)
        top, bottom = pair
        alpha, beta, gamma = (top * top).sum(0), (bottom * bottom).sum(0), (top * bottom).sum(0)
        nonzero = gamma != 0
        zeta = (beta - alpha) / (2.0 * jnp.where(nonzero, gamma, 1.0))
        t = jnp.where(nonzero, jnp.where(zeta >= 0, 1.0, -1.0) / (jnp.abs(zeta) + jnp.hypot(1.0, zeta)), 0.0)
        c = jax.lax.rsqrt(1.0 + t * t)
        s = c * t
        top, bottom = c * top - s * bottom, s * top + c * bottom
        if k > 2:
            top, bottom = (jnp.concatenate([top[:, :1], bottom[:, :1], top[:, 1:-1]], axis=1),
                           jnp.concatenate([bottom[:, 1:], top[:, -1:]], axis=1))
        return top, bottom

    top, bottom = jax.lax.fori_loop(0, sweeps * (k - 1), round_, (m[:, : k // 2], m[:, k // 2 :]))
    return jnp.sqrt((top * top).sum(0)).sum(0) + jnp.sqrt((bottom * bottom).sum(0)).sum(0)


def nuclear_norm(m: jax.Array, sweeps: int | None = None) -> jax.Array:
    """Sum of the singular values of m (d, k) by the one-sided Jacobi method (Hestenes 1958), in plain jnp.

    Columns are orthogonalised pairwise by plane rotations in round-robin order (k/2 disjoint pairs per round,
    k - 1 rounds per sweep, all static slices); once orthogonal, the singular values are the column norms.
    Each rotation zeroes the pair's inner product gamma with t = sign(zeta) / (|zeta| + hypot(1, zeta)),
    zeta = (|q|^2 - |p|^2) / (2 gamma) (Golub and Van Loan, section 8.6.3). One-sided, so small singular
    values keep their relative accuracy instead of being squared. Under vmap the batch is moved last
    (:func:`_nuclear_norm_last`).
    """

    sweeps = jacobi_sweeps(max(m.shape)) if sweeps is None else sweeps

    @jax.custom_batching.custom_vmap
    def one(m):
        return _nuclear_norm_last(m[..., None], sweeps)[0]

    @one.def_vmap
    def _batched(axis_size, in_batched, m):
        if not in_batched[0]:
            return one(m), False
        return _nuclear_norm_last(jnp.moveaxis(m, 0, -1), sweeps), True

    return one(m)


REWARDS = ("none", "linear", "target", "several")


def reward_params(name: str, dim: int, scale: float, target: float) -> dict:
    """The reward's numbers, for the family's params: ``reward_direction`` (d,) = a e_1 (linear), or
    ``reward_targets`` (R, d) and ``reward_scale`` a (target: x* = t e_1; several: +t e_1 and -t e_1)."""
    e1 = np.eye(dim)[0]
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    if name == "none":
        return {}
    if name == "linear":
        return {"reward_direction": f32(scale * e1)}
    if name in ("target", "several"):
        signs = [1.0] if name == "target" else [1.0, -1.0]
        return {"reward_targets": f32([sg * target * e1 for sg in signs]), "reward_scale": f32(scale)}
    raise ConfigError(f"unknown --reward {name!r}; choose one of {', '.join(REWARDS)}")


def point_rewards(name: str, x: jax.Array, params) -> jax.Array:
    """Rewards (n, R) of points x (n, d) under the built-in reward ``name`` (its numbers in ``params``)."""
    if name == "linear":
        return (x @ params["reward_direction"])[:, None]
    targets = params["reward_targets"]  # (R, d): ||x - x*||^2 expanded, one (n, R) product instead of (n, R, d)
    sq = (x * x).sum(axis=1)[:, None] - 2.0 * x @ targets.T + (targets * targets).sum(axis=1)[None, :]
    return -params["reward_scale"] * sq


def model_expected_reward(name: str, mean: jax.Array, cov: jax.Array, params) -> jax.Array:
    """E r(X) for X ~ N(mean (d,), cov (d, d)), in closed form (the mean over the R targets for ``several``)."""
    if name == "linear":
        return mean @ params["reward_direction"]
    gap = mean[None, :] - params["reward_targets"]  # (R, d)
    return -params["reward_scale"] * ((gap * gap).sum(axis=1).mean() + jnp.trace(cov))


@lru_cache(maxsize=None)
def gaussian(dim: int = 1, covariance: str = "full", ddof: int = 1, samples: int = 0, reward: str = "none") -> Family:
    """Build the Gaussian family for static ``dim``, ``covariance`` and ``ddof`` (cached: one object each).

    ``samples``: the loop's n when the caller knows it (0: unknown). At n <= d (full covariance, d > 1) every
    unweighted fit is thin, its factor a (d, n) matrix padded with zero columns; the models then carry W2's
    cross term, computed where the model is made from the n-column factor, because the metric would see only
    the padded (d, d) one (d = 100, n = 10: an SVD of 100 x 100 instead of a Jacobi sweep over 100 x 10, 4x
    the whole loop). W2 is then cheap and not among the expensive metrics.

    ``reward``: a built-in reward (:data:`REWARDS`; its numbers in params, :func:`reward_params`): the family
    can then be curated and records ``expected_reward``; "none": neither.
    """
    if dim < 1 or covariance not in COVARIANCES or ddof < 0:
        validate(dim, covariance, ddof, samples=max(ddof + 1, 2))
    if reward not in REWARDS:
        raise ConfigError(f"unknown --reward {reward!r}; choose one of {', '.join(REWARDS)}")
    isotropic = covariance == "isotropic"
    factored = dim > 1 and not isotropic  # the model carries a factor of its covariance and its log det
    pure = dim <= PURE_MAX_DIM  # factor and W2 in plain jnp: no LAPACK call in the step
    carry_cross = factored and 0 < samples <= dim  # thin fits: W2's cross term made with the model
    rewarded = reward != "none"
    eye = jnp.eye(dim, dtype=jnp.float32)

    def _factor(cov):
        if pure:
            return psd_factor(cov)
        evals, evecs = jnp.linalg.eigh(cov)
        # The floor: eigenvalues within float32 rounding of zero (relative to the largest, numpy's matrix_rank
        # tolerance) are zero, so a rank-deficient or non-PD float32 scatter is a degenerate, legal model.
        tol = dim * jnp.finfo(cov.dtype).eps * jnp.max(jnp.abs(evals))
        evals = jnp.where(evals > tol, evals, 0.0)
        return evecs * jnp.sqrt(evals), jnp.sum(jnp.log(evals))

    def _cross(params, root):
        """W2's cross term tr (S0^1/2 S S0^1/2)^1/2 = the sum of the singular values of R0^T R for S = R R^T,
        S0 = R0 R0^T (the truth's factor from make_params): no square root of either matrix per generation."""
        m = params["root"].T @ root
        if m.shape[1] <= PURE_MAX_DIM:
            return nuclear_norm(m)
        # One LAPACK call: singular values straight from m, not eigenvalues of m^T m (no Gram matmul, and a
        # small singular value keeps its digits); 0.29-0.40 against 0.42-0.50 ms at d = 100.
        return jnp.linalg.svd(m, compute_uv=False).sum()

    def _with_cross(model, params, factor):
        """The model, with W2's cross term from ``factor`` (any F with F F^T = cov) when models carry it."""
        return dict(model, cross=_cross(params, factor)) if carry_cross else model

    def _model(mean, cov, params):
        if not factored:
            return {"mean": mean, "cov": cov}
        root, logdet = _factor(cov)
        return _with_cross({"mean": mean, "cov": cov, "root": root, "logdet": logdet}, params, root)

    def _truth(params):
        if not factored:
            return {"mean": params["mean"], "cov": params["cov"]}
        truth = {"mean": params["mean"], "cov": params["cov"], "root": params["root"], "logdet": params["logdet"]}
        return dict(truth, cross=jnp.trace(params["cov"])) if carry_cross else truth  # the truth with itself: tr S0

    def _draw(key, model, n):
        z = rng.normal(key, (n, dim))
        if factored:
            return model["mean"] + z @ model["root"].T
        return model["mean"] + jnp.sqrt(jnp.clip(model["cov"][0, 0], 0.0)) * z  # d = 1, or s^2 I

    def init(key, params):
        return _truth(params)

    def sample_real(key, params, n):
        return _draw(key, _truth(params), n)

    def sample(key, model, n, params):
        return _draw(key, model, n)

    def _from_scatter(mean, scatter, count, params):
        if isotropic:
            return _model(mean, jnp.trace(scatter) / (dim * (count - ddof)) * eye, params)
        return _model(mean, scatter / (count - ddof), params)

    def _thin(mean, xc, params):
        """A full-covariance fit of N <= d unweighted points with no factorisation: Xc^T / sqrt(N - ddof) (d, N)
        is already a factor of the covariance (rank <= N - 1 < d, so det = 0), padded to (d, d) with zero
        columns."""
        rows = xc.shape[0]
        thin = xc.T * jax.lax.rsqrt(jnp.float32(rows - ddof))
        root = jnp.concatenate([thin, jnp.zeros((dim, dim - rows), thin.dtype)], axis=1)
        return _with_cross({"mean": mean, "cov": thin @ thin.T, "root": root, "logdet": jnp.float32(-jnp.inf)},
                           params, thin)

    def fit(key, previous, x, w, params):
        # Plain reductions rather than matmuls: under vmap, tiny per-chain matmuls cost more than the draws.
        wcol = 1.0 if w is None else w[:, None]
        count = x.shape[0] if w is None else w.sum()
        mean = (wcol * x).sum(axis=0) / count
        xc = x - mean
        if dim == 1 or isotropic:
            ss = (wcol * xc * xc).sum()
            return _from_scatter(mean, ss * eye / dim if isotropic else ss * eye, count, params)
        if w is None and x.shape[0] <= dim and x.shape[0] > ddof:
            return _thin(mean, xc, params)
        return _from_scatter(mean, jnp.einsum("ni,nj->ij", wcol * xc, xc), count, params)

    def metrics(key, model, params):
        drift = model["mean"] - params["mean"]
        cov, cov0 = model["cov"], params["cov"]
        out = {"sigma2": jnp.trace(cov) / dim, "mean_sq_drift": drift @ drift}
        # The log of a variance that rounding took to 0 would be -inf: floored at the log of the float type's
        # smallest normal number (-87.3 in float32, -708.4 in float64), a collapsed chain's legal value.
        log_tiny = jnp.log(jnp.finfo(cov.dtype).tiny)
        out["log_sigma2"] = jnp.maximum(jnp.log(out["sigma2"]), log_tiny)
        if dim == 1:
            out["w2sq"] = drift @ drift + (jnp.sqrt(jnp.clip(cov[0, 0], 0.0)) - jnp.sqrt(cov0[0, 0])) ** 2
        elif isotropic:
            cross = jnp.sqrt(jnp.clip(cov[0, 0], 0.0)) * params["tr_sqrt"]
            out["w2sq"] = drift @ drift + jnp.trace(cov) + jnp.trace(cov0) - 2.0 * cross
        else:
            # log det was computed where the model was made (fit or shortcut); the cross term is computed here,
            # in the metric, so a loop recording W2 every k-th generation skips it (EXPENSIVE_METRICS), except
            # for thin fits, whose models carry it (see ``samples`` above).
            cross = model["cross"] if carry_cross else _cross(params, model["root"])
            out["w2sq"] = jnp.maximum(drift @ drift + jnp.trace(cov) + jnp.trace(cov0) - 2.0 * cross, 0.0)
            out["det_ratio"] = jnp.exp(model["logdet"] - params["logdet"])
            if samples == 0 or samples > dim:  # at n <= d every fit is singular: log det is -inf, no metric
                # From the model's log det, which a float32 det (underflowing to 0 within a few dozen
                # generations) cannot give; floored like log_sigma2 where the fit lost rank to rounding.
                out["log_det_ratio"] = jnp.maximum(model["logdet"], dim * log_tiny) - params["logdet"]
        if rewarded:
            out["expected_reward"] = model_expected_reward(reward, model["mean"], cov, params)
        return out

    def reward_fn(x, params):
        return point_rewards(reward, x, params)

    def _group_stats(key, model, m):
        """Sample mean and scatter of m draws from ``model`` (m may be traced; m = 0 gives zeros)."""
        k_mean, k_scatter = jax.random.split(key)
        m_safe = jnp.maximum(m, 1.0)
        if not factored:
            s2 = jnp.clip(jnp.trace(model["cov"]) / dim, 0.0)
            mean = model["mean"] + jnp.sqrt(s2 / m_safe) * jax.random.normal(k_mean, (dim,))
            ss = s2 * _chi2(k_scatter, dim * (m - 1.0))  # tr(scatter) ~ s2 chi^2_{d(m-1)}
            return mean, ss * eye / dim if isotropic else ss * eye
        root = model["root"]
        mean = model["mean"] + root @ jax.random.normal(k_mean, (dim,)) / jnp.sqrt(m_safe)
        a = root @ _bartlett(k_scatter, m - 1.0, dim)  # any factor of Sigma works: R W R^T ~ Wishart(k, Sigma)
        return mean, a @ a.T

    def _replace_factored(key, model, n, params):
        """The replace shortcut for a full covariance without factorising: the scatter is a a^T with
        a = R B (B Bartlett's triangle), so a / sqrt(n - ddof) is a factor of the new covariance and
        log det = log det Sigma + 2 sum log diag B - d log(n - ddof)."""
        k_mean, k_scatter = jax.random.split(key)
        root = model["root"]
        mean = model["mean"] + root @ jax.random.normal(k_mean, (dim,)) / jnp.sqrt(jnp.float32(n))
        b = _bartlett(k_scatter, jnp.float32(n - 1), dim)
        new_root = (root @ b) * jax.lax.rsqrt(jnp.float32(n - ddof))
        logdet = model["logdet"] + 2.0 * jnp.sum(jnp.log(jnp.diagonal(b))) - dim * jnp.log(jnp.float32(n - ddof))
        return _with_cross({"mean": mean, "cov": new_root @ new_root.T, "root": new_root, "logdet": logdet},
                           params, new_root)

    def refit_mixture(key, model, alpha, n, params):
        k_syn, k_real, k_count = jax.random.split(key, 3)
        if alpha is None:
            if factored:
                return _replace_factored(k_syn, model, n, params)
            mean, scatter = _group_stats(k_syn, model, jnp.float32(n))
            return _from_scatter(mean, scatter, n, params)
        m = jax.random.binomial(k_count, n, alpha).astype(jnp.float32)  # number of fresh real points
        mean_r, scatter_r = _group_stats(k_real, _truth(params), m)
        mean_s, scatter_s = _group_stats(k_syn, model, n - m)
        gap = mean_r - mean_s
        mean = (m * mean_r + (n - m) * mean_s) / n
        scatter = scatter_r + scatter_s + (m * (n - m) / n) * jnp.outer(gap, gap)
        return _from_scatter(mean, scatter, n, params)

    def supports(policy, method, samples):
        if method == "explicit":
            return True
        return shortcut_supports(dim, covariance, policy, samples)

    return Family("gaussian", init, sample_real, sample, fit, metrics, supports, refit_mixture, lapack=factored and not pure,
                  expensive=EXPENSIVE_METRICS if factored and not carry_cross else (),
                  reward=reward_fn if rewarded else None)


def shortcut_supports(dim: int, covariance: str, policy: str, samples: int | None = None) -> bool:
    """Whether the exact sufficient-statistics shortcut covers this configuration.

    Full covariance in d > 1: replace only, and only with n > d (Bartlett's construction needs n - 1 >= d
    degrees of freedom); under mix the random real count m can leave fewer than d points in a group.
    """
    if dim == 1 or covariance == "isotropic":
        return policy in ("replace", "mix")
    return policy == "replace" and (samples is None or samples > dim)


def log_floors(dim: int, params, precision: str) -> dict:
    """The values of ``log_sigma2`` and ``log_det_ratio`` at their floor (see ``metrics``): a chain there has
    lost its variance (or a direction) to rounding, and its log no longer follows the exact mean."""
    log_tiny = float(np.log(np.finfo(precision).tiny))
    return {"log_sigma2": log_tiny, "log_det_ratio": dim * log_tiny - float(np.asarray(params["logdet"]))
            if "logdet" in params else None}


def truth_variance(params) -> float:
    """Mean diagonal variance tr(Sigma_0) / d of the truth (the theory's sigma^2)."""
    cov = np.asarray(params["cov"])
    return float(np.trace(cov) / cov.shape[0])


# The theory adapter: the run spec's numbers into the plain functions of collapsim.theory.
def predict(spec, loop=None):
    """The run pipeline's entry point: :class:`~collapsim.theory.Prediction` for a Gaussian run spec.

    The truth is N(0, variance I_d) (``family_options["variance"]``). ``spec`` has every option filled in
    (:func:`collapsim.runs.registry.with_defaults`): the defaults are the entry's, written once.
    """
    from collapsim.theory import Prediction, none_for
    from collapsim.theory.gaussian import predictions

    o = spec.family_options
    reward = o.get("reward", "none")
    if spec.curate > 1:
        return curated_predict(spec)
    dim, covariance, ddof = int(o["dim"]), o["covariance"], int(o["ddof"])
    variance = float(o["variance"])
    curves = predictions(spec.policy, spec.generations, spec.samples, ddof, dim, covariance,
                         variance, spec.alpha_schedule())
    if not curves:
        return none_for(spec.policy)
    if reward == "linear":  # E mu_t = mu_0 = 0 under replace and mix (the refit mean is unbiased)
        curves["expected_reward"] = np.zeros(spec.generations + 1)
    elif reward in ("target", "several"):
        # E ||mu_t - x*||^2 = ||x*||^2 + E ||mu_t||^2 (E mu_t = 0), and every target has ||x*|| = t.
        t, a = float(o["reward_target"]), float(o["reward_scale"])
        curves["expected_reward"] = -a * (t * t + curves["mean_sq_drift"] + dim * curves["sigma2"])
    return Prediction(curves, {})


def curated_predict(spec):
    """:class:`~collapsim.theory.Prediction` of a curated run (``spec.curate`` > 1): under the linear reward
    with replace or mix, exact sigma2, mean_sq_drift and expected_reward at generations 0 and 1 (nan after),
    and the ideal learner (n = inf, and under a constant alpha > 0 its stationary point) as labelled
    approximations (:mod:`collapsim.theory.gaussian_curation`)."""
    from collapsim.theory import Prediction
    from collapsim.theory import gaussian_curation as gc

    o = spec.family_options
    if o["reward"] != "linear":
        return Prediction({}, {}, f"no curation theory for --reward {o['reward']}: the winner of a quadratic reward "
                                  "is not a linear selection (only --reward linear has one)")
    if spec.policy not in ("replace", "mix"):
        return Prediction({}, {}, f"no curation theory for policy {spec.policy!r}")
    dim, T = int(o["dim"]), spec.generations
    mean0, cov0 = np.zeros(dim), float(o["variance"]) * np.eye(dim)
    direction = float(o["reward_scale"]) * np.eye(dim)[0]
    alpha = spec.alpha_schedule()
    alpha = np.zeros_like(alpha) if spec.policy == "replace" else np.asarray(alpha, np.float64)
    beta, k = float(spec.reward_temperature), int(spec.curate)
    first = gc.one_generation(mean0, cov0, direction, beta, k, spec.samples, int(o["ddof"]), float(alpha[0]))
    at0 = {"sigma2": float(o["variance"]), "mean_sq_drift": 0.0, "expected_reward": 0.0}
    curves = {name: np.concatenate([[at0[name], first[name]], np.full(T - 1, np.nan)]) for name in first}
    isotropic = o["covariance"] == "isotropic"
    ideal = gc.ideal_learner(mean0, cov0, direction, beta, k, alpha, isotropic)
    approx = {name: {"ideal learner (n = inf)": curve} for name, curve in ideal.items()}
    if spec.policy == "mix" and np.all(alpha == alpha[0]) and alpha[0] > 0:
        try:
            fixed = gc.stationary_point(mean0, cov0, direction, beta, k, float(alpha[0]), isotropic)
        except ValueError:  # none, or none reached: the ideal-learner curve shows the run-away
            fixed = {}
        for name, value in fixed.items():
            approx[name]["stationary point, ideal learner"] = np.full(T + 1, value)
    note = ("curated theory: exact at generations 0 and 1 (one curated generation from the truth); later "
            "generations drawn as approximations (the ideal learner, n = inf)") if T > 1 else ""
    return Prediction(curves, approx, note)


# ---------------------------------------------------------------------------------------------------- entry

#: Samples per generation from which ``auto`` prefers the Gaussian shortcut for d = 1 or an isotropic fit:
#: below it, drawing n normals is cheaper than the gamma draw the shortcut needs (measured: n = 20 explicit
#: 1.5 s vs 2.2 s).
SHORTCUT_FROM_SAMPLES = 64


#: XLA compiler options of the shortcut's loop on CPU (``Family.compile_options``). Its step is mostly random
#: draws (a gamma draw per Bartlett diagonal: nested rejection loops of threefry hashes), whose fusions LLVM
#: spends most of the compilation on at XLA's default optimisation level. Measured on the peers' cell (d = 10,
#: n = 100, 1,000 chains, 100 generations, 2 host devices): 42.9 -> 19.0 CPU seconds of compilation, the
#: compiled loop 0.92x as long (median of 8 alternating runs, loaded machine: within noise) and every number
#: bit for bit the same; also bitwise the same for d = 1 under the shortcut. Not for the explicit path: a full
#: covariance's explicit fit then differs by rounding (5e-4 relative after 20 generations).
SHORTCUT_COMPILE_OPTIONS = (("xla_backend_optimization_level", 1),)


def loop_family(dim: int, covariance: str, ddof: int, samples: int, shortcut: bool, reward: str = "none") -> Family:
    """The family a loop runs: :func:`gaussian`, with :data:`SHORTCUT_COMPILE_OPTIONS` under the shortcut."""
    family = gaussian(dim, covariance, ddof, samples, reward)
    return family._replace(compile_options=SHORTCUT_COMPILE_OPTIONS) if shortcut else family


def _gaussian_build(spec) -> Loop:

    o = spec.family_options
    dim, covariance, ddof = o["dim"], o["covariance"], o["ddof"]
    validate(dim, covariance, ddof, spec.samples)
    variance = float(o["variance"])
    if not variance > 0 or variance == float("inf"):
        raise ConfigError(f"--variance must be positive and finite, got {variance}")
    reward = o["reward"]
    if spec.curate > 1 and reward == "none":
        raise ConfigError(f"--curate {spec.curate} needs a reward to curate by (the gaussian family has no reward "
                          f"unless one is chosen): --reward {', '.join(REWARDS[1:])}")
    supported = shortcut_supports(dim, covariance, spec.policy, spec.samples)
    # A full covariance in d > 1 takes the shortcut at any n: it carries log det exactly (a sum of log
    # chi-squares), where an explicit float32 fit loses a thin direction to rounding (d = 3, n = 10, ddof 0:
    # one chain in 2,000 by generation 15) and with it log det.
    full = dim > 1 and covariance == "full"
    shortcut = resolve_method(spec, supported, full or spec.samples >= SHORTCUT_FROM_SAMPLES)
    params = default_params(dim, variance)
    params.update(reward_params(reward, dim, float(o["reward_scale"]), float(o["reward_target"])))
    return Loop(loop_family(dim, covariance, ddof, spec.samples, shortcut, reward), params, shortcut,
                {"truth": f"N(0, {variance:g} I_{dim})"}, log_floors(dim, params, spec.precision))


def _gaussian_title(spec) -> str:
    o = spec.family_options
    curated = f", curate={spec.curate} ({o['reward']}, beta={spec.reward_temperature:g})" if spec.curate > 1 else ""
    return (f"gaussian d={o['dim']} ({o['covariance']}), ddof={o['ddof']}, n={spec.samples}, {spec.policy}"
            + alpha_title(spec) + curated + f", {spec.seeds} chains")


ENTRY = Entry(
    "gaussian", "Refit N(mu, Sigma) on its own samples, generation after generation (Shumailov et al. 2024).",
    {"generations": 100, "samples": 100, "seeds": 2000},
    (
        Option("dim", int, 1, "Dimension d.", low=1),
        Option("covariance", str, "full", "Fit the full covariance or s^2 I.", choices=("full", "isotropic")),
        Option("ddof", int, 1, "0: maximum likelihood, 1: unbiased variance.", low=0),
        Option("variance", float, 1.0, "Truth N(0, variance I).", low=0, open_low=True),
        Option("reward", str, "none", "Reward for --curate and the expected_reward metric: linear (a x_1), target "
               "(-a ||x - t e_1||^2), several (targets +t e_1 and -t e_1, each K-tuple judged by one at random); "
               "a = --reward-scale, t = --reward-target.", choices=REWARDS),
        Option("reward_scale", float, 1.0, "The reward's scale a (linear: its slope along x_1; its sign picks the "
               "direction).", low=-1e6, high=1e6),
        Option("reward_target", float, 2.0, "The target's distance t from the origin along x_1 (target, several).",
               low=-1e6, high=1e6),
    ),
    _gaussian_build, predict, _gaussian_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * (1 if shortcut else spec.samples) * spec.family_options["dim"]
    * buffer_factor(spec),
    lambda spec: (float(spec.family_options["dim"]) ** 2 * 3, float(spec.family_options["dim"])),
    sweep_metric="sigma2",
    smallest=({"samples": 2, "ddof": 0}, {"samples": 9, "dim": 8, "ddof": 0}, {"samples": 2, "dim": 8, "ddof": 0},
              {"samples": 2, "dim": 8, "covariance": "isotropic"}),
)
