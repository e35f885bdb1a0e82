"""A language whose truth is known: a sparse Markov chain over real English words, with closed forms.

GPT-2 weights and web corpora cannot be fetched offline, and a theory comparison needs the true law anyway,
so the LLM collapse loop runs on texts drawn from this source by default.

Construction (:func:`build_source`; every choice seeded, NumPy float64). The vocabulary is the ``wordfreq``
English top-K words with their frequencies f (renormalised; Zipfian, exponent about 1). Word i has
``branching`` successors drawn without replacement with probabilities f, each weighted f_j g_ij with
g_ij ~ Gamma(1) (so common words stay common but the successor sets differ per word), and a small
teleport epsilon to f keeps the chain irreducible and aperiodic:

    P_ij = (1 - epsilon) [j in S_i] f_j g_ij / sum_{k in S_i} f_k g_ik  +  epsilon f_j.        (eq. S1)

A text is L words x_1..x_L with x_1 ~ f (sentence openings follow the word frequencies) and x_t | x_{t-1}
~ P_{x_{t-1}}. Closed forms, all exact:

    per-position marginals   m_t = f P^(t-1),  t = 1..L                                          (eq. S2)
    unigram law of a text    u = (1/L) sum_t m_t  (the law of the word at a uniform position)    (eq. S3)
    stationary law           pi = pi P, sum pi = 1: the solution of pi (I - P + 1 1^T) = 1^T     (eq. S4)
    entropy rate             h = sum_i pi_i H(P_i)  (nats per word, Cover & Thomas eq. 4.27)       (eq. S5)
    entropy per word of a text of length L, predicting x_1 from nothing and x_t from x_{t-1}:
                             h_L = (H(f) + sum_{t=2..L} m_{t-1} . H(P)) / L                       (eq. S6)

h_L is the least cross-entropy per token any model can reach on held-out texts (chain rule of entropy), so
a model's held-out cross-entropy minus h_L is its excess loss in nats.

Tokens: word i is token id i; id K is the end-of-text token, which starts every training row (the
"beginning of text" context GPT-2 uses) and is never emitted by the source.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import numpy as np
from scipy.special import xlogy

from collapsim.errors import ConfigError

END_OF_TEXT = "<|endoftext|>"


class MarkovSource(NamedTuple):
    """words (K,) strings; initial f (K,); transition P (K, K) row-stochastic; length L words per text;
    settings: what built it (JSON-able, its content hash names the pretrained model)."""

    words: tuple
    initial: np.ndarray
    transition: np.ndarray
    length: int
    settings: dict

    @property
    def vocab(self) -> int:
        return len(self.words)

    @property
    def eot(self) -> int:
        """Token id of the end-of-text token (K)."""
        return len(self.words)


def word_frequencies(vocab: int) -> tuple[tuple, np.ndarray]:
    """The ``wordfreq`` English top-``vocab`` words and their frequencies renormalised, (K,) float64."""
    try:
        import wordfreq
    except ImportError:
        raise ConfigError("the known-source language needs the wordfreq package: pip install 'collapsim[wordfreq]'") from None
    words = wordfreq.top_n_list("en", vocab)
    if len(words) < vocab:
        raise ConfigError(f"wordfreq lists only {len(words)} English words, fewer than the vocabulary {vocab}")
    f = np.array([wordfreq.word_frequency(w, "en") for w in words], np.float64)
    return tuple(words), f / f.sum()


def build_source(vocab: int = 256, branching: int = 8, teleport: float = 0.05, length: int = 32,
                 seed: int = 0) -> MarkovSource:
    """The sparse Markov source of eq. (S1); raises :class:`ConfigError` on settings that cannot work."""
    if not 2 <= vocab <= 20000:
        raise ConfigError(f"source vocabulary must be between 2 and 20000 words, got {vocab}")
    if not 1 <= branching <= vocab:
        raise ConfigError(f"source branching must be between 1 and the vocabulary ({vocab}), got {branching}")
    if not (np.isfinite(teleport) and 0 < teleport <= 1):
        raise ConfigError(f"source teleport must lie in (0, 1], got {teleport}")
    if length < 2:
        raise ConfigError(f"texts need at least 2 words, got length {length}")
    words, f = word_frequencies(vocab)
    rng = np.random.default_rng(seed)
    P = np.zeros((vocab, vocab))
    for i in range(vocab):
        succ = rng.choice(vocab, size=branching, replace=False, p=f)
        w = f[succ] * rng.gamma(1.0, size=branching)
        P[i, succ] = w / w.sum()
    P = (1.0 - teleport) * P + teleport * f[None, :]
    P /= P.sum(axis=1, keepdims=True)
    settings = dict(vocab=vocab, branching=branching, teleport=float(teleport), length=length, seed=seed)
    return MarkovSource(words, f, P, length, settings)


def source_hash(src: MarkovSource) -> str:
    """A short content hash of the source's settings and word list (names cached pretrained models)."""
    blob = json.dumps({"settings": src.settings, "words": list(src.words)}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------------------- closed forms


def marginals(src: MarkovSource) -> np.ndarray:
    """m_t = f P^(t-1) for t = 1..L (eq. S2), shape (L, K)."""
    out = np.empty((src.length, src.vocab))
    out[0] = src.initial
    for t in range(1, src.length):
        out[t] = out[t - 1] @ src.transition
    return out


def unigram_law(src: MarkovSource) -> np.ndarray:
    """u = mean over positions of m_t (eq. S3), shape (K,): the true unigram law of the texts."""
    u = marginals(src).mean(axis=0)
    return u / u.sum()


def stationary_law(src: MarkovSource) -> np.ndarray:
    """pi with pi P = pi (eq. S4), shape (K,)."""
    K = src.vocab
    A = np.eye(K) - src.transition + 1.0
    pi = np.linalg.solve(A.T, np.ones(K))
    return pi / pi.sum()


def row_entropies(src: MarkovSource) -> np.ndarray:
    """H(P_i) in nats, shape (K,)."""
    return -xlogy(src.transition, src.transition).sum(axis=1)


def entropy_rate(src: MarkovSource) -> float:
    """h = sum_i pi_i H(P_i) nats per word (eq. S5)."""
    return float(stationary_law(src) @ row_entropies(src))


def text_entropy_per_word(src: MarkovSource) -> float:
    """h_L of eq. (S6): the true entropy of a text of length L divided by L (nats per word)."""
    m = marginals(src)
    h0 = float(-xlogy(src.initial, src.initial).sum())
    return (h0 + float((m[:-1] @ row_entropies(src)).sum())) / src.length


def entropy(p) -> float:
    p = np.asarray(p, np.float64)
    return float(-xlogy(p, p).sum())


# ------------------------------------------------------------------------------------------ sampling


def sample_texts_numpy(src: MarkovSource, n: int, rng: np.random.Generator) -> np.ndarray:
    """n texts as word ids (n, L) int64, by inverse CDF per step (NumPy; the reference for tests)."""
    cdf = np.cumsum(src.transition, axis=1)
    x = np.empty((n, src.length), np.int64)
    x[:, 0] = np.minimum(np.searchsorted(np.cumsum(src.initial), rng.random(n), side="right"), src.vocab - 1)
    for t in range(1, src.length):
        u = rng.random(n)
        rows = cdf[x[:, t - 1]]
        x[:, t] = np.minimum((rows <= u[:, None]).sum(axis=1), src.vocab - 1)
    return x


def jax_tables(src: MarkovSource) -> dict:
    """The source as float32 JAX arrays for :func:`sample_rows`: log f (K,) and log P (K, K)."""
    import jax.numpy as jnp

    return {"log_initial": jnp.asarray(np.log(src.initial), jnp.float32),
            "log_transition": jnp.asarray(np.log(src.transition), jnp.float32)}


def sample_rows(key, tables: dict, n: int, length: int, eot: int):
    """n training rows (n, L + 1) int32 in JAX: the end-of-text token, then a text of L words."""
    import jax
    import jax.numpy as jnp

    k0, k1 = jax.random.split(key)
    first = jax.random.categorical(k0, tables["log_initial"], shape=(n,))

    def step(prev, k):
        nxt = jax.random.categorical(k, tables["log_transition"][prev], axis=-1)
        return nxt, nxt

    _, rest = jax.lax.scan(step, first, jax.random.split(k1, length - 1))
    words = jnp.concatenate([first[:, None], rest.T], axis=1).astype(jnp.int32)
    return jnp.concatenate([jnp.full((n, 1), eot, jnp.int32), words], axis=1)


# ------------------------------------------------------------------------------------------ tokenizer


def word_tokenizer(src: MarkovSource):
    """A ``tokenizers`` WordLevel tokenizer: word i <-> id i, the end-of-text token id K, whitespace split.

    Saved beside a pretrained model as tokenizer.json, so the checkpoint folder is an ordinary Hugging Face
    GPT-2 folder; unknown words map to the end-of-text token (they cannot occur in the source's texts).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(src.words)}
    vocab[END_OF_TEXT] = src.eot
    tok = Tokenizer(models.WordLevel(vocab, unk_token=END_OF_TEXT))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins tokens with single spaces
    return tok


def to_text(src: MarkovSource, ids) -> str:
    """The words of a row of token ids joined by spaces (end-of-text tokens dropped)."""
    return " ".join(src.words[int(i)] for i in ids if 0 <= int(i) < src.vocab)
