"""Gerstgrasser et al. 2024: under `accumulate`, the excess test error of least squares refit on all labels
so far stays below (pi^2/6) sigma^2 d/(n - d - 1) at every generation (theory eq. R2)."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import Claim, Result, agree, first, upper_bound_holds
from collapsim.claims.gerstgrasser_replace import CITATION, D, N, SETTING, draw, mean_se, simulate

BOUND_FACTOR = np.pi**2 / 6


def bound(d: int = D, n: int = N, noise2: float = 1.0, factor: float = BOUND_FACTOR) -> float:
    """Their ceiling: factor * sigma^2 d / (n - d - 1), factor = pi^2/6 as published."""
    return factor * noise2 * d / (n - d - 1)


def verdict(ceiling: float, mean: np.ndarray, se: np.ndarray, exact: np.ndarray) -> tuple[str, str]:
    """The published ceiling against the Monte Carlo mean at every generation (t = 1..T), after checking the
    exact curve against Monte Carlo at the last generation."""
    return first(agree(float(exact[-1]), float(mean[-1]), float(se[-1]), what="exact R2 vs Monte Carlo at T"),
                 upper_bound_holds(mean, se, np.full_like(mean, ceiling), f"ceiling {ceiling:.4g}"))


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.theory import regression as th

    T, chains = SETTING[quick]
    out = simulate("accumulate", T, chains)
    tick()
    mean, se = mean_se(out)
    exact = th.accumulate_test_error(T, D, N)
    v, reason = verdict(bound(), mean[1:], se[1:], exact[1:])
    return Result(float(mean[-1]), float(se[-1]), v, reason,
                  "collapsim reproduce gerstgrasser-accumulate" + (" --quick" if quick else ""),
                  lambda path: draw(path, {"accumulate": out}, T),
                  {"generations": T, "chains": chains, "ceiling": bound(), "exact_at_T": float(exact[-1])})


CLAIM = Claim(
    name="gerstgrasser-accumulate",
    citation=CITATION,
    statement="Least squares refit on all real and synthetic labels so far (accumulate) has a bounded excess test "
              "error: at most pi^2/6 times the first generation's, whatever the number of generations.",
    theirs="E test error <= sigma^2 d / (T - d - 1) * pi^2/6 for every number of iterations: "
           f"{bound():.4g} at d = {D}, T = {N}",
    full=f"d = {D}, n = {N}, sigma = 1, fixed design, t = 1..{SETTING[False][0]}, {SETTING[False][1]} chains",
    quick=f"t = 1..{SETTING[True][0]}, {SETTING[True][1]} chains",
    runtime="full ~35 s, quick ~6 s",
    steps=lambda quick: 1,
    run=run,
)
