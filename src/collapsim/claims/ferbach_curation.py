"""Ferbach, Bertrand, Bose, Gidel (NeurIPS 2024): retraining on Bradley-Terry-curated samples of itself raises
the expected reward to its maximum; with a positive share of real data each step the loop is stable. Tested
on collapsim's exact curated map for a categorical law (theory/curation.py, eq. Q4: the ideal learner, n = inf,
the paper's own setting; proved by exact enumeration in proofs_check/curation.py). No sampling: exact numbers."""

from __future__ import annotations

import numpy as np

from collapsim.claims.base import REFUTED, REPRODUCED, Claim, Result, first, new_figure, save

VOCAB, K_DRAWS, BETA, ALPHA = 20, 4, 0.25, 0.2
SETTING = {False: 200, True: 80}  # generations
#: Converged: within this of the maximum reward (replace) or of the fixed point in L1 (alpha > 0).
TOL = 1e-6


def rank_reward(vocab: int) -> np.ndarray:
    """1 for the truth's most probable token down to 0 for its least (Zipf order), (V,)."""
    return np.linspace(1.0, 0.0, vocab)


def trajectories(generations: int) -> dict:
    """Exact ideal-learner laws (T + 1, V) under replace and under alpha = ALPHA, the fixed point (V,) for ALPHA."""
    from collapsim.families.categorical import zipf_truth
    from collapsim.theory.curation import ideal_trajectory, stationary_point

    truth, r = zipf_truth(VOCAB), rank_reward(VOCAB)
    return {"truth": truth, "reward": r,
            "replace": ideal_trajectory(truth, r, K_DRAWS, BETA, np.zeros(generations)),
            "mix": ideal_trajectory(truth, r, K_DRAWS, BETA, np.full(generations, ALPHA)),
            "fixed": stationary_point(truth, r, K_DRAWS, BETA, ALPHA)}


def verdict(rewards: np.ndarray, r_max: float, mix_gap: float, tol: float = TOL) -> tuple[str, str]:
    """(1) The expected reward under replace never falls (to 1e-12) and ends within ``tol`` of ``r_max`` (their
    'maximized'; a larger stated maximum is refuted); (2) with a real share, the loop settles: its law ends within
    ``tol`` (L1) of the fixed point (``mix_gap``)."""
    step = np.diff(rewards)
    gap = r_max - rewards[-1]
    one = ((REPRODUCED, f"replace: E r rises every generation (smallest step {step.min():+.2e}) to "
                        f"{rewards[-1]:.6f}, {gap:.1e} below the maximum {r_max:g}")
           if step.min() >= -1e-12 and abs(gap) <= tol else
           (REFUTED, f"replace: E r ends at {rewards[-1]:.6f} against the maximum {r_max:g} (gap {gap:+.1e}); "
                     f"smallest step {step.min():+.2e}"))
    two = ((REPRODUCED, f"alpha {ALPHA:g}: settles at the fixed point (L1 {mix_gap:.1e})") if mix_gap <= tol
           else (REFUTED, f"alpha {ALPHA:g}: still {mix_gap:.1e} (L1) from the fixed point"))
    return first(one, two)


def run(quick: bool, tick=lambda: None) -> Result:
    T = SETTING[quick]
    tr = trajectories(T)
    tick()
    r = tr["reward"]
    rewards, mixed = tr["replace"] @ r, tr["mix"] @ r
    gap = float(np.abs(tr["mix"][-1] - tr["fixed"]).sum())
    v, reason = verdict(rewards, float(r.max()), gap)

    def figure(path):
        fig = new_figure()
        ax = fig.add_subplot()
        g = np.arange(T + 1)
        ax.plot(g, rewards, lw=1.6, label="replace (curated synthetic only)")
        ax.plot(g, mixed, lw=1.6, label=f"mix, alpha = {ALPHA:g} real")
        ax.axhline(r.max(), color="k", ls=":", lw=1, label="maximum reward")
        ax.axhline(float(tr["fixed"] @ r), color="C1", ls=":", lw=1, label=f"fixed point, alpha = {ALPHA:g}")
        ax.axhline(float(tr["truth"] @ r), color="gray", ls="--", lw=0.8, label="truth")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("generation t")
        ax.set_ylabel("exact E reward (ideal learner, n = inf)")
        ax.set_title(f"Curated retraining: Zipf(1), K = {VOCAB}, best of {K_DRAWS} by Bradley-Terry, beta = {BETA:g}",
                     fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, path)

    return Result(f"E r: truth {rewards[0]:.4f} -> {rewards[-1]:.6f} (replace, max 1); {float(mixed[-1]):.4f} (alpha "
                  f"{ALPHA:g}, fixed point)", None, v, reason,
                  "collapsim reproduce ferbach-curation" + (" --quick" if quick else ""), figure,
                  {"reward_truth": float(rewards[0]), "reward_final_replace": float(rewards[-1]),
                   "reward_final_mix": float(mixed[-1]), "reward_fixed_point": float(tr["fixed"] @ r),
                   "mix_l1_to_fixed_point": gap, "generations": T})


CLAIM = Claim(
    name="ferbach-curation",
    citation="Ferbach, Bertrand, Bose, Gidel (2024), 'Self-Consuming Generative Models with Curated Data Provably "
             "Optimize Human Preferences', NeurIPS 2024 (arXiv:2407.09499), abstract",
    statement="Retraining a generative model on its own samples curated by a reward model maximizes the expected "
              "reward; with a positive fraction of real data at each step the retraining loop is stable.",
    theirs="'if the data is curated according to a reward model, then the expected reward of the iterative retraining "
           "procedure is maximized'; 'theoretical results on the stability of the retraining loop when using a "
           "positive fraction of real data at each step' (no number)",
    full=f"categorical Zipf(1), V = {VOCAB}, rank reward 1..0, best of K = {K_DRAWS} by Bradley-Terry at beta = {BETA:g}; "
         f"exact ideal learner (n = inf, their setting), T = {SETTING[False]}, replace and alpha = {ALPHA:g}",
    quick=f"T = {SETTING[True]}",
    runtime="full ~2 s, quick ~2 s (10 s on a cold start)",
    steps=lambda quick: 1,
    run=run,
)
