"""Does sampling noise, passed through decoding, make a learner's unigram entropy fall faster than the ideal
learner's? The n-gram family (``collapsim run ngram``, order 2, on the known source of the GPT-2 loop) as a
count learner, beside the ideal learner of collapsim.theory.decoded_chain (a diagnostic for the GPT-2
comparison of experiments/llm_mix_vs_replace.py).

Each generation draws n texts (under ``mix`` each text is, independently, a fresh source text with
probability alpha, else written by the current chain decoded at the given temperature), counts the word
transitions and openings, and learns the chain (the family's fit with ``--prior-weight`` kappa)

    Q'_i = (C_i + kappa Q_i) / (n_i + kappa),   g' = (c + kappa g) / (n + kappa)

(kappa pseudo-counts toward the previous, undecoded chain: a stand-in for fine-tuning from the previous
weights; kappa = inf is the ideal learner, which sees infinitely many texts). Prints the mean unigram entropy
of the decoded texts (exact from the chain's position marginals, as the theory's; the family's own
``unigram_entropy`` is the undecoded model's) over the chains at a few generations, for each policy and
kappa, with its standard error. The chains run vmapped through ``engine.run_loop``: about 3 minutes on the
2-core development machine, most of it compiling the V = 256 loop for each policy.

    python experiments/llm_count_learner.py [--temperature 0.95] [--samples 128] [--generations 15] [--seeds 256]
"""

from __future__ import annotations

import argparse
from functools import lru_cache

import numpy as np

KAPPAS = (float("inf"), 64.0, 16.0, 4.0)
#: The tiny preset's source: V words, successors per word, teleport share, text length.
VOCAB, BRANCHING, TELEPORT, LENGTH = 256, 8, 0.05, 32


@lru_cache(maxsize=None)
def decoded_entropy_family(temperature: float):
    """The order-2 family on the source with one more metric, ``decoded_entropy``: the unigram entropy of the
    texts the model writes (its opening and rows decoded at the temperature, then the family's exact position
    laws). Cached: one family object, so the loop compiles once per policy (kappa is a parameter)."""
    import jax.numpy as jnp

    from collapsim.engine.decoding import decode_probs
    from collapsim.families import ngram as G

    family, length = G.ngram(VOCAB, 2, LENGTH, tempered=temperature != 1.0, truth_order=2), LENGTH

    def metrics(key, model, params):
        m = family.metrics(key, model, params)
        opening = decode_probs(model["opening"], temperature=temperature)
        table = decode_probs(model["table"], temperature=temperature)
        p, _ = G.position_laws(opening / jnp.sum(opening), table / jnp.sum(table, axis=1, keepdims=True), length, 2)
        m["decoded_entropy"] = -jnp.sum(G._xlogx(p))
        return m

    return family._replace(metrics=metrics)


def count_learner(policy: str, alpha: float, kappa: float, temperature: float, n: int, T: int, seeds: int) -> np.ndarray:
    """decoded_entropy (seeds, T + 1) of the family's count learner (order 2, the known source)."""
    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families import ngram as G

    truth = G.truth_chain("source", VOCAB, 2, LENGTH, BRANCHING, TELEPORT)
    params = G.make_params(truth, 2, LENGTH, temperature, 0.0, kappa)
    family = decoded_entropy_family(temperature)
    out = run_loop(family, LoopConfig(policy, n, T), params, np.full(T, alpha, np.float32), seeds, seed=0)
    return out["decoded_entropy"]


def ideal_learner(alpha: float, temperature: float, T: int) -> np.ndarray:
    """The ideal learner's decoded unigram entropy (T + 1,) (eq. D2 of collapsim.theory.decoded_chain)."""
    from collapsim.families.llm import source as S
    from collapsim.theory import decoded_chain as D

    src = S.build_source(VOCAB, BRANCHING, TELEPORT, LENGTH, 0)
    f, P = src.initial, src.transition
    g, Q = f.copy(), P.copy()
    out = [S.entropy(D.decoded_unigram(g, Q, LENGTH, temperature))]
    for _ in range(T):
        g, Q = D.learn(f, P, g, Q, alpha, LENGTH, temperature)
        out.append(S.entropy(D.decoded_unigram(g, Q, LENGTH, temperature)))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--temperature", type=float, default=0.95)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--generations", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=256)
    args = ap.parse_args()
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    T = args.generations
    shown = sorted({0, 1, T // 4, T // 2, 3 * T // 4, T})
    print(f"unigram entropy of decoded texts (nats), temperature {args.temperature:g}, n = {args.samples} texts, "
          f"mean over {args.seeds} chains (+- one standard error at generation {T})")
    print(f"{'policy':<8}{'kappa':>7}" + "".join(f"{'gen ' + str(g):>9}" for g in shown) + f"{'se':>8}")
    for policy, alpha in (("replace", 0.0), ("mix", 0.2)):
        label = policy if policy == "replace" else f"mix {alpha:g}"
        for kappa in KAPPAS:
            if np.isinf(kappa):
                e, se = ideal_learner(alpha, args.temperature, T), 0.0
            else:
                per_chain = count_learner(policy, alpha, kappa, args.temperature, args.samples, T, args.seeds)
                e, se = per_chain.mean(axis=0), per_chain[:, -1].std(ddof=1) / np.sqrt(args.seeds)
            print(f"{label:<8}{kappa:>7g}" + "".join(f"{e[g]:>9.3f}" for g in shown) + f"{se:>8.3f}", flush=True)


if __name__ == "__main__":
    main()
