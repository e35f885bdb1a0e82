"""Shumailov et al. 2024: the first-order expected W2^2 of a Gaussian refit on its own samples, against the
exact expectation (theory eq. G5) and Monte Carlo."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import Claim, Result, agree, first, new_figure, save

M, T, DDOF = 100, 200, 1
THEIRS = 1.5 * T / M  # (3/2) sigma^2 sum_{i<=T} 1/M_i with sigma = 1, M_i = M: 3.0
#: A first-order value is accepted within this share of the exact one (t/M = 2 here is not small).
REL = 0.10
CHAINS = {False: 4000, True: 1000}


def simulate(chains: int, ddof: int, seed: int = 2024) -> dict:
    """Per-chain metrics (chains, T + 1) of the 1-D Gaussian refit on M of its own samples, T generations
    (the sufficient-statistics shortcut, which has the same law as drawing the samples)."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.gaussian import default_params, gaussian

    return run_loop(gaussian(1, "full", ddof), LoopConfig("replace", M, T, True), default_params(1), np.zeros(T),
                    chains, seed=seed)


def verdict(theirs: float, exact: float, mc: float, mc_se: float, rel: float = REL) -> tuple[str, str]:
    """Their first-order value against the exact expectation (within ``rel``), after checking that our exact
    value is what Monte Carlo measures (within 4 SE)."""
    return first(agree(exact, mc, mc_se, what="exact vs Monte Carlo"),
                 agree(theirs, exact, None, rel, what="first-order value vs exact E W2^2"))


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.theory import gaussian as th

    out = simulate(CHAINS[quick], DDOF)
    tick()
    w2 = out["w2sq"]
    mean, se = w2.mean(0), w2.std(0, ddof=1) / np.sqrt(w2.shape[0])
    exact = th.expected_w2sq(T, M, DDOF)
    v, reason = verdict(THEIRS, float(exact[-1]), float(mean[-1]), float(se[-1]))

    def figure(path):
        fig = new_figure()
        ax = fig.add_subplot()
        g = np.arange(T + 1)
        ax.fill_between(g, mean - 2 * se, mean + 2 * se, alpha=0.3, lw=0, label="Monte Carlo mean +- 2 SE")
        ax.plot(g, exact, "k-", lw=1.2, label="exact E W2^2 (eq. G5)")
        ax.plot(g, 1.5 * g / M, "k:", lw=1.2, label="first order (3/2) t/M (Shumailov et al. SI)")
        ax.set_xlabel("generation t")
        ax.set_ylabel("E W2^2 to the truth")
        ax.set_title(f"Gaussian refit on M = {M} of its own samples (ddof 1, {w2.shape[0]} chains)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, path)

    return Result(float(exact[-1]), None, v, reason, "collapsim reproduce shumailov-w2" + (" --quick" if quick else ""),
                  figure, {"exact": float(exact[-1]), "monte_carlo": float(mean[-1]), "monte_carlo_se": float(se[-1]),
                           "first_order": THEIRS, "chains": int(w2.shape[0])})


CLAIM = Claim(
    name="shumailov-w2",
    citation="Shumailov, Shumaylov, Zhao, Papernot, Anderson, Gal (2024), Nature 631:755-759, Supplementary "
             "Information, Gaussian approximation (first-order E W2^2)",
    statement="A 1-D Gaussian refit on M of its own samples per generation drifts from the truth by E W2^2 "
              "~ (3/2) sigma^2 sum_i 1/M_i, to first order.",
    theirs="E W2^2 ~ (3/2) sigma^2 sum_{i=1..t} 1/M_i (first order): 3.0 at M = 100, t = 200",
    full=f"M = {M}, T = {T}, unbiased variance (ddof 1), sigma = 1, {CHAINS[False]} chains; ours is the exact "
         "E W2^2 (eq. G5), checked by Monte Carlo",
    quick=f"{CHAINS[True]} chains (Monte Carlo SE 2x larger; the exact value is the same)",
    runtime="full ~10 s, quick ~8 s",
    steps=lambda quick: 1,
    run=run,
)
