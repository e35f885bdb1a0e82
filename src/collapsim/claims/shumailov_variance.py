"""Shumailov et al. 2024: the variance of a Gaussian refit on its own samples collapses almost surely, even
with the unbiased estimator, whose mean variance is conserved (theory eqs. G1, G3)."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import REFUTED, Claim, Result, agree, first, new_figure, save
from collapsim.claims.shumailov_w2 import CHAINS, M, T, simulate

THEIRS_MEAN = 1.0  # E sigma_t^2 = sigma^2 for the unbiased estimator (a martingale), sigma = 1


def _mean_se(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over chains of (chains, T + 1)."""
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])


def verdict(theirs_mean: float, mc_mean: float, mc_se: float, exact_log: float, mc_log: float,
            mc_log_se: float) -> tuple[str, str]:
    """Collapse almost surely needs E log sigma_T^2 < 0 (log sigma^2 is a random walk with that drift), which
    Monte Carlo must confirm; the published conserved mean is checked against Monte Carlo too."""
    drift = ((REFUTED, f"E log sigma_T^2 = {exact_log:.4g} >= 0: no drift to collapse") if exact_log >= 0 else
             ("reproduced", f"E log sigma_T^2 = {exact_log:.4g} < 0: log sigma^2 drifts down, so sigma_t -> 0 a.s."))
    return first(agree(theirs_mean, mc_mean, mc_se, what="E sigma_T^2 (unbiased), published vs Monte Carlo"),
                 agree(exact_log, mc_log, mc_log_se, what="E log sigma_T^2, exact vs Monte Carlo"), drift)


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.theory import gaussian as th

    runs = {}
    for ddof in (1, 0):
        runs[ddof] = simulate(CHAINS[quick], ddof)
        tick()
    s2 = runs[1]["sigma2"]
    mean, se = _mean_se(s2)
    log_mean, log_se = _mean_se(np.log(s2))
    exact_log = float(th.expected_log_sigma2_change(T, M, 1)[-1])
    median = float(np.median(s2[:, -1]))
    v, reason = verdict(THEIRS_MEAN, float(mean[-1]), float(se[-1]), exact_log, float(log_mean[-1]), float(log_se[-1]))
    reason += f"; median sigma_T^2 {median:.3f}, {np.mean(s2[:, -1] < 1):.0%} of chains below sigma_0^2"

    def figure(path):
        draw(path, runs)

    return Result(f"E sigma_T^2 = {mean[-1]:.3f} +- {se[-1]:.3f}; median {median:.3f}", None, v, reason,
                  "collapsim reproduce shumailov-variance" + (" --quick" if quick else ""), figure,
                  {"mean_sigma2": float(mean[-1]), "mean_sigma2_se": float(se[-1]), "median_sigma2": median,
                   "exact_log_sigma2": exact_log, "mc_log_sigma2": float(log_mean[-1]), "mc_log_sigma2_se": float(log_se[-1])})


def draw(path, runs: dict) -> None:
    """The two-panel figure (unbiased and MLE): band of 95% of chains, median chain, mean and exact mean."""
    from collapsim.theory import gaussian as th

    fig = new_figure(10, 3.6)
    for i, ddof in enumerate((1, 0)):
        ax = fig.add_subplot(1, 2, i + 1)
        s2 = runs[ddof]["sigma2"]
        g = np.arange(T + 1)
        lo, hi = np.quantile(s2, [0.025, 0.975], axis=0)
        ax.fill_between(g, lo, hi, alpha=0.2, lw=0, label="95% of chains")
        ax.plot(g, np.median(s2, axis=0), color="tab:orange", lw=1.2, label="median chain")
        ax.plot(g, s2.mean(0), color="tab:blue", lw=1.5, label="Monte Carlo mean")
        ax.plot(g, th.expected_sigma2(T, M, ddof), "k--", lw=1.2, label="exact E sigma_t^2")
        ax.set_title(f"sigma_t^2, ddof = {ddof} ({'unbiased' if ddof else 'MLE'})", fontsize=9)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle(f"Variance of a Gaussian refit on its own samples (M = {M}, {s2.shape[0]} chains): the mean is "
                 "exact, the typical chain collapses", fontsize=9)
    save(fig, path)


CLAIM = Claim(
    name="shumailov-variance",
    citation="Shumailov, Shumaylov, Zhao, Papernot, Anderson, Gal (2024), Nature 631:755-759, Supplementary "
             "Information, Theorem 3.1 (Gaussian approximation)",
    statement="A Gaussian refit on its own samples loses its variance almost surely (sigma_t -> 0), although "
              "with the unbiased estimator E sigma_t^2 stays sigma^2.",
    theirs="sigma_t^2 -> 0 almost surely, while E sigma_t^2 = sigma^2 (unbiased estimator)",
    full=f"M = {M}, T = {T}, sigma = 1, ddof 1 (and ddof 0 in the figure), {CHAINS[False]} chains; exact E log "
         "sigma_T^2 (eq. G3) and E sigma_t^2 (eq. G1)",
    quick=f"{CHAINS[True]} chains (Monte Carlo SE 2x larger)",
    runtime="full ~15 s, quick ~12 s",
    steps=lambda quick: 2,
    run=run,
)
