"""Does sampling noise, passed through decoding, make a learner's unigram entropy fall faster than the ideal
learner's? A count-based learner on the known source, beside the ideal learner of
collapsim.theory.decoded_chain (a diagnostic for the GPT-2 comparison of experiments/llm_mix_vs_replace.py).

Each generation draws n texts (a share alpha of fresh source texts, the rest written by the current chain
decoded at the given temperature), counts the word transitions and openings, and learns the chain

    Q'_i = (C_i + kappa Q_i) / (n_i + kappa),   g' = (c + kappa g) / (n + kappa)

(kappa pseudo-counts toward the previous, undecoded chain: a stand-in for fine-tuning from the previous
weights; kappa = inf is the ideal learner, which sees infinitely many texts). Prints the mean unigram entropy
of the decoded texts over seeds at a few generations, for each policy and kappa. NumPy only, seconds.

    python experiments/llm_count_learner.py [--temperature 0.95] [--samples 128] [--generations 15] [--seeds 4]
"""

from __future__ import annotations

import argparse

import numpy as np

from collapsim.families.llm import source as S
from collapsim.theory import decoded_chain as D

KAPPAS = (float("inf"), 64.0, 16.0, 4.0)


def texts(g, Q, n: int, length: int, rng) -> np.ndarray:
    """n texts (n, length) of the chain (g, Q) by inverse CDF."""
    K = g.size
    x = np.empty((n, length), np.int64)
    x[:, 0] = np.minimum(np.searchsorted(np.cumsum(g), rng.random(n), side="right"), K - 1)
    cdf = np.cumsum(Q, axis=1)
    for s in range(1, length):
        x[:, s] = np.minimum((cdf[x[:, s - 1]] <= rng.random(n)[:, None]).sum(1), K - 1)
    return x


def run(src, alpha: float, kappa: float, tau: float, n: int, T: int, seed: int) -> np.ndarray:
    """Unigram entropy (T + 1,) of the decoded texts of one learner chain."""
    f, P, L, K = src.initial, src.transition, src.length, src.vocab
    rng = np.random.default_rng(seed)
    g, Q = f.copy(), P.copy()
    out = [S.entropy(D.decoded_unigram(g, Q, L, tau))]
    for _ in range(T):
        if np.isinf(kappa):
            g, Q = D.learn(f, P, g, Q, alpha, L, tau)
        else:
            real = rng.random(n) < alpha
            x = np.where(real[:, None], texts(f, P, n, L, rng), texts(D.decode(g, tau), D.decode(Q, tau), n, L, rng))
            C = np.zeros((K, K))
            np.add.at(C, (x[:, :-1].ravel(), x[:, 1:].ravel()), 1.0)
            Q = (C + kappa * Q) / (C.sum(1, keepdims=True) + kappa)
            g = (np.bincount(x[:, 0], minlength=K) + kappa * g) / (n + kappa)
        out.append(S.entropy(D.decoded_unigram(g, Q, L, tau)))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--temperature", type=float, default=0.95)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--generations", type=int, default=15)
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    src = S.build_source(256, 8, 0.05, 32, 0)  # the tiny preset's source
    T = args.generations
    shown = sorted({0, 1, T // 4, T // 2, 3 * T // 4, T})
    print(f"unigram entropy of decoded texts (nats), temperature {args.temperature:g}, n = {args.samples} texts, "
          f"mean over {args.seeds} seeds")
    print(f"{'policy':<8}{'kappa':>7}" + "".join(f"{'gen ' + str(g):>9}" for g in shown))
    for policy, alpha in (("replace", 0.0), ("mix 0.2", 0.2)):
        for kappa in KAPPAS:
            e = np.mean([run(src, alpha, kappa, args.temperature, args.samples, T, s) for s in range(args.seeds)], axis=0)
            print(f"{policy:<8}{kappa:>7g}" + "".join(f"{e[g]:>9.3f}" for g in shown))


if __name__ == "__main__":
    main()
