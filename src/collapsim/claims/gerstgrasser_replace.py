"""Gerstgrasser et al. 2024 (after Dohmatob et al. and Mobahi et al.): under `replace`, the excess test error
of least squares refit on its own labels grows linearly, sigma^2 d/(n - d - 1) t (theory eq. R1)."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import Claim, Result, agree, first, new_figure, save

D, N = 10, 100
SETTING = {False: (50, 2000), True: (20, 500)}  # (generations, chains)

CITATION = ("Gerstgrasser, Schaeffer, Dey, Rafailov, Pai, Sleight, Hughes, Korbak, Agrawal, Gromov, Roberts, Yang, "
            "Donoho, Koyejo (2024), 'Is Model Collapse Inevitable? Breaking the Curse of Recursion by Accumulating "
            "Real and Synthetic Data', arXiv:2404.01413, Sec. 2 (linear regression)")


def theirs(t: int, d: int = D, n: int = N, noise2: float = 1.0) -> float:
    """Their replace formula at generation t: sigma^2 d / (n - d - 1) * t."""
    return noise2 * d / (n - d - 1) * t


def simulate(policy: str, generations: int, chains: int, seed: int = 7) -> dict:
    """Per-chain metrics (chains, T + 1) of least squares refit on its own labels (fixed design, sigma = 1)."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.regression import default_params, regression

    return run_loop(regression(D, N), LoopConfig(policy, N, generations), default_params(D), np.zeros(generations),
                    chains, seed=seed)


def mean_se(out: dict) -> tuple[np.ndarray, np.ndarray]:
    x = out["test_error"]
    return x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])


def verdict(published: np.ndarray, mean: np.ndarray, se: np.ndarray) -> tuple[str, str]:
    """Their curve (t = 1..T) against the Monte Carlo mean at every generation, within 4 SE."""
    parts = [agree(float(p), float(m), float(s), what=f"t = {t}") for t, (p, m, s) in
             enumerate(zip(published, mean, se), start=1)]
    v, r = first(*parts)
    if v == "reproduced":
        z = np.abs((np.asarray(published) - mean) / se).max()
        r = f"every generation 1..{len(mean)} within 4 SE (largest |z| {z:.2f}); {parts[-1][1]}"
    return v, r


def draw(path, runs: dict, generations: int) -> None:
    """Monte Carlo means (+- 2 SE) of the policies in ``runs`` with the exact curves and the pi^2/6 ceiling."""
    from collapsim.theory import regression as th

    fig = new_figure()
    ax = fig.add_subplot()
    g = np.arange(generations + 1)
    exact = {"replace": th.replace_test_error(generations, D, N), "accumulate": th.accumulate_test_error(generations, D, N)}
    for policy, colour in (("replace", "tab:red"), ("accumulate", "tab:blue")):
        if policy not in runs:
            continue
        m, s = mean_se(runs[policy])
        ax.fill_between(g, m - 2 * s, m + 2 * s, color=colour, alpha=0.3, lw=0)
        ax.plot(g, m, color=colour, lw=1.5, label=f"{policy}: Monte Carlo mean (+-2 se)")
        ax.plot(g, exact[policy], "k--", lw=1.0)
    ax.axhline(np.pi**2 / 6 * th.excess_factor(D, N), color="tab:blue", ls=":", lw=1.2,
               label="accumulate ceiling (pi^2/6) sigma^2 d/(n-d-1)")
    ax.plot([], [], "k--", lw=1.0, label="exact theory")
    ax.set_yscale("log")
    ax.set_xlabel("generation t")
    ax.set_ylabel("excess test error E||w_t - w*||^2")
    chains = next(iter(runs.values()))["test_error"].shape[0]
    ax.set_title(f"Regression refit on its own labels (d={D}, n={N}, {chains} chains)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, path)


def run(quick: bool, tick=lambda: None) -> Result:
    T, chains = SETTING[quick]
    out = simulate("replace", T, chains)
    tick()
    mean, se = mean_se(out)
    published = np.array([theirs(t) for t in range(1, T + 1)])
    v, reason = verdict(published, mean[1:], se[1:])
    return Result(float(mean[-1]), float(se[-1]), v, reason,
                  "collapsim reproduce gerstgrasser-replace" + (" --quick" if quick else ""),
                  lambda path: draw(path, {"replace": out}, T),
                  {"generations": T, "chains": chains, "theirs_at_T": float(published[-1])})


CLAIM = Claim(
    name="gerstgrasser-replace",
    citation=CITATION,
    statement="Least squares refit each generation on labels from the previous fit (replace) has an excess test "
              "error that grows linearly in the generation.",
    theirs="E test error after t iterations = sigma^2 d / (T - d - 1) * t (T samples per iteration): "
           f"{theirs(SETTING[False][0]):.4g} at d = {D}, T = {N}, t = {SETTING[False][0]}",
    full=f"d = {D}, n = {N}, sigma = 1, fixed design, t = 1..{SETTING[False][0]}, {SETTING[False][1]} chains",
    quick=f"t = 1..{SETTING[True][0]}, {SETTING[True][1]} chains",
    runtime="full ~15 s, quick ~6 s",
    steps=lambda quick: 1,
    run=run,
)
