"""Categorical family: a K-token next-token distribution refit by counts of its own samples (Wright-Fisher).

Model pytree: ``{"probs": (K,)}``. A generation draws n token ids from ``decode(model)``, and the refit is
the (optionally smoothed) count distribution ``(c_i + s) / (N + K s)``; with ``s = 0`` (the default) a
category that goes unsampled is gone for good, which is exactly neutral Wright-Fisher drift with
population n (REFERENCES.md section 2).

Parameters (sweepable arrays, see :func:`make_params`): ``truth`` (K,) the generation-0 distribution,
``bottom`` (K,) bool, the truth's bottom decile (see :func:`bottom_decile_mask`), ``temperature`` and
``top_p`` (scalars, used only when the matching static switch is on) and ``smoothing`` (scalar s >= 0).
Static settings of :func:`categorical`: ``vocab`` K, ``top_k`` (0 = off; static because it fixes the size
of a ``lax.top_k``), and the switches ``tempered`` and ``nucleus`` that turn temperature and top-p on, so
the common undecoded loop pays nothing for them.

Decoding (:mod:`collapsim.engine.decoding`, shared with the GPT-2 sampler), in the Hugging Face order (temperature, then top-k, then top-p), applied to the model before
each generation samples (and to the truth before generation 1, as an LLM decodes its base model):
  temperature tau: p_i -> p_i^(1/tau) / sum_j p_j^(1/tau);
  top-k: keep every category whose probability is at least the k-th largest (ties kept, as HF does);
  top-p: keep, in decreasing order, each category whose strictly-larger mass is below top_p (the smallest
         prefix reaching top_p, at least one category); renormalise.

Metrics (names in ``metrics.csv``; p = model, p* = truth, 0 log 0 = 0):
  ``entropy``            -sum p log p (nats)
  ``gini_simpson``       1 - sum p^2
  ``support``            #{i: p_i > 0}, categories still alive
  ``tail_mass``          sum p*_i [p_i = 0], the truth's mass of the categories that are gone
  ``tv``                 (1/2) sum |p - p*|
  ``kl``                 KL(model || truth) = sum p log(p / p*)
  ``sq_error``           sum (p - p*)^2 (its stationary value under ``mix`` is about G / (2 alpha M))
  ``bottom_decile_mass`` sum_{i in bottom decile} p*_i [p_i > 0], the truth's bottom-decile mass still present

Sampling n tokens, chosen by measurement (2-core CPU, K = 50, n = 200, 2,000 chains x 100 generations,
nanoseconds per token including the count): ``jax.random.categorical`` (Gumbel-max over K) 1,450;
conditional binomials with ``jax.random.binomial`` 500; sort-based inverse CDF 155; compare against all K
cumulative sums 31; ``jnp.searchsorted`` (binary search) 8.5 to 9.4; a two-level compare 5.7 to 6.1, of
which drawing the uniforms alone is 2.4. Measured again over K in 50..10,000 (vmapped, us per chain for
n = 1,000 tokens): the search tree of :func:`sample_tokens` (levels of at most 32 compares, short gathered
rows below the first) with the exact integer CDF of :func:`cumulative_probs` beat the two-level
compare (K = 1,000: 9 against 15) and binary search (K = 10,000: 30 to 50 against 105). No data-dependent
loop: binary search gathers at every step, which is what costs under vmap. Exact up to float32: a
category's probability is resolved to about 2^-23 absolute. The uniforms are Threefry words taken two per
hash (:mod:`collapsim.engine.rng`).

Where only the counts are needed (the exact shortcut, which ``collapsim run`` uses for replace and mix) and
n >= BINOMIAL_FROM K, the counts are drawn by K - 1 conditional binomials, whose cost does not grow with n.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.engine import rng
from collapsim.engine.decoding import decode_probs
from collapsim.engine import Family
from collapsim.errors import ConfigError
from collapsim.families.entry import Criterion, Entry, Loop, Option, alpha_title, buffer_factor, resolve_method

INITS = ("zipf", "uniform", "dirichlet", "wordfreq")


# ---------------------------------------------------------------- initial truths (NumPy, float64)


def zipf_truth(vocab: int, exponent: float = 1.0) -> np.ndarray:
    """p_i proportional to i^-exponent, i = 1..K; shape (K,)."""
    w = np.arange(1, vocab + 1, dtype=np.float64) ** -float(exponent)
    return w / w.sum()


def uniform_truth(vocab: int) -> np.ndarray:
    return np.full(vocab, 1.0 / vocab)


def dirichlet_truth(vocab: int, concentration: float = 1.0, seed: int = 0) -> np.ndarray:
    """One draw from the symmetric Dirichlet(concentration), seeded so the same run gets the same truth."""
    return np.random.default_rng(seed).dirichlet(np.full(vocab, float(concentration)))


def wordfreq_truth(vocab: int, lang: str = "en") -> tuple[np.ndarray, list[str]]:
    """The real frequencies of the K most common words of ``lang`` (the ``wordfreq`` package), renormalised."""
    try:
        import wordfreq
    except ImportError:
        raise ConfigError("--init wordfreq needs the wordfreq package: pip install 'collapsim[wordfreq]'") from None
    words = wordfreq.top_n_list(lang, vocab)
    if len(words) < vocab:
        raise ConfigError(f"wordfreq lists only {len(words)} words for {lang!r}, fewer than --vocab {vocab}")
    freq = np.array([wordfreq.word_frequency(w, lang) for w in words], np.float64)
    return freq / freq.sum(), words


def initial_truth(init: str, vocab: int, zipf_exponent: float = 1.0, concentration: float = 1.0, seed: int = 0) -> np.ndarray:
    """The generation-0 distribution (K,) for a named initial truth; raises :class:`ConfigError` on bad input."""
    if vocab < 1:
        raise ConfigError(f"--vocab must be at least 1, got {vocab}")
    if init == "zipf":
        if not np.isfinite(zipf_exponent) or zipf_exponent < 0:
            raise ConfigError(f"--zipf-exponent must be 0 or more, got {zipf_exponent}")
        return zipf_truth(vocab, zipf_exponent)
    if init == "uniform":
        return uniform_truth(vocab)
    if init == "dirichlet":
        if not concentration > 0:
            raise ConfigError(f"--dirichlet-concentration must be positive, got {concentration}")
        return dirichlet_truth(vocab, concentration, seed)
    if init == "wordfreq":
        return wordfreq_truth(vocab)[0]
    raise ConfigError(f"unknown --init {init!r}; choose one of {', '.join(INITS)}")


def bottom_decile_mask(truth) -> np.ndarray:
    """The ceil(K / 10) least probable categories of the truth, as a bool mask (K,); ties go to later indices."""
    truth = np.asarray(truth)
    size = math.ceil(truth.shape[0] / 10)
    order = np.argsort(-truth, kind="stable")  # most probable first, ties by index
    mask = np.zeros(truth.shape[0], bool)
    mask[order[-size:]] = True
    return mask


REWARDS = ("none", "rank", "random", "several")
#: How many reward vectors each built-in reward has (R); "several" judges each K-tuple by one of them at random.
REWARD_COUNT = {"none": 0, "rank": 1, "random": 1, "several": 3}


def reward_vectors(name: str, truth, seed: int = 0) -> np.ndarray:
    """The per-token rewards (R, K) float64 of a built-in reward over a truth (K,).

    ``rank``: r_i = 1 - rank_i / (K - 1), rank 0 the truth's most probable token (ties by index), so the
    reward prefers the truth's head (1 for a single token); ``random``: one standard normal vector; ``several``: three, drawn with
    ``seed`` (the run's, as the dirichlet truth is) from a stream of their own.
    """
    truth = np.asarray(truth)
    vocab = truth.shape[0]
    if name == "rank":
        rank = np.empty(vocab)
        rank[np.argsort(-truth, kind="stable")] = np.arange(vocab)
        return (1.0 - rank / max(vocab - 1, 1))[None]
    if name in ("random", "several"):
        return np.random.default_rng([seed, 0x5EED]).standard_normal((REWARD_COUNT[name], vocab))
    raise ConfigError(f"unknown --reward {name!r}; choose one of {', '.join(REWARDS)}")


def make_params(truth, temperature: float = 1.0, top_p: float = 1.0, smoothing: float = 0.0) -> dict:
    """The parameter pytree for a truth (K,): arrays only, so sweeping any of them never recompiles."""
    truth = np.asarray(truth, np.float64)
    p32 = np.asarray(truth / truth.sum(), np.float32)
    if np.any(p32 <= 0):
        i = int(np.argmax(p32 <= 0))
        raise ConfigError(f"the truth gives category {i} probability {truth[i]:.3g}, zero in float32; every category needs positive mass")
    return {
        "truth": jnp.asarray(p32),
        "log_truth": jnp.asarray(np.log(p32)),  # once per run: inside the vmapped loop XLA recomputes it per chain
        "bottom": jnp.asarray(bottom_decile_mask(truth)),
        "temperature": jnp.float32(temperature),
        "top_p": jnp.float32(top_p),
        "smoothing": jnp.float32(smoothing),
    }


def params_for(options, overrides, seed: int = 0) -> dict:
    """Parameters from a run spec's family options (init, vocab, zipf_exponent, dirichlet_concentration,
    reward) and parameter overrides (temperature, top_p, smoothing); a dirichlet truth and a random reward
    are drawn with the run's seed. With a reward, ``params["reward"]`` holds its vectors (R, K) float32."""
    truth = initial_truth(options.get("init", "zipf"), int(options.get("vocab", 50)),
                          float(options.get("zipf_exponent", 1.0)), float(options.get("dirichlet_concentration", 1.0)), seed)
    params = make_params(truth, float(overrides.get("temperature", 1.0)), float(overrides.get("top_p", 1.0)),
                         float(overrides.get("smoothing", 0.0)))
    reward = options.get("reward", "none")
    if reward != "none":
        params["reward"] = jnp.asarray(np.asarray(reward_vectors(reward, truth, seed), np.float32))
    return params


def simulated_truth(params) -> np.ndarray:
    """The truth the chains start from (the float32 one in ``params``) as float64 summing to 1: the theory's p*."""
    truth = np.asarray(params["truth"], np.float64)
    return truth / truth.sum()


def validate(vocab: int, temperature: float, top_k: int, top_p: float, smoothing: float) -> None:
    """Raise :class:`ConfigError` naming the first bad family setting."""
    if vocab < 1:
        raise ConfigError(f"--vocab must be at least 1, got {vocab}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"--temperature must be positive, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"--top-k must be 0 (off) or a positive count, got {top_k}")
    if not (0 < top_p <= 1):
        raise ConfigError(f"--top-p must lie in (0, 1], got {top_p}")
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ConfigError(f"--smoothing must be 0 or more, got {smoothing}")


# ---------------------------------------------------------------- array functions (JAX, one chain)


def search_widths(vocab: int) -> tuple[int, ...]:
    """The fan-out of each level of :func:`sample_tokens`'s search tree over ``vocab`` categories.

    One level for K <= 32; (ceil(K / 8), 8) up to K = 128; above, a last level of 4, levels of 8 above it
    and a first level of at most 32 (K = 1,000: (32, 8, 4); K = 10,000: (5, 8, 8, 8, 4)). Chosen by
    measurement inside the generation loop (2-core CPU, CPU seconds): a level wider than 32 compares makes
    XLA's compare-and-count slow (K = 1,000 as (250, 4): 70x the time of (32, 8, 4)); K = 100: (13, 8) 0.09,
    (10, 10) 0.13, (25, 4) 0.17; K = 1,000: (32, 8, 4) 0.34, (16, 8, 8) 0.35, (8, 16, 8) 0.39; K = 10,000:
    (5, 8, 8, 8, 4) 1.01, (20, 8, 8, 8) 1.06.
    """
    if vocab <= 32:
        return (vocab,)
    if vocab <= 128:
        return (-(-vocab // 8), 8)
    widths, rest = [4], -(-vocab // 4)
    while rest > 32:
        widths.append(8)
        rest = -(-rest // 8)
    return (rest, *reversed(widths))


#: The CDF is taken over the probabilities quantised to integer multiples of 2^-QUANTUM_BITS of their total.
QUANTUM_BITS = 23


def _running_sums(x: jax.Array, block: int = 32) -> jax.Array:
    """Inclusive running sums (K,) of x (K,) by blocks of ``block``: one matmul with a triangle of ones per
    block, the block totals' running sums recursively. Exact when x holds integers whose total is below 2^24
    (every partial sum is then a float32 integer, whatever the order of the additions)."""
    K = x.shape[0]
    if K <= block:
        return x @ jnp.triu(jnp.ones((K, K), x.dtype))
    nb = -(-K // block)
    blocks = jnp.concatenate([x, jnp.zeros(nb * block - K, x.dtype)]).reshape(nb, block)
    within = blocks @ jnp.triu(jnp.ones((block, block), x.dtype))
    ends = _running_sums(within[:, -1], block)
    offsets = jnp.concatenate([jnp.zeros(1, x.dtype), ends[:-1]])
    return (within + offsets[:, None]).reshape(-1)[:K]


def cumulative_probs(probs: jax.Array) -> jax.Array:
    """The CDF (K,) of unnormalised probabilities (K,), in units of 2^-QUANTUM_BITS of their total.

    Each probability is rounded to an integer q_k = round(2^23 p_k / sum p) (float32's own resolution at a
    total of 1; a dead category gets exactly 0) and the running sums of the q_k are exact in float32 in any
    order of addition (every partial sum is an integer below 2^24). That exactness is what lets the sums run
    as small matmuls (:func:`_running_sums`): ``jnp.cumsum`` cost about twice as much inside the generation
    loop (K = n = 1,000), and a dead category's step stays exactly 0, so it can never be drawn.
    """
    total = jnp.sum(probs)
    q = jnp.round(probs * (2.0**QUANTUM_BITS / jnp.where(total > 0, total, 1.0)))
    return _running_sums(q)


def sample_tokens(key: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """n i.i.d. token ids (n,) int32 from unnormalised probabilities (K,), by inverse CDF down a search tree.

    The CDF, padded with +inf to the product of :func:`search_widths`, is a tree whose level l splits each
    cell into w_l children. A token's index is found level by level: at the first level by comparing u with
    the w_1 - 1 cell ends shared by every token (no gather), below it by comparing with the w_l - 1 ends of
    the children of the token's cell (one short gathered row). Index = #{j : cdf_j <= u} exactly, with no
    data-dependent loop: under vmap, a binary search's per-step scalar gathers cost more than these
    compares, and a wide single level more than short rows (see :func:`search_widths`).
    """
    widths = search_widths(probs.shape[0])
    size = math.prod(widths)
    cdf = cumulative_probs(probs)  # non-decreasing, since every term is >= 0
    total = cdf[-1]
    # Strictly below the total, so a trailing zero-probability category can never be drawn.
    u = jnp.minimum(rng.uniform(key, n) * total, jnp.nextafter(total, 0.0))
    padded = jnp.concatenate([cdf, jnp.full((size - cdf.shape[0],), jnp.inf, cdf.dtype)])
    index, span = jnp.zeros(n, jnp.int32), size
    for level, width in enumerate(widths):
        span //= width
        ends = padded.reshape(-1, width, span)[:, :-1, -1]  # (cells at this level, width - 1) children's ends
        row = ends[0][None] if level == 0 else ends[index]
        index = index * width + (u[:, None] >= row).sum(axis=1, dtype=jnp.int32)
    return index


def binomial_counts(key: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """Counts (K,) float32 of n i.i.d. draws from unnormalised probabilities (K,), by conditional binomials.

    c_i ~ Binomial(n - c_1 - ... - c_{i-1}, p_i / (p_i + ... + p_K)) for i < K and c_K the rest: the
    multinomial's chain rule, exact in law. One ``lax.scan`` over the categories (one compiled binomial
    sampler whatever K is), K draws whatever n is, so it beats drawing n tokens once n is large against K
    (:func:`use_binomial_counts`). A category with no mass left gets 0; so does every one after the draws run out.
    """
    K = probs.shape[0]
    rest = jnp.cumsum(probs[::-1])[::-1]  # mass of categories i..K-1
    share = jnp.clip(probs / jnp.where(rest > 0, rest, 1.0), 0.0, 1.0)

    def one(left, x):
        k, s = x
        c = jnp.minimum(jnp.where(left > 0, jax.random.binomial(k, left, s), 0.0), left)
        return left - c, c

    left, counts = jax.lax.scan(one, jnp.float32(n), (jax.random.split(key, K - 1), share[:-1]))
    return jnp.concatenate([counts, left[None]]).astype(jnp.float32)


#: Draw counts by conditional binomials when n >= this many times K. Measured on the 2-core machine (loaded,
#: 200 chains, ns per chain and generation): K = 10, n = 10,000: binomials 5.4 us, tokens 241 us; K = 100,
#: n = 10,000: 116 vs 430 us; K = 100, n = 1,000: 164 vs 20 us. About 1.2 us per binomial against 20 to 40
#: ns per token, so the crossover is near n = 50 K.
BINOMIAL_FROM = 50


def use_binomial_counts(vocab: int, samples: int) -> bool:
    """Whether :func:`sample_counts` draws by conditional binomials (K - 1 draws) rather than n tokens."""
    return vocab > 1 and samples >= BINOMIAL_FROM * vocab


def sample_counts(key: jax.Array, probs: jax.Array, n: int) -> jax.Array:
    """Counts (K,) float32 of n i.i.d. draws from unnormalised probabilities (K,), by the cheaper sampler."""
    if use_binomial_counts(probs.shape[0], n):
        return binomial_counts(key, probs, n)
    return count_tokens(sample_tokens(key, probs, n), probs.shape[0])


def count_tokens(x: jax.Array, vocab: int, w=None) -> jax.Array:
    """Counts (K,) float32 of token ids x (N,), each weighted by w (N,) when given."""
    return jnp.zeros(vocab, jnp.float32).at[x].add(1.0 if w is None else w)


def category_metrics(p: jax.Array, truth: jax.Array, bottom: jax.Array, log_truth: jax.Array) -> dict:
    """The family's metrics for a model p (K,) against the truth (K,) and its log (taken once per run, in
    :func:`make_params`); see the module docstring.

    Five sums of terms that need p itself, and the three that need only which categories are dead as dot
    products with the truth: the single fused pass over all eight terms that XLA otherwise
    makes ran 4x slower at K = 10,000 (161 against 38 us per chain, vmapped) and 1.5x at K = 1,000. No term
    is a difference of large sums, so a metric that is 0 (generation 0, nothing dead) is exactly 0.
    """
    alive = p > 0
    dead = 1.0 - alive.astype(p.dtype)
    logp = jnp.log(jnp.where(alive, p, 1.0))  # 0 where p = 0, so p logp and p (logp - log p*) vanish there
    gap = p - truth
    lost = dead @ jnp.stack([jnp.ones_like(truth), truth], axis=1)  # (#dead, truth's mass of the dead)
    return {
        "entropy": -jnp.sum(p * logp),
        "gini_simpson": 1.0 - jnp.sum(p * p),
        "support": truth.shape[0] - lost[0],
        "tail_mass": lost[1],
        "tv": 0.5 * jnp.sum(jnp.abs(gap)),
        "kl": jnp.sum(p * (logp - log_truth)),
        "sq_error": jnp.sum(gap * gap),
        "bottom_decile_mass": (1.0 - dead) @ jnp.where(bottom, truth, 0.0),
    }


#: Metrics a loop may record only every k-th generation (``LoopConfig.metrics_every``): the two that take K
#: logarithms per chain and generation. Measured (K = n = 1,000, 200 generations, 500 chains, exact shortcut,
#: CPU seconds, load ~5): all eight metrics 18% of the loop (2.02 s against 1.65 s with none); entropy and KL
#: 0.14-0.17 s of that, the six sums and counts together 0.10-0.23 s.
EXPENSIVE_METRICS = ("entropy", "kl")


@lru_cache(maxsize=None)
def categorical(vocab: int, top_k: int = 0, tempered: bool = False, nucleus: bool = False, rewarded: bool = False) -> Family:
    """Build the categorical family over ``vocab`` tokens (cached: one object, one compile, per setting).

    Args:
      vocab: K, the number of categories.
      top_k: keep the k most probable categories when sampling (0, or k >= K: no truncation).
      tempered: apply ``params["temperature"]`` when sampling.
      nucleus: apply top-p with ``params["top_p"]`` when sampling.
      rewarded: the family has a reward, ``params["reward"]`` (R, K): token x scores ``reward[:, x]``, it can
        be curated (``LoopConfig.curate``), and it records ``expected_reward``, sum_x q_x mean_R reward[:, x]
        with q the decoded model (the law synthetic tokens are drawn from; the mean over the R rewards when
        R > 1).
    """
    if vocab < 1 or top_k < 0:
        validate(vocab, 1.0, top_k, 1.0, 0.0)
    top_k = 0 if top_k >= vocab else top_k
    decoded = bool(top_k or tempered or nucleus)

    def init(key, params):
        return {"probs": params["truth"]}

    def sample_real(key, params, n):
        return sample_tokens(key, params["truth"], n)

    def decode(probs, params):
        """The distribution synthetic tokens are drawn from (collapsim.engine.decoding, HF order)."""
        if not decoded:
            return probs
        return decode_probs(probs, temperature=params["temperature"] if tempered else None, top_k=top_k,
                            top_p=params["top_p"] if nucleus else None)

    def sample(key, model, n, params):
        return sample_tokens(key, decode(model["probs"], params), n)

    def fit(key, previous, x, w, params):
        counts = count_tokens(x, vocab, w)
        total = x.shape[0] if w is None else w.sum()
        s = params["smoothing"]
        return {"probs": (counts + s) / (total + vocab * s)}

    def metrics(key, model, params):
        out = category_metrics(model["probs"], params["truth"], params["bottom"], params["log_truth"])
        if rewarded:
            out["expected_reward"] = decode(model["probs"], params) @ params["reward"].mean(axis=0)
        return out

    def reward(x, params):
        return params["reward"][:, x].T  # (n, R)

    def refit_mixture(key, model, alpha, n, params):
        # n i.i.d. draws from alpha * truth + (1 - alpha) * decoded model, counted: one pass of n draws
        # instead of the explicit path's two passes and a selection.
        probs = decode(model["probs"], params)
        probs = probs if alpha is None else alpha * params["truth"] + (1.0 - alpha) * probs
        s = params["smoothing"]
        return {"probs": (sample_counts(key, probs, n) + s) / (n + vocab * s)}

    def supports(policy, method, samples):
        return method == "explicit" or policy in ("replace", "mix")

    return Family("categorical", init, sample_real, sample, fit, metrics, supports, refit_mixture,
                  expensive=EXPENSIVE_METRICS, reward=reward if rewarded else None)


def is_decoded(temperature: float, top_k: int, top_p: float, vocab: int) -> bool:
    """Whether these settings change the distribution synthetic data is drawn from."""
    return temperature != 1.0 or 0 < top_k < vocab or top_p < 1.0


# The theory adapter: the run spec's numbers into the plain functions of collapsim.theory.categorical.
def predict_spec(spec, truth=None, bottom=None, available: int | None = None, reward=None):
    """The run pipeline's entry point: :class:`~collapsim.theory.Prediction` for a categorical run spec.

    Args:
      truth: the simulated truth (K,) float64 (the float32 one the chains start from, renormalised);
        computed from the spec when None. bottom: its bottom-decile mask (K,) bool.
      reward: the run's reward vectors (R, K) (``params["reward"]``); computed from the spec when None.
      available: bytes of memory to plan for (None: this machine's, :func:`collapsim.memory.available_bytes`).
    The per-category theory is estimated first (:func:`theory_plan`); when it would not fit in memory or
    time, the prediction keeps the O(T) closed forms and the approximations, with a note naming the estimate.
    """
    from collapsim.theory import Prediction

    o, p = spec.family_options, spec.params
    if truth is None:
        params = params_for(o, p, spec.seed)
        truth, bottom = simulated_truth(params), np.asarray(params["bottom"])
        reward = np.asarray(params["reward"], np.float64) if "reward" in params else None
    elif reward is None and o.get("reward", "none") != "none":
        reward = np.asarray(reward_vectors(o["reward"], truth, spec.seed), np.float32).astype(np.float64)
    vocab = truth.shape[0]
    if is_decoded(float(p["temperature"]), int(o["top_k"]), float(p["top_p"]), vocab):
        return Prediction({}, {}, "no exact theory drawn: the decoding transform changes the sampling distribution")
    if float(p["smoothing"]) > 0:
        return Prediction({}, {}, "no exact theory drawn: smoothing revives extinct categories")
    if spec.policy not in ("replace", "mix"):
        return Prediction({}, {}, f"no exact theory for policy {spec.policy!r}")
    if spec.curate > 1:
        return curated_prediction(spec, truth, reward, bottom)
    prediction = uncurated_prediction(spec, truth, bottom, available)
    if reward is None:
        return prediction
    # E[p_t] = p* at every t without curation (the counts are a martingale under replace and mix), and the
    # expected reward is linear in p.
    curves = {**prediction.curves, "expected_reward": np.full(spec.generations + 1, float(truth @ reward.mean(axis=0)))}
    return prediction._replace(curves=curves)


def uncurated_prediction(spec, truth, bottom, available):
    """The exact theory of an undecoded, unsmoothed, uncurated replace or mix run (see :func:`predict_spec`)."""
    from collapsim.theory import Prediction
    from collapsim.theory.categorical import approximations, closed_form_predictions, predictions, theory_plan

    alpha = spec.alpha_schedule()
    theory_alpha = np.zeros_like(alpha) if spec.policy == "replace" else alpha
    _, why = theory_plan(truth, spec.samples, theory_alpha, available)
    approx = approximations(spec.policy, truth, spec.samples, alpha)
    if why:
        return Prediction(closed_form_predictions(spec.policy, truth, spec.samples, alpha), approx,
                          f"exact theory skipped for entropy, support, tail mass, TV, KL and bottom-decile mass: it {why}; "
                          "Gini-Simpson and squared error are still exact (eq. C4)")
    return Prediction(predictions(spec.policy, truth, spec.samples, alpha, bottom), approx)


def curated_prediction(spec, truth, reward, bottom):
    """The theory of a curated replace or mix run (``spec.curate`` > 1, :mod:`collapsim.theory.curation`): exact
    rows at generations 0 and 1, the ideal learner (and, under a constant alpha > 0, its stationary point)
    as labelled approximations."""
    from collapsim.theory import Prediction
    from collapsim.theory import curation

    alpha = spec.alpha_schedule()
    try:
        curves, approx, note = curation.predictions(truth, reward, spec.curate, spec.reward_temperature, spec.samples,
                                                    alpha, bottom)
    except (ValueError, ArithmeticError) as err:  # a reward spread the float64 integral cannot resolve
        return Prediction({}, {}, f"no curation theory drawn: {err}")
    if spec.policy == "mix" and alpha.size and np.all(alpha == alpha[0]) and alpha[0] > 0:
        fixed = curation.law_metrics(curation.stationary_point(truth, reward, spec.curate, spec.reward_temperature,
                                                               float(alpha[0])), truth, reward, bottom)
        for name, value in fixed.items():
            approx[name]["stationary point, ideal learner"] = np.full(spec.generations + 1, value)
    return Prediction(curves, approx, note)



def collapse_theory(spec, loop) -> tuple:
    """(exact mean collapse generation or None, diffusion approximation or None, why none) for one point."""
    from collapsim.theory import collapse_time as ct

    o, p = spec.family_options, spec.params
    if spec.policy != "replace" and not (spec.policy == "mix" and not spec.alpha_schedule().any()):  # mix at alpha 0
        return None, None, f"no collapse-time theory for policy {spec.policy!r} (real data keeps the chain alive)"
    truth = loop.derived["truth"]
    if is_decoded(float(p["temperature"]), int(o["top_k"]), float(p["top_p"]), truth.shape[0]) or float(p["smoothing"]) > 0:
        return None, None, "no collapse-time theory with a decoding transform or smoothing"
    exact = ct.mean_collapse_time(truth, spec.samples) if ct.exact_available(truth, spec.samples) else None
    return exact, ct.diffusion_mean_collapse_time(truth, spec.samples), ""


# ---------------------------------------------------------------------------------------------------- entry

def _categorical_build(spec) -> Loop:
    import numpy as np

    from collapsim.engine.policies import SHORTCUT_POLICIES

    o, p = spec.family_options, spec.params
    validate(o["vocab"], p["temperature"], o["top_k"], p["top_p"], p["smoothing"])
    if spec.curate > 1 and o["reward"] == "none":
        raise ConfigError(f"--curate {spec.curate} needs a reward to curate by: --reward {', '.join(REWARDS[1:])}")
    params = params_for(o, p, spec.seed)
    shortcut = resolve_method(spec, spec.policy in SHORTCUT_POLICIES, True)
    family = categorical(o["vocab"], o["top_k"], tempered=p["temperature"] != 1.0, nucleus=p["top_p"] < 1.0,
                         rewarded=o["reward"] != "none")
    derived = {"truth": simulated_truth(params), "bottom_decile": np.flatnonzero(np.asarray(params["bottom"]))}
    return Loop(family, params, shortcut, derived)


def _categorical_predict(spec, loop):
    import numpy as np

    reward = np.asarray(loop.params["reward"], np.float64) if "reward" in loop.params else None
    return predict_spec(spec, loop.derived["truth"], np.asarray(loop.params["bottom"]), reward=reward)


def _categorical_title(spec) -> str:
    o, p = spec.family_options, spec.params
    decoding = [f"temperature={p['temperature']:g}"] if p["temperature"] != 1.0 else []
    decoding += [f"top-k={o['top_k']}"] if 0 < o["top_k"] < o["vocab"] else []
    decoding += [f"top-p={p['top_p']:g}"] if p["top_p"] < 1.0 else []
    curated = f", curate={spec.curate} ({o['reward']}, beta={spec.reward_temperature:g})" if spec.curate > 1 else ""
    return (f"categorical K={o['vocab']} ({o['init']}), n={spec.samples}, {spec.policy}" + alpha_title(spec) + curated
            + (", " + ", ".join(decoding) if decoding else "") + f", {spec.seeds} chains")


ENTRY = Entry(
    "categorical", "Refit a K-category distribution on its own samples (Wright-Fisher drift), with LLM-style decoding.",
    {"generations": 100, "samples": 200, "seeds": 2000},
    (
        Option("vocab", int, 50, "Number of categories K.", low=1),
        Option("init", str, "zipf", "Initial truth; wordfreq: the K most common English words (needs the wordfreq extra).",
               choices=("zipf", "uniform", "dirichlet", "wordfreq")),
        Option("zipf_exponent", float, 1.0, "beta in p_i ~ i^-beta (init zipf).", low=0),
        Option("dirichlet_concentration", float, 1.0, "Symmetric concentration (init dirichlet; the truth is drawn with --seed).",
               low=0, open_low=True),
        Option("top_k", int, 0, "Keep the k most probable categories (0: off).", low=0),
        Option("temperature", float, 1.0, "Decoding temperature when sampling.", target="params", low=0, open_low=True),
        Option("top_p", float, 1.0, "Nucleus sampling mass in (0, 1] (1: off).", target="params", low=0, high=1,
               open_low=True),
        Option("smoothing", float, 0.0, "Add-s smoothing of the refit counts.", target="params", low=0),
        Option("reward", str, "none", "Per-token reward for --curate and the expected_reward metric: rank (the "
               "truth's most probable token 1, its least 0), random (a standard normal vector drawn with --seed), "
               "several (three such vectors, each K-tuple judged by one at random).", choices=REWARDS),
    ),
    _categorical_build, _categorical_predict, _categorical_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * (2 if spec.policy == "mix" and not shortcut else 1)
    * buffer_factor(spec),
    lambda spec: (float(spec.family_options["vocab"]) * 4, 1.0),
    sweep_metric="entropy",
    criterion=Criterion("support", 1.0, "support 1 (one category left)"),
    collapse_theory=collapse_theory,
    smallest=({"samples": 1, "vocab": 12},
              {"samples": 1, "vocab": 12, "top_k": 6, "temperature": 0.8, "top_p": 0.9, "smoothing": 0.5}),
)
