"""The deterministic part of a decoded collapse loop on a Markov source: what an ideal learner's unigram law
does, generation after generation, when every generation's texts are decoded (temperature, top-k).

Setting (the known source of :mod:`collapsim.families.llm.source`: opening law f (K,), transition P (K, K), texts of
L words). A generation's model is a first-order chain (g, Q); it writes texts with its decoding applied to
every next-token law:

    Dec(p)_j  =  [j in top_k(p)] p_j^(1/tau) / sum_{l in top_k(p)} p_l^(1/tau)                       (eq. D1)

(Hugging Face order: temperature, then top-k; tempering keeps the order, so the kept set is the same). The
next generation is trained on n texts, a share a_t of them fresh source texts and the rest the decoded
model's texts. The *ideal learner* here is the best first-order chain for infinitely many such texts (the
maximum-likelihood chain of the pooled counts):

    g'   = a f + (1 - a) Dec(g)
    Q'_i ~ a  c^src_i P_i + (1 - a) c^mod_i Dec(Q)_i,    c_i = sum_{t=1..L-1} m_{t,i}                (eq. D2)

with m_t the per-position marginals of each text law (eq. S2 of the source; c_i the expected number of
times word i is a context). The measured unigram law of generation t is the law of the word at a uniform
position of a *decoded* text of its model:

    d_t = (1/L) sum_{t=1..L} m^dec_t,   m^dec_1 = Dec(g_t),  m^dec_{s+1} = m^dec_s Dec(Q_t)           (eq. D3)

Generation 0 is the source itself (the base model is trained on it). Everything here is exact for that
ideal learner; the language model only approximates it (it learns a few epochs from the previous weights,
from n texts, and shares parameters across contexts), which is what :mod:`collapsim.theory.llm` compares.

The map to the unigram law, r_t = d_t / (a u + (1 - a) d_{t-1}) with u the source's unigram law (the
unigram law the generation's training texts have), is what :func:`collapsim.theory.llm.moments` composes
with Wright-Fisher noise.
"""

from __future__ import annotations

import numpy as np


def decode(p, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """Eq. (D1) on the last axis of p (..., K) (rows summing to 1; zeros allowed). top_k 0: no truncation.

    Ties at the k-th value keep the lower indices (a stable sort), as a sampler that sorts would.
    """
    p = np.asarray(p, np.float64)
    if top_k and top_k < p.shape[-1]:
        order = np.argsort(-p, axis=-1, kind="stable")
        keep = np.zeros(p.shape, bool)
        np.put_along_axis(keep, order[..., :top_k], True, axis=-1)
        p = np.where(keep, p, 0.0)
    with np.errstate(divide="ignore"):
        logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), -np.inf) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    w = np.exp(logp)
    return w / w.sum(axis=-1, keepdims=True)


def marginals(g, Q, length: int) -> np.ndarray:
    """Per-position laws (L, K) of a text of ``length`` words: m_1 = g, m_{s+1} = m_s Q (eq. S2)."""
    out = np.empty((length, np.asarray(g).size))
    out[0] = g
    for s in range(1, length):
        out[s] = out[s - 1] @ Q
    return out


def decoded_unigram(g, Q, length: int, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """d of eq. (D3): the unigram law (K,) of the decoded texts of the chain (g, Q)."""
    m = marginals(decode(g, temperature, top_k), decode(Q, temperature, top_k), length)
    d = m.mean(axis=0)
    return d / d.sum()


def learn(f, P, g, Q, a: float, length: int, temperature: float = 1.0, top_k: int = 0):
    """One generation of eq. (D2): the best first-order chain (g', Q') for texts that are a share ``a`` of
    source texts (f, P) and 1 - a decoded texts of the chain (g, Q). Returns (g' (K,), Q' (K, K))."""
    gd, Qd = decode(g, temperature, top_k), decode(Q, temperature, top_k)
    c_src = marginals(f, P, length)[:-1].sum(axis=0)  # expected context counts per text (positions 1..L-1)
    c_mod = marginals(gd, Qd, length)[:-1].sum(axis=0)
    counts = a * c_src[:, None] * P + (1 - a) * c_mod[:, None] * Qd
    rows = counts.sum(axis=1, keepdims=True)
    # A word that is never a context keeps its previous decoded row (it cannot affect any text law).
    Qn = np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), Qd)
    return a * f + (1 - a) * gd, Qn


def trajectory(f, P, length: int, alpha, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """d_0..d_T (T + 1, K) of eq. (D3) for the ideal learner, starting from the source (f, P) as the
    generation-0 model; alpha (T,) the real-data share of each generation (0: replace)."""
    f, P = np.asarray(f, np.float64), np.asarray(P, np.float64)
    alpha = np.asarray(alpha, np.float64)
    out = np.empty((alpha.size + 1, f.size))
    g, Q = f, P
    out[0] = decoded_unigram(g, Q, length, temperature, top_k)
    for t, a in enumerate(alpha, start=1):
        g, Q = learn(f, P, g, Q, float(a), length, temperature, top_k)
        out[t] = decoded_unigram(g, Q, length, temperature, top_k)
    return out


def unigram_factors(f, P, length: int, alpha, temperature: float = 1.0, top_k: int = 0) -> np.ndarray:
    """r_t = d_t / (a_t u + (1 - a_t) d_{t-1}), t = 1..T, shape (T, K): the per-word factor by which the
    ideal learner's decoding moves the unigram law of its training texts (1 where that law is 0)."""
    d = trajectory(f, P, length, alpha, temperature, top_k)
    u = marginals(f, P, length).mean(axis=0)
    u = u / u.sum()
    alpha = np.asarray(alpha, np.float64)[:, None]
    y = alpha * u + (1 - alpha) * d[:-1]
    return np.where(y > 0, d[1:] / np.where(y > 0, y, 1.0), 1.0)
