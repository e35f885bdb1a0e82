"""N-gram family: an order-k count language model over V tokens, refit on n texts of L tokens it wrote.

Model pytree: ``{"opening": (R,), "table": (R, V)}`` with R = V^(k-1) contexts. A context is the k - 1
previous tokens, as the index c = sum_j x_j V^(k-2-j) (the oldest token is the most significant digit).
A text x_1..x_L is drawn as:

  the first k - 1 tokens together, as one context c ~ opening (the law of how texts begin; for k = 1 there
  is one empty context and ``opening = [1]``), then x_t | previous k - 1 tokens ~ table[c_t] for t = k..L.

So no padding symbol is needed: the opening law plays the part of the "beginning of text" state, and for
k = 2 it is exactly the known source's opening law f (x_1 ~ f). Each text has L - k + 1 transitions.

Fit (``fit``): C[c, x] = the (weighted) count of transitions c -> x in the data, N_c = sum_x C[c, x] the
visits of context c, o[c] the count of texts opening with c (n texts):

  table'[c] = (C[c] + lambda + kappa table[c]) / (N_c + V lambda + kappa)
  opening'  = (o + lambda + kappa opening) / (n + R lambda + kappa)

lambda = ``--smoothing`` (add-lambda), kappa = ``--prior-weight`` (pseudo-counts toward the previous model, the
stand-in for fine-tuning from the previous weights of ``experiments/llm_count_learner.py``). Both 0 (the
default): the maximum-likelihood counts. A context with N_c = 0 (and lambda = kappa = 0) **keeps its previous
row**: the likelihood does not depend on that row, so any row is a maximum-likelihood fit, and the previous
one is the kappa -> 0 limit of the pseudo-count learner; a prior (the uniform row) would instead revive dead
tokens out of nothing. The row matters only if the context becomes reachable again. For k = 1 this is exactly
the categorical family's refit on n L tokens.

Truth (``--init``), an order-j chain represented at order J = max(j, k) (exactly: an order-j chain is an
order-J chain whose rows ignore the oldest J - j tokens):
  ``source``    the known Markov source of the LLM loop (:mod:`collapsim.families.llm.source`, j = 2; seed 0,
                the GPT-2 loop's), over the wordfreq top-V words with ``--branching`` successors each;
  ``random``    a random sparse chain of order j = k: each context has ``--branching`` successors drawn
                uniformly without replacement, weighted by Gamma(1) draws; the k - 1 opening tokens are
                i.i.d. uniform (seeded with ``--seed``);
  ``wordfreq``  the wordfreq unigram law (j = 1: i.i.d. tokens; the categorical family's ``--init wordfreq``).
Generation 0 is the ideal order-k learner of the truth (:func:`project`): the limit of the fit above on
infinitely many real texts (the truth itself when k >= j). Real texts (``mix``, ``keep-real``) are the truth's.

Decoding: ``--temperature`` tau applied by :mod:`collapsim.engine.decoding` to every row of the table and to
the opening law (as one distribution over the R openings) before sampling.

Metrics (p = the model's unigram law: the law of the token at a uniform position 1..L of its own texts,
undecoded, computed exactly from the position marginals; u = the truth's (eq. S3 of the source)):
  ``unigram_entropy``   H(p), nats
  ``gini_simpson``      1 - sum p^2
  ``support``           #{i: p_i > 0}, tokens the model can still write
  ``tail_mass``         sum u_i [p_i = 0]
  ``kl_unigram``        KL(p || u)
  ``entropy_rate``      sum_c mbar_c H(table[c]), mbar the texts' position-averaged context law over the L - k
                        + 1 predicting positions (the model's own texts): the conditional entropy per token
                        (nats); for an ergodic chain it tends to the stationary entropy rate as L grows
  ``row_gini_simpson``  sum_c w*_c (1 - sum_x table[c, x]^2), w* the real texts' position-averaged context law
                        (fixed): the chance that two next tokens the model draws after one real context differ
  ``cross_entropy``     held-out log loss per token on real texts, exact (no sampling), over the real tokens the
                        model can produce: (-o* . log opening - W* . log table) / (L (1 - unseen)) restricted to
                        positive model probabilities, with o* the real openings' law and W*[c, x] the expected
                        count of real transitions c -> x per text. A count model without smoothing gives 0 to
                        any transition it has not seen, and the unrestricted cross-entropy is then infinite:
  ``unseen_rate``       the share of real tokens to which the model gives probability 0 (0 with smoothing)
  ``distinct_2``        distinct bigrams / bigrams over ceil(1000 / (L - 1)) fresh texts (about 1,000 bigrams,
                        counted within texts) drawn from the decoded model with the metric key, as the GPT-2
                        loop counts its generated texts (a fixed number, so the scale does not move with n)
  ``opening_entropy``, ``opening_support``  H and #{c: > 0} of the opening law (how texts begin: for k = 2
                        the first token's law); under ``replace`` it is Wright-Fisher with population n, exactly
  ``live_transitions``  #{(c, x): table[c, x] > 0, c reachable (mbar_c > 0)}: transitions the model can use

Sampling: each generation's table is turned once into per-row integer CDFs (the categorical family's
:func:`~collapsim.families.categorical.cumulative_probs`), then one ``lax.scan`` over the L - k + 1
positions draws every text's next token by an inverse CDF down a search tree over the row of its context
(:func:`sample_texts`); k = 1 draws the n L tokens at once with the categorical sampler, so ``--order 1`` under
``replace`` reproduces ``collapsim run categorical`` with n L samples draw for draw.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import Family, rng
from collapsim.engine.decoding import decode_probs
from collapsim.errors import ConfigError
from collapsim.families.categorical import cumulative_probs, sample_tokens, search_widths
from collapsim.families.entry import Criterion, Entry, Loop, Option, alpha_title, buffer_factor

INITS = ("source", "random", "wordfreq")
#: The largest table V^k: flat transition indices c V + x must stay int32.
MAX_TABLE = 2**31 - 1


# ------------------------------------------------------------------------------------ truths (NumPy, float64)


class Chain(NamedTuple):
    """An order-``order`` text law over V tokens: opening (V^(order-1),) and table (V^(order-1), V)."""

    order: int
    opening: np.ndarray
    table: np.ndarray

    @property
    def vocab(self) -> int:
        return self.table.shape[1]


def lift(chain: Chain, order: int) -> Chain:
    """The same text law as an order-``order`` chain (order >= chain.order): the opening becomes the joint
    law of the first order - 1 tokens, and the row of a longer context is the row of its last chain.order - 1
    tokens."""
    j, V = chain.order, chain.vocab
    if order < j:
        raise ValueError(f"cannot lift an order-{j} chain to order {order}")
    joint = chain.opening  # the law of the first m tokens, flattened, m = j - 1 .. order - 1
    for _ in range(j - 1, order - 1):
        # (earlier tokens, last j - 1 tokens) x next token: the next token's law depends on the last j - 1 only.
        joint = (joint.reshape(-1, chain.table.shape[0])[:, :, None] * chain.table[None]).reshape(-1)
    rows = np.arange(V ** (order - 1)) % chain.table.shape[0]
    return Chain(order, joint, chain.table[rows])


def context_marginals(chain: Chain, length: int) -> np.ndarray:
    """m_t, the law of the context (the previous order - 1 tokens) at each predicting position t = order..L:
    shape (L - order + 1, V^(order-1)); m_order = opening, m_{t+1}[c'] = sum over c -> c' of m_t[c] table[c, x]."""
    k, V, R = chain.order, chain.vocab, chain.table.shape[0]
    out = np.empty((length - k + 1, R))
    m = chain.opening
    for t in range(length - k + 1):
        out[t] = m
        joint = m[:, None] * chain.table  # (context, next token)
        m = joint.reshape(V, R // V, V).sum(axis=0).reshape(R) if k > 1 else np.ones(1)
    return out


def window_counts(chain: Chain, order: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(o, W) for texts of ``chain``, seen by an order-``order`` model (order <= chain.order): o (V^(order-1),)
    the law of the first order - 1 tokens, W (V^(order-1), V) the expected number per text of transitions
    (context of order - 1 tokens, next token) over the positions t = order..L."""
    J, V, k = chain.order, chain.vocab, order
    R = V ** (k - 1)
    W = np.zeros((R, V))
    # Windows of k tokens ending inside the opening (t = k..J-1): marginals of the opening's joint law.
    joint = chain.opening.reshape((V,) * (J - 1)) if J > 1 else np.ones(())
    for end in range(k, J):
        axes = tuple(i for i in range(J - 1) if not end - k <= i < end)
        W += joint.sum(axis=axes).reshape(R, V)
    # Windows ending at t = J..L: the order-J context law times the row, then the last k tokens of the J.
    for m in context_marginals(chain, length):
        full = (m[:, None] * chain.table).reshape(-1, R * V)  # (older tokens, last k tokens)
        W += full.sum(axis=0).reshape(R, V)
    # The first k - 1 of the J - 1 opening tokens (the most significant digits of the opening's index).
    o = joint.reshape(V ** (k - 1), -1).sum(axis=1) if k > 1 else np.ones(1)
    return o, W


def project(chain: Chain, order: int, length: int) -> Chain:
    """The ideal order-``order`` learner of ``chain``'s texts of ``length`` tokens: the fit of the module
    docstring on infinitely many of them (normalised window counts). Contexts that real texts never reach
    get the real unigram law of the next tokens (any row is a fit there; this one keeps every row a law)."""
    if order >= chain.order:
        return lift(chain, order)
    o, W = window_counts(chain, order, length)
    visits = W.sum(axis=1, keepdims=True)
    fallback = W.sum(axis=0) / W.sum()
    table = np.where(visits > 0, W / np.where(visits > 0, visits, 1.0), fallback[None])
    return Chain(order, o / o.sum(), table)


def unigram_law(chain: Chain, length: int) -> np.ndarray:
    """u (V,): the law of the token at a uniform position 1..L of the chain's texts."""
    u = window_counts(chain, 1, length)[1].sum(axis=0)
    return u / u.sum()


def source_chain(vocab: int, branching: int, teleport: float, length: int) -> Chain:
    """The LLM loop's known source (order 2), seed 0 as the GPT-2 loop builds it."""
    from collapsim.families.llm.source import build_source

    src = build_source(vocab, branching, teleport, max(length, 2), 0)
    return Chain(2, src.initial, src.transition)


def random_chain(vocab: int, order: int, branching: int, seed: int) -> Chain:
    """A random sparse order-k chain: ``branching`` uniform successors per context, Gamma(1) weights."""
    if not 1 <= branching <= vocab:
        raise ConfigError(f"--branching must be between 1 and --vocab ({vocab}), got {branching}")
    r = np.random.default_rng(seed)
    R = vocab ** (order - 1)
    table = np.zeros((R, vocab))
    succ = np.argsort(r.random((R, vocab)), axis=1)[:, :branching]  # uniform without replacement, per row
    np.put_along_axis(table, succ, r.gamma(1.0, size=(R, branching)), axis=1)
    return Chain(order, np.full(R, 1.0 / R), table / table.sum(axis=1, keepdims=True))


def wordfreq_chain(vocab: int) -> Chain:
    from collapsim.families.categorical import wordfreq_truth

    return Chain(1, np.ones(1), wordfreq_truth(vocab)[0][None])


def truth_chain(init: str, vocab: int, order: int, length: int, branching: int = 4, teleport: float = 0.05,
                seed: int = 0) -> Chain:
    """The truth as an order-max(j, k) chain (see the module docstring); :class:`ConfigError` on bad input."""
    if init == "source":
        chain = source_chain(vocab, branching, teleport, length)
    elif init == "random":
        chain = random_chain(vocab, order, branching, seed)
    elif init == "wordfreq":
        chain = wordfreq_chain(vocab)
    else:
        raise ConfigError(f"unknown --init {init!r}; choose one of {', '.join(INITS)}")
    return lift(chain, max(order, chain.order))


def _f32_law(p: np.ndarray, what: str) -> np.ndarray:
    """float32 rows of laws (..., K), renormalised in float64 first."""
    p = np.asarray(p, np.float64)
    return np.asarray(p / p.sum(axis=-1, keepdims=True), np.float32)


def make_params(truth: Chain, order: int, length: int, temperature: float = 1.0, smoothing: float = 0.0,
                prior_weight: float = 0.0) -> dict:
    """The parameter pytree (arrays only): the truth for real texts, the order-k ideal learner for
    generation 0, the real texts' laws the metrics weigh by, and the three sweepable scalars."""
    init = project(truth, order, length)
    o, W = window_counts(truth, order, length)
    u = unigram_law(truth, length)
    u32 = _f32_law(u, "unigram")
    return {
        "truth_opening": jnp.asarray(_f32_law(truth.opening, "opening")),
        "truth_table": jnp.asarray(_f32_law(truth.table, "table")),
        "init_opening": jnp.asarray(_f32_law(init.opening, "opening")),
        "init_table": jnp.asarray(_f32_law(init.table, "table")),
        "unigram": jnp.asarray(u32),
        "log_unigram": jnp.asarray(np.log(np.where(u32 > 0, u32, 1.0)).astype(np.float32)),
        "real_opening": jnp.asarray(o.astype(np.float32)),
        "real_pairs": jnp.asarray(W.astype(np.float32)),
        "real_context": jnp.asarray((W.sum(axis=1) / W.sum()).astype(np.float32)),
        "temperature": jnp.float32(temperature),
        "smoothing": jnp.float32(smoothing),
        "prior_weight": jnp.float32(prior_weight),
    }


# ---------------------------------------------------------------------------------------- rewards (--curate)

REWARDS = ("none", "good", "rank", "random", "several")
#: How many reward vectors each built-in reward has; "several" judges each K-tuple by one of them at random.
REWARD_COUNT = {"none": 0, "good": 1, "rank": 1, "random": 1, "several": 3}


def reward_vectors(name: str, unigram, seed: int = 0) -> np.ndarray:
    """The per-token rewards (m, V) float64 of a built-in reward; a text scores the SUM of its tokens' rewards
    (so integer token rewards give integer text rewards, the lattice the exact theory needs).

    ``good``: 1 on a seeded quarter of the tokens (ceil(V / 4)), 0 elsewhere: a text's reward is its count of
    good tokens, 0..L. ``several``: three disjoint seeded quarters of the tokens (floor(V / 4) each, at least
    one), reward j 1 on quarter j (the mean over the three is not a constant, as it would be for a partition).
    ``rank``: 1 - rank / (V - 1) by the truth's unigram law ``unigram`` (V,) (its most frequent token 1), on the
    lattice of step 1 / (V - 1). ``random``: one standard normal vector (no lattice: no exact theory).
    Drawn with ``seed`` (the run's) from a stream of their own.
    """
    unigram = np.asarray(unigram)
    vocab = unigram.shape[0]
    r = np.random.default_rng([seed, 0x5EED])
    if name == "good":
        out = np.zeros((1, vocab))
        out[0, r.permutation(vocab)[:-(-vocab // 4)]] = 1.0
        return out
    if name == "several":
        out = np.zeros((3, vocab))
        perm, size = r.permutation(vocab), max(1, vocab // 4)
        for j in range(3):  # disjoint quarters (the last may be empty for V < 3: a judge with no preference)
            out[j, perm[j * size:(j + 1) * size]] = 1.0
        return out
    if name == "rank":
        rank = np.empty(vocab)
        rank[np.argsort(-unigram, kind="stable")] = np.arange(vocab)
        return (1.0 - rank / max(vocab - 1, 1))[None]
    if name == "random":
        return r.standard_normal((1, vocab))
    raise ConfigError(f"unknown --reward {name!r}; choose one of {', '.join(REWARDS)}")


def reward_lattice(name: str, vocab: int) -> float | None:
    """The step d of the lattice a built-in reward lives on (token rewards = d x whole numbers), None if none."""
    return {"good": 1.0, "several": 1.0, "rank": 1.0 / max(vocab - 1, 1)}.get(name)


def text_rewards(x: jax.Array, reward: jax.Array) -> jax.Array:
    """(n, m): the summed per-token rewards of texts x (n, L) under each of the m reward vectors (m, V)."""
    return reward.T[x].sum(axis=1)


def expected_text_reward(opening: jax.Array, table: jax.Array, reward: jax.Array, length: int, order: int):
    """E_model[reward of a text], exactly: L p . mean_m r, p the model's position-averaged unigram law."""
    p, _ = position_laws(opening, table, length, order)
    return length * p @ reward.mean(axis=0)


# ------------------------------------------------------------------------------- array functions (JAX, one chain)


def row_search_levels(table: jax.Array) -> tuple:
    """Per-level child ends of every row's CDF, for :func:`draw_from_rows`: a tuple over the levels of
    :func:`~collapsim.families.categorical.search_widths` of arrays (R, cells, width - 1), and the row totals (R,)."""
    R, V = table.shape
    widths = search_widths(V)
    size = math.prod(widths)
    cdf = jax.vmap(cumulative_probs)(table)  # (R, V) exact integer CDFs, float32
    padded = jnp.concatenate([cdf, jnp.full((R, size - V), jnp.inf, cdf.dtype)], axis=1)
    levels, span = [], size
    for width in widths:
        span //= width
        levels.append(padded.reshape(R, -1, width, span)[:, :, :-1, -1])
    return tuple(levels), cdf[:, -1]


def draw_from_rows(levels: tuple, totals: jax.Array, rows: jax.Array, u: jax.Array, widths: tuple) -> jax.Array:
    """One token (n,) int32 per text from table row ``rows`` (n,) given uniforms u (n,): index = #{j : cdf_j
    <= u total} found level by level, comparing with the (width - 1) ends of the current cell's children in
    the text's own row (short gathered rows, no data-dependent loop: see the categorical sampler)."""
    total = totals[rows]
    v = jnp.minimum(u * total, jnp.nextafter(total, 0.0))
    index = jnp.zeros(u.shape, jnp.int32)
    for ends, width in zip(levels, widths):
        index = index * width + (v[:, None] >= ends[rows, index]).sum(axis=1, dtype=jnp.int32)
    return index


def sample_texts(key: jax.Array, opening: jax.Array, table: jax.Array, n: int, length: int, order: int) -> jax.Array:
    """n texts (n, L) int32 from unnormalised opening (R,) and table (R, V) laws of an order-k chain."""
    V = table.shape[1]
    if order == 1:  # i.i.d. tokens: the categorical sampler on all n L at once
        return sample_tokens(key, table[0], n * length).reshape(n, length)
    k_open, k_next = jax.random.split(key)
    context = sample_tokens(k_open, opening, n)  # (n,) the first k - 1 tokens as one index
    first = [(context // V ** (order - 2 - j)) % V for j in range(order - 1)]
    levels, totals = row_search_levels(table)
    widths = search_widths(V)
    tail = V ** (order - 2)  # contexts keep their last k - 2 tokens and append the new one

    def step(c, u):
        x = draw_from_rows(levels, totals, c, u, widths)
        return (c % tail) * V + x, x

    _, rest = jax.lax.scan(step, context, rng.uniform(k_next, (length - order + 1, n)))
    return jnp.concatenate([jnp.stack(first, axis=1), rest.T], axis=1).astype(jnp.int32)


def text_contexts(x: jax.Array, vocab: int, order: int) -> jax.Array:
    """The context index (n, L - k + 1) int32 before each predicted token x[:, k-1:] of texts x (n, L)."""
    n, L = x.shape
    c = jnp.zeros((n, L - order + 1), jnp.int32)
    for j in range(order - 1):
        c = c * vocab + x[:, j:L - order + 1 + j]
    return c


def count_texts(x: jax.Array, w, vocab: int, order: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(transition counts (R, V), opening counts (R,), number of texts) of texts x (n, L), text weights w (n,)
    or None."""
    n, L = x.shape
    R = vocab ** (order - 1)
    if order == 1:  # the categorical family's count, token by token (the same floats)
        flat_w = None if w is None else jnp.repeat(w, L)
        counts = jnp.zeros(vocab, jnp.float32).at[x.reshape(-1)].add(1.0 if flat_w is None else flat_w)
        texts = jnp.float32(n) if w is None else w.sum()
        return counts[None], texts[None], texts
    c = text_contexts(x, vocab, order)
    flat = (c * vocab + x[:, order - 1:]).reshape(-1)
    tw = jnp.ones(n, jnp.float32) if w is None else w
    counts = jnp.zeros(R * vocab, jnp.float32).at[flat].add(jnp.repeat(tw, L - order + 1)).reshape(R, vocab)
    opens = jnp.zeros(R, jnp.float32).at[c[:, 0]].add(tw)
    return counts, opens, tw.sum()


def refit(counts, total, previous, smoothing, prior_weight, size: int):
    """(counts + lambda + kappa previous) / (total + size lambda + kappa), previous where that is 0 / 0."""
    denom = total + size * smoothing + prior_weight
    fresh = (counts + smoothing + prior_weight * previous) / jnp.where(denom > 0, denom, 1.0)
    return jnp.where(denom > 0, fresh, previous)


def position_laws(opening: jax.Array, table: jax.Array, length: int, order: int) -> tuple[jax.Array, jax.Array]:
    """(unigram law p (V,), summed context law mbar (R,) over the L - k + 1 predicting positions) of the
    model's own texts, exactly: the opening's token marginals, then the context law pushed through the table."""
    R, V = table.shape
    steps = length - order + 1
    if order == 1:
        return table[0], jnp.full((1,), float(steps), table.dtype)
    joint = opening.reshape((V,) * (order - 1))
    tokens = sum(joint.sum(axis=tuple(a for a in range(order - 1) if a != i)) for i in range(order - 1))

    # The context after c = (oldest token f, rest r) and token x is (r, x): the next context law is one
    # contraction over f, nxt[r, x] = sum_f m[f, r] table[(f, r), x] (a batch of R / V matrix-vector
    # products; for k = 2 the single product m @ table), and the next token's law is its sum over r. One
    # pass over the table per position (the (R, V) product m[:, None] * table summed twice cost two).
    rows = table.reshape(V, R // V, V)

    def step(carry, _):
        m, p, mbar = carry
        nxt = jnp.einsum("fr,frx->rx", m.reshape(V, R // V), rows)
        return (nxt.reshape(R), p + nxt.sum(axis=0), mbar + m), None

    (_, p, mbar), _ = jax.lax.scan(step, (opening, tokens, jnp.zeros(R, table.dtype)), None, length=steps)
    return p / length, mbar


def _xlogx(p):
    return jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)


def _log0(p):
    """log p where p > 0, else 0 (the term is then counted as unseen, not as a loss)."""
    return jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)


def ngram_metrics(opening, table, params, length: int, order: int) -> dict:
    """Every metric of the module docstring except ``distinct_2`` (which samples), for one model."""
    p, mbar = position_laws(opening, table, length, order)
    u = params["unigram"]
    alive = p > 0
    lost = (~alive).astype(p.dtype)
    log_table = _log0(table)  # once: the (R, V) logarithms are most of these metrics' cost
    row_h = -jnp.sum(table * log_table, axis=1)
    o, W = params["real_opening"], params["real_pairs"]
    unseen = (o @ (opening <= 0).astype(o.dtype) + jnp.sum(W * (table <= 0))) / length
    loss = -(o @ _log0(opening) + jnp.sum(W * log_table)) / length
    covered = 1.0 - unseen
    return {
        "opening_entropy": -jnp.sum(_xlogx(opening)),
        "opening_support": jnp.sum((opening > 0).astype(p.dtype)),
        "unigram_entropy": -jnp.sum(_xlogx(p)),
        "gini_simpson": 1.0 - jnp.sum(p * p),
        "support": jnp.sum(alive.astype(p.dtype)),
        "tail_mass": u @ lost,
        "kl_unigram": jnp.sum(jnp.where(alive, p * (_log0(p) - params["log_unigram"]), 0.0)),
        "entropy_rate": mbar @ row_h / (length - order + 1),
        "row_gini_simpson": params["real_context"] @ (1.0 - jnp.sum(table * table, axis=1)),
        "cross_entropy": jnp.where(covered > 0, loss / jnp.where(covered > 0, covered, 1.0), 0.0),
        "unseen_rate": unseen,
        "live_transitions": jnp.sum(jnp.where(mbar[:, None] > 0, (table > 0).astype(p.dtype), 0.0)),
    }


#: The largest V^2 for which :func:`distinct_bigrams` marks a bitmap of every bigram id (bytes per chain);
#: above it, it sorts the bigram codes.
BITMAP_BIGRAMS = 2**16


def distinct_bigrams(x: jax.Array, vocab: int) -> jax.Array:
    """Distinct bigrams / bigrams over texts x (n, L), bigrams counted within texts (n (L - 1) of them).

    Up to V^2 = BITMAP_BIGRAMS: mark each bigram id a V + b in a (V^2,) bitmap and count the marks (one
    scatter, about 5x cheaper than the sort at V = 64 and 1,000 bigrams, 2-core CPU); above it (a V^2 table
    per chain would not fit) sort the codes and count the changes. The same number either way.
    """
    codes = (x[:, :-1] * vocab + x[:, 1:]).reshape(-1)
    if vocab * vocab <= BITMAP_BIGRAMS:
        seen = jnp.zeros(vocab * vocab, jnp.bool_).at[codes].set(True)
        return jnp.sum(seen, dtype=jnp.int32) / codes.shape[0]
    codes = jnp.sort(codes)
    return (1.0 + jnp.sum(codes[1:] != codes[:-1])) / codes.shape[0]


#: The metric a loop may record only every k-th generation: it draws its own fresh texts (about 1,000
#: bigrams: at n = 100, L = 16 two thirds of the generation's own sampling, and about a third of its step).
EXPENSIVE_METRICS = ("distinct_2",)


@lru_cache(maxsize=None)
def ngram(vocab: int, order: int, length: int, tempered: bool = False, truth_order: int = 0,
          rewarded: bool = False) -> Family:
    """Build the n-gram family (cached: one object, one compile, per setting).

    Args:
      vocab: V tokens. order: k >= 1 (contexts of k - 1 tokens). length: L tokens per text (L >= k).
      tempered: apply ``params["temperature"]`` when sampling.
      truth_order: the order J of the truth's tables in the parameters (0: the same as ``order``).
      rewarded: ``params["reward"]`` (m, V) holds per-token rewards: the family can be curated (a text scores the
        sum of its tokens' rewards, :func:`text_rewards`) and records ``expected_reward`` of the decoded model.
    """
    R = vocab ** (order - 1)
    truth_order = truth_order or order

    def decode(probs, params):
        return decode_probs(probs, temperature=params["temperature"]) if tempered else probs

    def init(key, params):
        return {"opening": params["init_opening"], "table": params["init_table"]}

    def sample_real(key, params, n):
        return sample_texts(key, params["truth_opening"], params["truth_table"], n, length, truth_order)

    def sample(key, model, n, params):
        return sample_texts(key, decode(model["opening"], params), decode(model["table"], params), n, length, order)

    def fit(key, previous, x, w, params):
        counts, opens, texts = count_texts(x, w, vocab, order)
        s, kappa = params["smoothing"], params["prior_weight"]
        table = refit(counts, counts.sum(axis=1, keepdims=True), previous["table"], s, kappa, vocab)
        if order == 1:
            return {"opening": previous["opening"], "table": table}
        return {"opening": refit(opens, texts, previous["opening"], s, kappa, R), "table": table}

    def metrics(key, model, params):
        m = ngram_metrics(model["opening"], model["table"], params, length, order)
        m["distinct_2"] = distinct_bigrams(sample(key, model, metric_texts(length), params), vocab)
        if rewarded:
            m["expected_reward"] = expected_text_reward(decode(model["opening"], params), decode(model["table"], params),
                                                        params["reward"], length, order)
        return m

    def reward(x, params):
        return text_rewards(x, params["reward"])

    return Family("ngram", init, sample_real, sample, fit, metrics, expensive=EXPENSIVE_METRICS,
                  reward=reward if rewarded else None)


def metric_texts(length: int) -> int:
    """Texts drawn for ``distinct_2``: about 1,000 bigrams (a fixed sample, so the metric's scale does not
    depend on n)."""
    return max(1, -(-1000 // (length - 1)))


# ------------------------------------------------------------------------------------------- the theory adapter


def _law64(a) -> np.ndarray:
    a = np.asarray(a, np.float64)
    return a / a.sum(axis=-1, keepdims=True)


def predict_spec(spec, loop):
    """:class:`~collapsim.theory.Prediction` for an n-gram run (:mod:`collapsim.theory.ngram`): k = 1 under
    ``replace`` is the categorical theory with M = n L; k >= 2 has the exact generation-1 row Gini-Simpson
    (eq. N2) and its approximate continuation. The truth is the simulated one (the float32 tables the
    chains start from, renormalised)."""
    from collapsim.theory import Prediction
    from collapsim.theory import ngram as th

    o, p = spec.family_options, spec.params
    k, V, L, n, T = o["order"], o["vocab"], o["length"], spec.samples, spec.generations
    if spec.policy != "replace":
        return Prediction({}, {}, f"no exact theory for policy {spec.policy!r} (real texts enter whole, so the "
                                  "token counts are not multinomial)")
    if p["temperature"] != 1.0 or p["smoothing"] > 0:
        return Prediction({}, {}, "no exact theory drawn with decoding or smoothing")
    opening, table = _law64(loop.params["init_opening"]), _law64(loop.params["init_table"])
    kappa = float(p["prior_weight"])
    if k == 1 and kappa == 0:
        from collapsim.theory.categorical import predictions, theory_plan

        _, why = theory_plan(table[0], n * L, np.zeros(T), None)
        if why:
            return Prediction({}, {}, f"exact theory skipped: it {why}")
        return Prediction(th.order_one_curves(predictions("replace", table[0], n * L, np.zeros(T))), {})
    if k == 1:  # eq. (N1) with N = n L fixed: Gini-Simpson shrinks by the same factor every generation
        gs = (1.0 - table[0] @ table[0]) * (1.0 - n * L / (n * L + kappa) ** 2) ** np.arange(T + 1)
        return Prediction({"gini_simpson": gs, "row_gini_simpson": gs}, {},
                          "with --prior-weight only Gini-Simpson has exact theory (eq. N1)")
    if th.visit_work(V, k, L) > th.MAX_VISIT_WORK:
        from collapsim.theory.categorical import marginals

        m = marginals(opening, n, np.zeros(T)) if kappa == 0 else None
        return Prediction({} if m is None else {"opening_entropy": m.entropy, "opening_support": m.support}, {},
                          f"row Gini-Simpson approximation skipped: its visit recursion needs "
                          f"{th.visit_work(V, k, L):.2g} multiply-adds")
    curves = {}
    if kappa == 0:  # the openings are n i.i.d. draws of the opening law: Wright-Fisher with population n
        from collapsim.theory.categorical import marginals

        m = marginals(opening, n, np.zeros(T))
        curves = {"opening_entropy": m.entropy, "opening_support": m.support}
    weights = np.asarray(loop.params["real_context"], np.float64)
    approx = th.row_gini_approx(opening, table, weights / weights.sum(), n, L, k, T, kappa)
    return Prediction(curves, {"row_gini_simpson": {th.ROW_APPROX_LABEL: approx}},
                      "exact: the opening law's entropy and support (Wright-Fisher, population n); "
                      "row Gini-Simpson approximate (eq. N2)")


IDEAL_LABEL = "ideal learner (n = inf)"
STATIONARY_LABEL = "stationary point, ideal learner"


def predict(spec, loop):
    """The entry's theory: :func:`curated_prediction` when ``spec.curate`` > 1, else :func:`predict_spec` with,
    when a reward is set, its expected reward (:func:`uncurated_reward`)."""
    if spec.curate > 1:
        try:
            return curated_prediction(spec, loop)
        except (ValueError, ArithmeticError) as err:  # e.g. a reward spread / temperature beyond float64's range
            from collapsim.theory import Prediction

            return Prediction({}, {}, f"no curation theory drawn: {err}")
    prediction = predict_spec(spec, loop)
    if "reward" not in loop.params:
        return prediction
    exact, approx = uncurated_reward(spec, loop)
    curves = {**prediction.curves, **({"expected_reward": exact} if exact is not None else {})}
    return prediction._replace(curves=curves, approx={**prediction.approx, **approx})


def uncurated_reward(spec, loop) -> tuple:
    """(exact curve or None, approximations) of expected_reward without curation (replace or mix, undecoded,
    unsmoothed). k = 1: the refit row is the token counts over n L tokens, whose mean is the row itself (real
    texts have the same token law as generation 0, the ideal learner of the truth), so the curve is constant,
    exactly. k >= 2: the ideal learner stays at generation 0 (a fixed point), an approximation at finite n."""
    from collapsim.theory import ngram_curation as nc

    o, p = spec.family_options, spec.params
    if spec.policy not in ("replace", "mix") or p["temperature"] != 1.0 or p["smoothing"] > 0:
        return None, {}
    opening, table = _law64(loop.params["init_opening"]), _law64(loop.params["init_table"])
    reward = np.asarray(loop.params["reward"], np.float64)
    value = nc.model_metrics(opening, table, reward, o["length"], o["order"])["expected_reward"]
    curve = np.full(spec.generations + 1, value)
    return (curve, {}) if o["order"] == 1 else (None, {"expected_reward": {IDEAL_LABEL: curve}})


def curated_prediction(spec, loop):
    """The theory of a curated replace or mix run (:mod:`collapsim.theory.ngram_curation`), for lattice rewards
    (``good``, ``rank``, ``several``): exact rows at generation 0 (the model is known) and generation 1 where
    one curated generation is exact at finite n (the opening law's entropy and support for k >= 2 without a
    prior weight, Wright-Fisher from the curated opening law; the expected reward for k = 1); the ideal learner's
    trajectory (n = inf) and, under a constant alpha > 0, its stationary point, as labelled approximations."""
    from collapsim.theory import Prediction
    from collapsim.theory import ngram_curation as nc

    o, p = spec.family_options, spec.params
    k, V, L, n, T = o["order"], o["vocab"], o["length"], spec.samples, spec.generations
    if spec.policy not in ("replace", "mix"):
        return Prediction({}, {}, f"no curation theory for policy {spec.policy!r}")
    if p["temperature"] != 1.0 or p["smoothing"] > 0:
        return Prediction({}, {}, "no curation theory drawn with decoding or smoothing")
    step = reward_lattice(o["reward"], V)
    if step is None:
        return Prediction({}, {}, f"no exact curation theory for --reward {o['reward']}: text rewards off a lattice "
                                  "(the recursion over running rewards needs whole multiples of one step; "
                                  "good, rank and several have one)")
    reward = np.asarray(loop.params["reward"], np.float64)
    units = np.rint((reward - reward.min(axis=1, keepdims=True)) / step).astype(np.int64)
    work = nc.map_work(V, k, L, units)
    cells = float(V) ** k * nc.levels(units.max(axis=0), L)
    if work > nc.MAX_WORK or cells > nc.MAX_CELLS:
        return Prediction({}, {}, f"curation theory skipped: one ideal-learner step needs {work:.2g} multiply-adds")
    beta, K = spec.reward_temperature, spec.curate
    alpha = spec.alpha_schedule()
    opening, table = _law64(loop.params["init_opening"]), _law64(loop.params["init_table"])
    real = (_law64(loop.params["real_opening"]), np.asarray(loop.params["real_pairs"], np.float64))
    lattice = (units, step, K, beta, L, k)
    steps = int(min(T, nc.MAX_WORK // work))  # the trajectory within the work budget; nan after
    trajectory = nc.ideal_trajectory(opening, table, *lattice, alpha[:steps], *real)
    ideal = [nc.model_metrics(*m, reward, L, k) for m in trajectory]
    curves, approx = {}, {}
    for name in ideal[0]:
        curve = np.full(T + 1, np.nan)
        curve[:steps + 1] = [m[name] for m in ideal]
        approx[name] = {IDEAL_LABEL: curve}
        curves[name] = np.full(T + 1, np.nan)
        curves[name][0] = ideal[0][name]
    curves["opening_support"] = np.full(T + 1, np.nan)
    curves["opening_support"][0] = float(np.sum(opening > 0))
    exact_one = "the expected reward (k = 1)" if k == 1 else "nothing"
    if T >= 1:
        first_open, first_counts = nc.expected_counts(opening, table, *lattice, float(alpha[0]), *real)
        if k == 1:
            curves["expected_reward"][1] = nc.order_one_reward(table[0], first_counts[0], reward, n, L,
                                                               float(p["prior_weight"]))
        elif p["prior_weight"] == 0:
            for name, value in nc.opening_expectations(first_open, n).items():
                curves[name][1] = value
            exact_one = "the opening law's entropy and support"
    note = (f"curated theory: exact at generation 0 and, at generation 1, for {exact_one}; the ideal learner "
            "(n = inf) drawn as an approximation" + ("" if k == 1 else " (the refit rows C_a / N_a are ratios: "
                                                      "at finite n their means move by O(1/n))"))
    if steps < T:
        note += f"; ideal learner computed to generation {steps} (work budget)"
    if spec.policy == "mix" and alpha.size and np.all(alpha == alpha[0]) and alpha[0] > 0:
        try:
            fixed = nc.stationary_point(opening, table, *lattice, float(alpha[0]), *real,
                                        max_iter=max(1, int(nc.MAX_WORK // work)))
        except ValueError as err:
            note += f"; no stationary point drawn: {err}"
        else:
            for name, value in nc.model_metrics(*fixed, reward, L, k).items():
                approx[name][STATIONARY_LABEL] = np.full(T + 1, value)
    return Prediction(curves, approx, note)


# ---------------------------------------------------------------------------------------------------- entry


def table_size(spec) -> int:
    """Transitions in the largest table a chain or the truth holds: V^max(k, j)."""
    o = spec.family_options
    truth_order = 2 if o["init"] == "source" else 1 if o["init"] == "wordfreq" else o["order"]
    return int(o["vocab"]) ** max(int(o["order"]), truth_order)


def check(spec) -> None:
    """Refuse settings no machine can run: text shorter than the order, or a table past int32 indices."""
    o = spec.family_options
    k, V, L = o["order"], o["vocab"], o["length"]
    if L < k:
        raise ConfigError(f"--length {L} is shorter than --order {k}: a text needs at least one transition")
    if table_size(spec) > MAX_TABLE:
        raise ConfigError(f"--vocab {V} at --order {k} needs a table of {float(V) ** k:.3g} transitions per chain; "
                          f"at most {MAX_TABLE} (lower --vocab or --order)")
    if o["init"] in ("source", "random") and not 1 <= o["branching"] <= V:
        raise ConfigError(f"--branching must be between 1 and --vocab ({V}), got {o['branching']}")


def build(spec) -> Loop:
    from collapsim.families.entry import resolve_method

    o, p = spec.family_options, spec.params
    check(spec)
    k, V, L = o["order"], o["vocab"], o["length"]
    truth = truth_chain(o["init"], V, k, L, o["branching"], o["teleport"], spec.seed)
    if spec.curate > 1 and o["reward"] == "none":
        raise ConfigError(f"--curate {spec.curate} needs a reward to curate by: --reward {', '.join(REWARDS[1:])}")
    params = make_params(truth, k, L, p["temperature"], p["smoothing"], p["prior_weight"])
    if o["reward"] != "none":
        params["reward"] = jnp.asarray(reward_vectors(o["reward"], unigram_law(truth, L), spec.seed).astype(np.float32))
    resolve_method(spec, False, False)  # explicit only: refuses --method shortcut in one line
    family = ngram(V, k, L, tempered=p["temperature"] != 1.0, truth_order=truth.order, rewarded=o["reward"] != "none")
    u = np.asarray(params["unigram"], np.float64)
    derived = {"truth_order": truth.order, "unigram": u / u.sum()}
    return Loop(family, params, False, derived)


def title(spec) -> str:
    o, p = spec.family_options, spec.params
    extra = [f"temperature={p['temperature']:g}"] if p["temperature"] != 1.0 else []
    extra += [f"smoothing={p['smoothing']:g}"] if p["smoothing"] > 0 else []
    extra += [f"prior weight={p['prior_weight']:g}"] if p["prior_weight"] > 0 else []
    curated = f", curate={spec.curate} ({o['reward']}, beta={spec.reward_temperature:g})" if spec.curate > 1 else ""
    return (f"ngram k={o['order']} V={o['vocab']} L={o['length']} ({o['init']}), n={spec.samples} texts, {spec.policy}"
            + alpha_title(spec) + curated + (", " + ", ".join(extra) if extra else "") + f", {spec.seeds} chains")


def footprint(spec) -> tuple:
    """(floats per chain: the model, its CDFs and the metrics' (R, V) temporaries; per text: L tokens)."""
    o = spec.family_options
    R = float(o["vocab"]) ** (o["order"] - 1)
    return 6.0 * R * o["vocab"] + 2 * R, float(o["length"])


ENTRY = Entry(
    "ngram", "Refit an order-k count language model on texts it wrote (the LLM loop's known source, or a random chain).",
    {"generations": 50, "samples": 100, "seeds": 1000},
    (
        Option("order", int, 2, "Order k: each token depends on the k - 1 before it (1: a unigram model).", low=1, high=8),
        Option("vocab", int, 64, "Vocabulary size V.", low=2),
        Option("length", int, 16, "Tokens per text L (--samples counts texts).", low=2),
        Option("init", str, "source", "Truth: source (the LLM loop's Markov source, wordfreq words), random (a sparse "
               "chain seeded by --seed), wordfreq (the unigram law; needs the wordfreq extra).", choices=INITS),
        Option("branching", int, 4, "Successors per context of the source and random truths.", low=1),
        Option("teleport", float, 0.05, "The source's teleport share epsilon (eq. S1).", low=0, high=1, open_low=True),
        Option("temperature", float, 1.0, "Decoding temperature when sampling.", target="params", low=0, open_low=True),
        Option("smoothing", float, 0.0, "Add-lambda smoothing of the refit counts.", target="params", low=0),
        Option("prior_weight", float, 0.0, "kappa pseudo-counts toward the previous model (0: pure counts).",
               target="params", low=0),
        Option("reward", str, "none", "Per-token reward for --curate and expected_reward; a text scores the sum over "
               "its tokens: good (1 on a seeded quarter of the tokens), rank (the truth's most frequent token 1, its "
               "least 0), random (a normal vector drawn with --seed), several (three: 1 on a seeded quarter each, "
               "disjoint; each K-tuple judged by one at random).", choices=REWARDS),
    ),
    build, predict, title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["length"]
    * (2 if spec.policy == "mix" else 1) * buffer_factor(spec),
    footprint,
    check=check,
    sweep_metric="entropy_rate",
    criterion=Criterion("support", 1.0, "support 1 (one token left)"),
    smallest=({"samples": 1, "vocab": 6, "length": 4, "init": "random", "branching": 3},
              {"samples": 1, "vocab": 5, "length": 4, "order": 3, "init": "random", "branching": 2,
               "temperature": 0.8, "smoothing": 0.5},
              {"samples": 1, "vocab": 5, "length": 4, "init": "random", "branching": 2, "reward": "several",
               "curate": 3}),
)
