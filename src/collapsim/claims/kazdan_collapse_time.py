"""Kazdan et al. ("Collapse or Thrive?", 2024), the discrete cell read as a time to collapse: under replace a
categorical model refit on its own samples reaches one category (an absorbing state) in finite time; under
accumulate it never does. The paper publishes no time to collapse, so the number compared is collapsim's exact
E tau (theory/collapse_time.py, proved in proofs_check/collapse_time.py) against the Monte Carlo mean of the
until-collapse driver (the one `collapsim sweep ... --until-collapse` runs)."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import REFUTED, REPRODUCED, Claim, Result, agree, first, new_figure, save

VOCAB, N = 10, 16  # Zipf(1) over 10 categories, 16 draws a generation: exact E tau by the 231 partitions of 16
SETTING = {False: (4000, 200), True: (1000, 100)}  # (chains, generations of the accumulate run)
SEED = 2410


def replace_collapse_times(chains: int, seed: int = SEED) -> tuple[np.ndarray, int]:
    """Collapse generation of each replace chain, (chains,) int64 (-1: censored at the cap), and the cap; the
    sweep driver's until-collapse code on one grid point."""
    import jax
    import jax.numpy as jnp

    from collapsim.engine import LoopConfig
    from collapsim.families.categorical import ENTRY, categorical, make_params, zipf_truth
    from collapsim.sweeps.collapse import collapse_generations, default_cap, segment_length

    params = jax.tree.map(lambda x: jnp.asarray(x)[None], make_params(zipf_truth(VOCAB)))  # one grid point
    keys = jax.random.split(jax.random.key(seed), chains)
    cap = default_cap(N)
    taus = collapse_generations(categorical(VOCAB), LoopConfig("replace", N, 1), ENTRY.criterion, params,
                                np.zeros(1, np.float32), 0, keys, cap, segment_length(N))
    return taus, cap


def accumulate_support(chains: int, generations: int, seed: int = SEED) -> np.ndarray:
    """Categories alive under accumulate, (chains, T + 1)."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families.categorical import categorical, make_params, zipf_truth

    out = run_loop(categorical(VOCAB), LoopConfig("accumulate", N, generations), make_params(zipf_truth(VOCAB)),
                   np.zeros(generations), chains, seed=seed)
    return np.asarray(out["support"])


def verdict(exact_mean: float, taus: np.ndarray, accumulate_min_support: float) -> tuple[str, str]:
    """(a) replace: every chain collapses before the cap, and the mean collapse time agrees with ``exact_mean``
    (collapsim's exact E tau; no published number) within 4 SE; (b) accumulate: no chain ever falls to one
    category (``accumulate_min_support`` > 1)."""
    censored = int(np.sum(taus < 0))
    one = ((REPRODUCED, f"replace: all {taus.size} chains collapsed, the last at generation {int(taus.max())}")
           if censored == 0 else (REFUTED, f"replace: {censored} of {taus.size} chains never collapsed"))
    mean, se = float(taus.mean()), float(taus.std(ddof=1) / np.sqrt(taus.size))
    two = agree(exact_mean, mean, se, what="E tau, exact vs Monte Carlo")
    three = ((REPRODUCED, f"accumulate: never below {accumulate_min_support:g} categories") if accumulate_min_support > 1
             else (REFUTED, "accumulate: a chain fell to one category"))
    return first(one, two, three)


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.families.categorical import zipf_truth
    from collapsim.theory.collapse_time import diffusion_mean_collapse_time, mean_collapse_time

    chains, T = SETTING[quick]
    exact, approx = mean_collapse_time(zipf_truth(VOCAB), N), diffusion_mean_collapse_time(zipf_truth(VOCAB), N)
    taus, cap = replace_collapse_times(chains)
    tick()
    support = accumulate_support(chains, T)
    tick()
    v, reason = verdict(exact, taus, float(support.min()))
    done = taus[taus >= 0]
    mean, se = float(done.mean()), float(done.std(ddof=1) / np.sqrt(done.size))

    def figure(path):
        fig = new_figure(10, 3.8)
        ax = fig.add_subplot(1, 2, 1)
        ax.hist(done, bins=np.arange(0, done.max() + 2) - 0.5, color="C0", alpha=0.7, label="Monte Carlo, replace")
        ax.axvline(exact, color="k", lw=1.5, label=f"exact E tau = {exact:.2f}")
        ax.axvline(approx, color="k", ls=":", lw=1.2, label=f"diffusion (approximate) {approx:.2f}")
        ax.set_xlabel("generation of collapse (one category left)")
        ax.set_title(f"replace: Zipf(1), K = {VOCAB}, n = {N}, {chains} chains", fontsize=9)
        ax.legend(fontsize=8)
        ax = fig.add_subplot(1, 2, 2)
        g = np.arange(T + 1)
        ax.plot(g, support.mean(0), lw=1.4, label="mean")
        ax.plot(g, support.min(0), lw=1.4, label="smallest over chains")
        ax.axhline(1, color="k", ls=":", lw=1, label="collapsed (1 category)")
        ax.set_xlabel("generation")
        ax.set_ylabel("categories alive")
        ax.set_title("accumulate: the same truth and n", fontsize=9)
        ax.legend(fontsize=8)
        for a in fig.axes:
            a.grid(alpha=0.3)
        save(fig, path)

    return Result(f"replace E tau {mean:.2f} +- {se:.2f} (exact {exact:.2f}); accumulate smallest support {int(support.min())}",
                  se, v, reason, "collapsim reproduce kazdan-collapse-time" + (" --quick" if quick else ""), figure,
                  {"exact_mean": exact, "diffusion_mean": approx, "mc_mean": mean, "mc_se": se, "cap": cap,
                   "censored": int(np.sum(taus < 0)), "accumulate_min_support": int(support.min()),
                   "chains": chains, "accumulate_generations": T})


CLAIM = Claim(
    name="kazdan-collapse-time",
    citation="Kazdan, Schaeffer, Dey, Gerstgrasser, Rafailov, Donoho, Koyejo (2024), 'Collapse or Thrive? Perils "
             "and Promises of Synthetic Data in a Self-Generating World', arXiv:2410.16713 (v4), abstract (a)-(b), "
             "on a discrete cell",
    statement="A discrete (categorical) model refit on its own samples collapses to one category in finite time when "
              "data are replaced, and never when they accumulate.",
    theirs="(a) replace 'indeed suffers model collapse in all task-settings studied'; (b) accumulate: 'models remain "
           "stable' (no time to collapse is published: the row tests (a) and (b); its number is collapsim's exact "
           "E tau against Monte Carlo)",
    full=f"categorical Zipf(1), K = {VOCAB}, n = {N}: replace until collapse (cap 20 n + 100), {SETTING[False][0]} "
         f"chains, exact E tau (231 partitions of n); accumulate {SETTING[False][1]} generations, the same chains",
    quick=f"{SETTING[True][0]} chains, accumulate {SETTING[True][1]} generations",
    runtime="full ~1 min, quick ~50 s cold, ~10 s with a warm compilation cache",
    steps=lambda quick: 2,
    run=run,
)
