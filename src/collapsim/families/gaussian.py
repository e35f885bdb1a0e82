"""Gaussian family: N(mu, Sigma) in d dimensions, refit by (weighted) sample mean and covariance.

Model pytree: ``{"mean": (d,), "cov": (d, d)}``. Parameters (sweepable): ``{"mean": (d,), "cov": (d, d)}``
of the truth. Static settings: ``dim``, ``covariance`` ("full" fits the whole matrix, "isotropic" fits
s^2 I with s^2 = tr(scatter) / (d (N - ddof))) and ``ddof`` (0: maximum likelihood, 1: unbiased).

Metrics (names used in ``metrics.csv``):
  ``sigma2``         mean diagonal variance tr(Sigma_t) / d,
  ``mean_sq_drift``  ||mu_t - mu_0||^2,
  ``w2sq``           squared 2-Wasserstein distance to the truth,
                     ||mu_t - mu_0||^2 + tr(S + S0 - 2 (S0^1/2 S S0^1/2)^1/2),
  ``det_ratio``      det(Sigma_t) / det(Sigma_0) (full covariance, d > 1 only).

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


def default_params(dim: int = 1, variance: float = 1.0) -> dict:
    """Truth N(0, variance * I_dim) as a parameter pytree."""
    return {"mean": jnp.zeros((dim,), jnp.float32), "cov": variance * jnp.eye(dim, dtype=jnp.float32)}


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
    if covariance == "full" and dim > 1 and samples <= dim:
        raise ConfigError(f"a full {dim}x{dim} covariance needs more than {dim} samples per generation, got {samples}")


def _sqrtm_psd(a: jax.Array) -> jax.Array:
    """Symmetric square root of a positive semi-definite matrix (d, d)."""
    vals, vecs = jnp.linalg.eigh(a)
    return (vecs * jnp.sqrt(jnp.clip(vals, 0.0))) @ vecs.T


def _chi2(key: jax.Array, dof: jax.Array) -> jax.Array:
    """chi^2 draws with (possibly traced, possibly zero) degrees of freedom; chi^2_0 = 0 exactly."""
    dof = jnp.asarray(dof, jnp.float32)
    g = jax.random.gamma(key, jnp.maximum(dof, 1.0) / 2.0)
    return jnp.where(dof > 0, 2.0 * g, 0.0)


def _bartlett(key: jax.Array, dof: int, dim: int) -> jax.Array:
    """A (d, d) lower triangular with A A^T ~ Wishart(dof, I) (Bartlett decomposition); needs dof >= d."""
    k_diag, k_off = jax.random.split(key)
    diag = jnp.sqrt(_chi2(k_diag, dof - jnp.arange(dim, dtype=jnp.float32)))
    off = jnp.tril(jax.random.normal(k_off, (dim, dim)), -1)
    return off + jnp.diag(diag)


@lru_cache(maxsize=None)
def gaussian(dim: int = 1, covariance: str = "full", ddof: int = 1) -> Family:
    """Build the Gaussian family for static ``dim``, ``covariance`` and ``ddof`` (cached: one object each)."""
    if dim < 1 or covariance not in COVARIANCES or ddof < 0:
        validate(dim, covariance, ddof, samples=max(ddof + 1, dim + 1, 2))
    isotropic = covariance == "isotropic"
    eye = jnp.eye(dim, dtype=jnp.float32)

    def truth(params):
        return {"mean": params["mean"], "cov": params["cov"]}

    def sample(key, model, n):
        z = jax.random.normal(key, (n, dim))
        if dim == 1:  # skip the 1x1 Cholesky on the hot path
            return model["mean"] + jnp.sqrt(model["cov"][0, 0]) * z
        return model["mean"] + z @ jnp.linalg.cholesky(model["cov"]).T

    def _from_scatter(mean, scatter, count):
        if isotropic:
            return {"mean": mean, "cov": jnp.trace(scatter) / (dim * (count - ddof)) * eye}
        return {"mean": mean, "cov": scatter / (count - ddof)}

    def fit(x, w, params):
        # Plain reductions rather than matmuls: under vmap, tiny per-chain matmuls cost more than the draws.
        wcol = 1.0 if w is None else w[:, None]
        count = x.shape[0] if w is None else w.sum()
        mean = (wcol * x).sum(axis=0) / count
        xc = x - mean
        if dim == 1 or isotropic:
            ss = (wcol * xc * xc).sum()
            return _from_scatter(mean, ss * eye / dim if isotropic else ss * eye, count)
        return _from_scatter(mean, jnp.einsum("ni,nj->ij", wcol * xc, xc), count)

    def metrics(model, truth_model, params):
        drift = model["mean"] - truth_model["mean"]
        cov, cov0 = model["cov"], truth_model["cov"]
        out = {"sigma2": jnp.trace(cov) / dim, "mean_sq_drift": drift @ drift}
        if dim == 1:
            out["w2sq"] = drift @ drift + (jnp.sqrt(cov[0, 0]) - jnp.sqrt(cov0[0, 0])) ** 2
        else:
            root0 = _sqrtm_psd(cov0)
            cross = jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(root0 @ cov @ root0), 0.0)).sum()
            out["w2sq"] = drift @ drift + jnp.trace(cov) + jnp.trace(cov0) - 2.0 * cross
            if not isotropic:
                out["det_ratio"] = jnp.linalg.det(cov) / jnp.linalg.det(cov0)
        return out

    def _group_stats(key, model, m):
        """Sample mean and scatter of m draws from ``model`` (m may be traced; m = 0 gives zeros)."""
        k_mean, k_scatter = jax.random.split(key)
        m_safe = jnp.maximum(m, 1.0)
        if dim == 1 or isotropic:
            s2 = jnp.trace(model["cov"]) / dim
            mean = model["mean"] + jnp.sqrt(s2 / m_safe) * jax.random.normal(k_mean, (dim,))
            ss = s2 * _chi2(k_scatter, dim * (m - 1.0))  # tr(scatter) ~ s2 chi^2_{d(m-1)}
            return mean, ss * eye / dim if isotropic else ss * eye
        chol = jnp.linalg.cholesky(model["cov"])
        mean = model["mean"] + chol @ jax.random.normal(k_mean, (dim,)) / jnp.sqrt(m_safe)
        a = chol @ _bartlett(k_scatter, m - 1.0, dim)
        return mean, a @ a.T

    def refit_mixture(key, model, truth_model, alpha, n, params):
        k_syn, k_real, k_count = jax.random.split(key, 3)
        if alpha is None:
            mean, scatter = _group_stats(k_syn, model, jnp.float32(n))
            return _from_scatter(mean, scatter, n)
        m = jax.random.binomial(k_count, n, alpha).astype(jnp.float32)  # number of fresh real points
        mean_r, scatter_r = _group_stats(k_real, truth_model, m)
        mean_s, scatter_s = _group_stats(k_syn, model, n - m)
        gap = mean_r - mean_s
        mean = (m * mean_r + (n - m) * mean_s) / n
        scatter = scatter_r + scatter_s + (m * (n - m) / n) * jnp.outer(gap, gap)
        return _from_scatter(mean, scatter, n)

    # Full covariance in d > 1 with a random real count m can leave fewer than d points in a group, where
    # Bartlett's construction does not apply; those configurations use the explicit path.
    shortcut = refit_mixture
    return Family("gaussian", truth, sample, fit, metrics, refit_mixture=shortcut)


def shortcut_supports(dim: int, covariance: str, policy: str) -> bool:
    """Whether the exact sufficient-statistics shortcut covers this configuration."""
    if policy == "replace":
        return True
    return policy == "mix" and (dim == 1 or covariance == "isotropic")


def truth_variance(params) -> float:
    """Mean diagonal variance tr(Sigma_0) / d of the truth (the theory's sigma^2)."""
    cov = np.asarray(params["cov"])
    return float(np.trace(cov) / cov.shape[0])
