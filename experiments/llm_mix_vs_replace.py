"""GPT-2 on its own decoded texts: pure replacement against a 20% share of fresh real texts, beside the theory.

The known source of collapsim.families.llm.source (a sparse Markov chain over the wordfreq English top-256 words),
the tiny preset (GPT-2 2 x 64 pretrained on the source, 2 epochs of continued fine-tuning per generation,
n texts of 32 words) with texts sampled at temperature 0.95 by default, the same seeds under two policies:
``replace`` (each generation trains only on the previous model's texts) and ``mix`` with alpha = 0.2 (each
training text is a fresh real text with probability 0.2). Each run goes through ``collapsim.runs.execute`` (the
same path as ``collapsim run gpt2 --temperature 0.95``) and fits its own effective sample size n_eff on the
first half of its generations (collapsim.theory.llm; with decoding, the ideal learner's exact map of
collapsim.theory.decoded_chain composed with Wright-Fisher noise, eq. L5). Prints, per policy, unigram
entropy, Gini-Simpson and support at a few generations with the theory, the ideal learner's entropy (the
theory without noise), the fitted n_eff and its bootstrap interval over seeds, the held-out prediction error
and the entropy's change over the last generations; writes one figure with both policies and their theory
curves.

Why temperature 0.95 (chosen by measurement; the README gives all of them): at temperature 1 (the tiny
preset) the LM's unigram entropy does not fall under either policy (support does); at 0.8 (the Ainex value)
it collapses under both within 6 generations, 20% real data being too little to hold it (the ideal
learner's own mix trajectory falls low there too); at 0.9 the mix curve has not levelled by generation 6.

    python experiments/llm_mix_vs_replace.py [--generations 12] [--seeds 3] [--samples 128]
        [--temperature 0.95] [--top-k 0] [--epochs E] [--out experiments/figures/llm_mix_vs_replace.png]
        [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from collapsim.output.run import execute  # noqa: E402
from collapsim.runs.spec import RunSpec  # noqa: E402

POLICIES = (("replace", "none", "tab:red"), ("mix", "0.2", "tab:blue"))
PANELS = ("unigram_entropy", "gini_simpson", "support")
SEED = 2026
# Over the last LAST generations, the change of the mean unigram entropy (nats) is reported; the claim
# "levels off" is read from the numbers, not assumed.
LAST = 4


def run(policy: str, alpha: str, args, runs: Path):
    spec = RunSpec("gpt2", {"preset": args.preset, "epochs": args.epochs, "temperature": args.temperature,
                           "top_k": args.top_k}, {}, policy, alpha, args.samples, args.generations, args.seeds,
                   SEED, "auto", "host")
    return execute(spec, runs / policy)


def ideal_learner_entropy(config: dict, T: int, policy: str) -> np.ndarray:
    """The unigram entropy (T + 1,) of the ideal learner's decoded texts on the run's source (no noise)."""
    from collapsim.families.llm import source as S
    from collapsim.theory import decoded_chain as D

    src, proto = S.build_source(**config["source"]), config["protocol"]
    alpha = np.full(T, 0.2 if policy == "mix" else 0.0)
    d = D.trajectory(src.initial, src.transition, src.length, alpha, proto["temperature"], proto["top_k"])
    return np.array([S.entropy(x) for x in d])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--generations", type=int, default=12)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--epochs", type=int, default=0, help="Fine-tuning epochs per generation (0: the preset's).")
    ap.add_argument("--temperature", type=float, default=0.95, help="Sampling temperature (0: the preset's).")
    ap.add_argument("--top-k", type=int, default=0, help="Top-k truncation when sampling (0: the preset's).")
    ap.add_argument("--out", default="experiments/figures/llm_mix_vs_replace.png")
    ap.add_argument("--runs", default=None, help="Keep the two run folders here (default: a temporary folder).")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(args.runs) if args.runs else Path(tmp)
        results = {p: run(p, a, args, runs) for p, a, _ in POLICIES}
        configs = {p: json.loads((r.path / "config.json").read_text()) for p, r in results.items()}
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.6 * len(PANELS), 3.6))
    for policy, _, colour in POLICIES:
        s = results[policy].summary
        for ax, name in zip(axes, PANELS):
            g = np.arange(len(s[name]["mean"]))
            m, se = s[name]["mean"], s[name]["stderr"]
            ax.fill_between(g, m - 2 * se, m + 2 * se, color=colour, alpha=0.2, lw=0)
            ax.plot(g, m, color=colour, lw=1.6, label=f"{policy} (GPT-2, mean +-2 se)")
            if s[name].get("fitted"):  # the Wright-Fisher curve, n_eff fitted on the first half (in-sample there)
                n_eff = configs[policy]["theory_fit"]["n_eff"]
                ax.plot(g, fitted_curve(s[name]), "--", color=colour, lw=1.2,
                        label=f"{policy} theory, n_eff={n_eff:.0f} fitted")
            ax.set_title(name)
            ax.set_xlabel("generation")
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    proto = configs["replace"]["protocol"]
    fig.suptitle(f"GPT-2 {args.preset} on the known source, temperature {proto['temperature']:g}, top-k "
                 f"{proto['top_k'] or 'none'}: replace vs mix alpha=0.2, {args.seeds} seeds, n={args.samples} texts, "
                 f"{proto['epochs']} epochs; theory fitted on generations 1..{args.generations // 2}", fontsize=9)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    T = args.generations
    shown = sorted({0, 1, T // 4, T // 2, 3 * T // 4, T})
    for policy, _, _ in POLICIES:
        s, fit = results[policy].summary, configs[policy]["theory_fit"]
        kind, (lo, hi) = (("95% bootstrap over seeds", fit["n_eff_interval95"]) if "n_eff_interval95" in fit
                          else ("per-seed range", fit["n_eff_per_seed_range"]))
        print(f"\n{policy}: n_eff = {fit['n_eff']:.0f} tokens ({kind} {lo:.0f}-{hi:.0f}; "
              f"{fit['tokens_per_generation']} tokens per generation), fitted on "
              f"generations {fit['fit_generations'][0]}..{fit['fit_generations'][-1]}")
        print(f"{'metric':<16}" + "".join(f"{'gen ' + str(g):>18}" for g in shown))
        for name in PANELS:
            th = fitted_curve(s[name])
            cells = [f"{s[name]['mean'][g]:.4g}+-{s[name]['stderr'][g]:.2g} ({th[g]:.4g})" for g in shown]
            print(f"{name:<16}" + "".join(f"{c:>18}" for c in cells))
        for name, err in fit["heldout_error"].items():
            print(f"  held-out generations: {name} mean |LM - theory| = {err['mean_abs']:.4g}, max |z| = {err['max_abs_z']:.3g}")
        ideal = ideal_learner_entropy(configs[policy], args.generations, policy)
        print(f"{'ideal learner':<16}" + "".join(f"{ideal[g] - ideal[0] + s['unigram_entropy']['mean'][0]:>18.4g}" for g in shown)
              + "   (unigram entropy without noise, eqs. D1-D3, anchored at generation 0)")
        ent = s["unigram_entropy"]["mean"]
        print(f"  unigram entropy change over the last {LAST} generations: {ent[-1] - ent[-1 - LAST]:+.4f} nats "
              f"(total since generation 0: {ent[-1] - ent[0]:+.4f})")
    print(f"\nwrote {args.out} in {time.perf_counter() - t0:.0f}s")


def fitted_curve(s: dict):
    """A metric's fitted Wright-Fisher curve (the run's only theory: n_eff is fitted on its first generations)."""
    return next(iter(s["fitted"].values()))


if __name__ == "__main__":
    main()
