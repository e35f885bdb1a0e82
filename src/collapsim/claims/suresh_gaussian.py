"""Suresh, Thangaraj, Khandavally (AISTATS 2025): the ML-refit 1-D Gaussian's standard deviation exceeds eps at
generation k with probability at most (sigma_0/eps) exp(-k/(4n)). Checked by collapsim's Gaussian family
(Monte Carlo, every k) and by the exact Markov bound E sigma_k / eps (theory eq. G2)."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import Claim, Result, first, new_figure, save, upper_bound_holds
from collapsim.claims.suresh_survival import CITATION

N = 20
EPS = (0.5, 0.2)
SETTING = {False: (200, 20000), True: (200, 4000)}  # (generations, chains)


def bound(k, n: int = N, eps: float = 0.5, sigma0: float = 1.0, rate: float = 0.25) -> np.ndarray:
    """Their upper bound (sigma_0/eps) exp(-rate k / n), rate = 1/4 as published."""
    return sigma0 / eps * np.exp(-rate * np.asarray(k, float) / n)


def verdict(p: np.ndarray, se: np.ndarray, markov: np.ndarray, published: np.ndarray) -> tuple[str, str]:
    """The published bound (eps x k) against Monte Carlo Pr(sigma_k > eps) (within 4 SE), and against the
    exact Markov bound E sigma_k / eps, which it must not undercut (then their proof's step fails)."""
    return first(upper_bound_holds(p, se, published, "Pr(sigma_k > eps), Monte Carlo"),
                 upper_bound_holds(markov, None, published, "exact E sigma_k / eps"))


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.gaussian import default_params, gaussian
    from collapsim.theory import gaussian as th

    T, chains = SETTING[quick]
    out = run_loop(gaussian(1, "full", 0), LoopConfig("replace", N, T, True), default_params(1), np.zeros(T), chains, seed=2025)
    tick()
    sigma = np.sqrt(out["sigma2"][:, 1:].astype(np.float64))
    k = np.arange(1, T + 1)
    p = np.stack([(sigma > e).mean(0) for e in EPS])
    # a share of 0 or 1 has a binomial SE of 0; use the SE of one chain's worth instead so a bound is judged fairly
    se = np.sqrt(np.maximum(p * (1 - p), 1.0 / chains) / chains)
    markov = np.stack([th.expected_sigma(T, N, 0)[1:] / e for e in EPS])
    published = np.stack([bound(k, eps=e) for e in EPS])
    v, reason = verdict(p, se, markov, published)
    first_useful = {e: int(k[np.argmax(bound(k, eps=e) < 1)]) for e in EPS}

    def figure(path):
        fig = new_figure()
        ax = fig.add_subplot()
        for i, e in enumerate(EPS):
            line, = ax.plot(k, p[i], lw=1.4, label=f"eps = {e}: Monte Carlo Pr(sigma_k > eps)")
            ax.plot(k, published[i], "--", color=line.get_color(), lw=1, label=f"eps = {e}: (1/eps) exp(-k/(4n))")
            ax.plot(k, markov[i], ":", color=line.get_color(), lw=1.2, label=f"eps = {e}: exact E sigma_k / eps")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 3)
        ax.set_xlabel("generation k")
        ax.set_title(f"ML Gaussian refit on n = {N} of its own samples ({chains} chains)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, path)

    slack = published - p
    return Result(f"smallest margin {slack.min():+.3g}; bound below 1 from k = "
                  + ", ".join(f"{first_useful[e]} (eps {e})" for e in EPS), None, v, reason,
                  "collapsim reproduce suresh-gaussian" + (" --quick" if quick else ""), figure,
                  {"n": N, "eps": list(EPS), "chains": chains, "generations": T,
                   "p_at_T": p[:, -1].tolist(), "bound_at_T": published[:, -1].tolist()})


CLAIM = Claim(
    name="suresh-gaussian",
    citation=CITATION + ", 1-D Gaussian ML recursion",
    statement="The ML-refit Gaussian's standard deviation falls below any eps after about n generations: "
              "Pr(sigma_k > eps) <= (sigma_0/eps) exp(-k/(4n)).",
    theirs="Pr(Sigma_k > eps) <= (sigma_0 / eps) exp(-k / (4n))",
    full=f"n = {N}, sigma_0 = 1, eps in {EPS}, k = 1..{SETTING[False][0]}, {SETTING[False][1]} chains (collapsim's "
         "Gaussian family, ddof 0, sufficient-statistics shortcut), and the exact E sigma_k (eq. G2)",
    quick=f"{SETTING[True][1]} chains",
    runtime="full ~10 s, quick ~6 s",
    steps=lambda quick: 1,
    run=run,
)
