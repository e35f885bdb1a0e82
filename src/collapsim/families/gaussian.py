"""Gaussian family: N(mu, Sigma) in d dimensions, refit by (weighted) sample mean and covariance.

Model pytree: ``{"mean": (d,), "cov": (d, d)}``, plus for a full covariance in d > 1 its eigendecomposition
factor ``"root"`` (d, d) (root root^T = cov) and ``"evals"`` (d,), computed once by the fit and used by the
sampler, the shortcut and the metrics. Parameters (sweepable, see :func:`make_params`): the truth's ``mean``
(d,) and ``cov`` (d, d) with its factors computed once on the host in float64. Static settings: ``dim``, ``covariance`` ("full" fits the whole matrix, "isotropic" fits
s^2 I with s^2 = tr(scatter) / (d (N - ddof))) and ``ddof`` (0: maximum likelihood, 1: unbiased).

Metrics (names used in ``metrics.csv``):
  ``sigma2``         mean diagonal variance tr(Sigma_t) / d,
  ``mean_sq_drift``  ||mu_t - mu_0||^2,
  ``w2sq``           squared 2-Wasserstein distance to the truth,
                     ||mu_t - mu_0||^2 + tr(S + S0 - 2 (S0^1/2 S S0^1/2)^1/2),
  ``det_ratio``      det(Sigma_t) / det(Sigma_0) (full covariance, d > 1 only).

Surviving collapse. Collapsed chains are legal states: a covariance whose float32 scatter is no longer
positive definite (or has rank < d, as it must when n <= d) gets the eigendecomposition factor with its
eigenvalues floored at 0, so it samples in its own subspace and every metric stays finite (det_ratio
becomes 0). No Cholesky is taken of a fitted model. One generation runs at most two LAPACK calls, the second
depending on the first: independent LAPACK custom calls in one program deadlock XLA's CPU runtime when the
chains are sharded over two host devices (both pool threads wait inside the calls).

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

from collapsim.engine import Family
from collapsim.errors import ConfigError

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


@lru_cache(maxsize=None)
def gaussian(dim: int = 1, covariance: str = "full", ddof: int = 1) -> Family:
    """Build the Gaussian family for static ``dim``, ``covariance`` and ``ddof`` (cached: one object each)."""
    if dim < 1 or covariance not in COVARIANCES or ddof < 0:
        validate(dim, covariance, ddof, samples=max(ddof + 1, 2))
    isotropic = covariance == "isotropic"
    factored = dim > 1 and not isotropic  # the model carries its eigendecomposition factor
    eye = jnp.eye(dim, dtype=jnp.float32)

    def _model(mean, cov):
        if not factored:
            return {"mean": mean, "cov": cov}
        evals, evecs = jnp.linalg.eigh(cov)
        # The floor: eigenvalues within float32 rounding of zero (relative to the largest, numpy's matrix_rank
        # tolerance) are zero, so a rank-deficient or non-PD float32 scatter is a degenerate, legal model.
        tol = dim * jnp.finfo(cov.dtype).eps * jnp.max(jnp.abs(evals))
        evals = jnp.where(evals > tol, evals, 0.0)
        return {"mean": mean, "cov": cov, "root": evecs * jnp.sqrt(evals), "evals": evals}

    def _truth(params):
        if not factored:
            return {"mean": params["mean"], "cov": params["cov"]}
        return {"mean": params["mean"], "cov": params["cov"], "root": params["root"],
                "evals": jnp.sum(params["root"] ** 2, axis=0)}

    def _draw(key, model, n):
        z = jax.random.normal(key, (n, dim))
        if factored:
            return model["mean"] + z @ model["root"].T
        return model["mean"] + jnp.sqrt(jnp.clip(model["cov"][0, 0], 0.0)) * z  # d = 1, or s^2 I

    def init(key, params):
        return _truth(params)

    def sample_real(key, params, n):
        return _draw(key, _truth(params), n)

    def sample(key, model, n, params):
        return _draw(key, model, n)

    def _from_scatter(mean, scatter, count):
        if isotropic:
            return _model(mean, jnp.trace(scatter) / (dim * (count - ddof)) * eye)
        return _model(mean, scatter / (count - ddof))

    def fit(key, previous, x, w, params):
        # Plain reductions rather than matmuls: under vmap, tiny per-chain matmuls cost more than the draws.
        wcol = 1.0 if w is None else w[:, None]
        count = x.shape[0] if w is None else w.sum()
        mean = (wcol * x).sum(axis=0) / count
        xc = x - mean
        if dim == 1 or isotropic:
            ss = (wcol * xc * xc).sum()
            return _from_scatter(mean, ss * eye / dim if isotropic else ss * eye, count)
        return _from_scatter(mean, jnp.einsum("ni,nj->ij", wcol * xc, xc), count)

    def metrics(key, model, params):
        drift = model["mean"] - params["mean"]
        cov, cov0 = model["cov"], params["cov"]
        out = {"sigma2": jnp.trace(cov) / dim, "mean_sq_drift": drift @ drift}
        if dim == 1:
            out["w2sq"] = drift @ drift + (jnp.sqrt(jnp.clip(cov[0, 0], 0.0)) - jnp.sqrt(cov0[0, 0])) ** 2
        elif isotropic:
            cross = jnp.sqrt(jnp.clip(cov[0, 0], 0.0)) * params["tr_sqrt"]
            out["w2sq"] = drift @ drift + jnp.trace(cov) + jnp.trace(cov0) - 2.0 * cross
        else:
            # tr (S0^1/2 S S0^1/2)^1/2 = sum sqrt(eig(R^T S0 R)) for S = R R^T: one small LAPACK call, after
            # (and depending on) the fit's, and no square root of the truth per generation.
            r = model["root"]
            cross = jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(r.T @ cov0 @ r), 0.0)).sum()
            out["w2sq"] = jnp.maximum(drift @ drift + jnp.trace(cov) + jnp.trace(cov0) - 2.0 * cross, 0.0)
            out["det_ratio"] = jnp.exp(jnp.sum(jnp.log(model["evals"])) - params["logdet"])
        return out

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

    def refit_mixture(key, model, alpha, n, params):
        k_syn, k_real, k_count = jax.random.split(key, 3)
        if alpha is None:
            mean, scatter = _group_stats(k_syn, model, jnp.float32(n))
            return _from_scatter(mean, scatter, n)
        m = jax.random.binomial(k_count, n, alpha).astype(jnp.float32)  # number of fresh real points
        mean_r, scatter_r = _group_stats(k_real, _truth(params), m)
        mean_s, scatter_s = _group_stats(k_syn, model, n - m)
        gap = mean_r - mean_s
        mean = (m * mean_r + (n - m) * mean_s) / n
        scatter = scatter_r + scatter_s + (m * (n - m) / n) * jnp.outer(gap, gap)
        return _from_scatter(mean, scatter, n)

    def supports(policy, method, samples):
        if method == "explicit":
            return True
        return shortcut_supports(dim, covariance, policy, samples)

    return Family("gaussian", init, sample_real, sample, fit, metrics, supports, refit_mixture, lapack=factored)


def shortcut_supports(dim: int, covariance: str, policy: str, samples: int | None = None) -> bool:
    """Whether the exact sufficient-statistics shortcut covers this configuration.

    Full covariance in d > 1: replace only, and only with n > d (Bartlett's construction needs n - 1 >= d
    degrees of freedom); under mix the random real count m can leave fewer than d points in a group.
    """
    if dim == 1 or covariance == "isotropic":
        return policy in ("replace", "mix")
    return policy == "replace" and (samples is None or samples > dim)


def truth_variance(params) -> float:
    """Mean diagonal variance tr(Sigma_0) / d of the truth (the theory's sigma^2)."""
    cov = np.asarray(params["cov"])
    return float(np.trace(cov) / cov.shape[0])
