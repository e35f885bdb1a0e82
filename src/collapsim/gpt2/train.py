"""Fine-tuning GPT-2: causal LM loss with padding masked out, AdamW as Hugging Face's Trainer runs it,
jitted train step, perplexity.

The optimizer (:func:`adamw`) is an optax ``GradientTransformation`` whose settings (learning rate, schedule,
weight decay, clipping, betas) are arrays in its state: one compiled train step per model config and dtype
serves every setting. Mixed precision: with ``dtype=jnp.bfloat16`` the forward/backward run in bfloat16
(meant for GPUs) while the parameters, gradients and AdamW moments stay float32, and the output head and
loss run in float32.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from collapsim.errors import ConfigError
from collapsim.gpt2.model import GPT2Config, forward
from collapsim.gpt2.tokenizer import check_ids


@jax.custom_vjp
def softmax_cross_entropy(logits, target):
    """-log softmax(logits)[target] over the last axis: logits [..., V] float32, target [...] int -> [...].

    Written out with its gradient softmax(logits) - one_hot(target) (a custom VJP): one fused pass over
    [..., V] for the softmax and one scattered number per row for the one-hot, where differentiating the
    formula adds a second pass over [..., V].
    """
    return jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, target[..., None], -1)[..., 0]


def _xent_fwd(logits, target):
    lse = jax.nn.logsumexp(logits, axis=-1)
    return lse - jnp.take_along_axis(logits, target[..., None], -1)[..., 0], (logits, lse, target)


def _xent_bwd(res, g):
    # softmax * g over [..., V] in one fused pass, then -g at each row's target: a scatter of one number
    # per row. Subtracting a one-hot inside the pass (iota == target) kept XLA's CPU loop from
    # vectorising the exponential: 2.7x slower on [2048, 2000] logits.
    logits, lse, target = res
    d = (jnp.exp(logits - lse[..., None]) * g[..., None]).reshape(-1, logits.shape[-1])
    d = d.at[jnp.arange(d.shape[0]), target.reshape(-1)].add(-g.reshape(-1))
    return d.reshape(logits.shape), None


softmax_cross_entropy.defvjp(_xent_fwd, _xent_bwd)


def token_nll(params: dict, cfg: GPT2Config, ids, mask, dtype=jnp.float32):
    """Per-token negative log-likelihood of next-token prediction.

    ids, mask: [B, T] (mask 1 = real token; padding anywhere). Returns nll [B, T-1] float32 and the weight
    [B, T-1] (1 where both the context token and the target are real), so padding never counts.
    """
    _check_concrete_ids(ids, mask, cfg.vocab_size)
    logits = forward(params, cfg, ids, mask, dtype)
    # Every position gets a target (the last one a dummy, weight 0) so the [B, T, V] logits are never
    # sliced: a slice would copy them, forward and backward.
    target = jnp.concatenate([ids[:, 1:], ids[:, :1]], axis=1)
    target = jnp.where(jnp.concatenate([mask[:, 1:], mask[:, :1]], axis=1), target, 0)  # padding: any id
    nll = softmax_cross_entropy(logits, target)[:, :-1]
    w = (mask[:, 1:] & mask[:, :-1]).astype(jnp.float32)
    return nll * w, w


def _check_concrete_ids(ids, mask, vocab_size: int) -> None:
    """Outside jit, refuse token ids the vocabulary does not have (they would give a wrong, not a failing,
    loss: the embedding lookup clamps them and the target never matches a logit). Traced ids are the
    caller's responsibility (:func:`fit` and :func:`perplexity` check their data once, up front)."""
    if not isinstance(ids, jax.core.Tracer) and not isinstance(mask, jax.core.Tracer):
        ids, mask = np.asarray(ids), np.asarray(mask, bool)
        check_ids(ids[mask], vocab_size, "token ids")


def lm_loss(params: dict, cfg: GPT2Config, ids, mask, dtype=jnp.float32):
    """Mean next-token cross-entropy over real target tokens (Hugging Face's loss with labels=-100 at pads)."""
    nll, w = token_nll(params, cfg, ids, mask, dtype)
    return nll.sum() / jnp.maximum(w.sum(), 1.0)


class AdamWState(NamedTuple):
    """State of :func:`adamw`. Every setting is an array in ``hyper`` (learning_rate, weight_decay,
    clip_norm, b1, b2, eps, warmup_steps, total_steps, per_fit), so a new learning rate is new data for the
    compiled step, not a new compilation.

    count: updates applied (Adam's bias correction); schedule_step: position in the learning-rate
    schedule; mu, nu: first and second moments (pytrees like the parameters).
    """

    count: jax.Array
    schedule_step: jax.Array
    mu: dict
    nu: dict
    hyper: dict


def _decays(path) -> bool:
    """Hugging Face Trainer's rule: no weight decay on biases and LayerNorm gains (names ending in _b, _g)."""
    name = str(getattr(path[-1], "key", path[-1])) if path else ""
    return not name.endswith(("_b", "_g"))


def _schedule_factor(step, hyper):
    """Linear warmup from 0 then linear decay to 0 at total_steps (Hugging Face's
    ``get_linear_schedule_with_warmup``, the Trainer default with warmup 0); 1 when total_steps <= 0.

    The update at schedule step t uses t (the scheduler steps after the optimizer), so the first update
    without warmup has the full rate and the last one rate/total.
    """
    t = step.astype(jnp.float32)
    warm, total = hyper["warmup_steps"], hyper["total_steps"]
    up = jnp.where(warm > 0, t / jnp.maximum(warm, 1.0), 1.0)
    down = jnp.maximum(0.0, (total - t) / jnp.maximum(total - warm, 1.0))
    return jnp.where(total > 0, jnp.where(t < warm, up, down), 1.0)


def _adamw_init(params, hyper):
    zeros = jax.tree_util.tree_map(lambda p: jnp.zeros(jnp.shape(p), jnp.float32), params)
    return AdamWState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), zeros,
                      jax.tree_util.tree_map(jnp.copy, zeros), {k: jnp.float32(v) for k, v in hyper.items()})


def _adamw_update(grads, state: AdamWState, params):
    """Clip by global norm (torch's clip_grad_norm_: scale max_norm / (norm + 1e-6) when above), then
    AdamW (Loshchilov & Hutter 2019, algorithm 2: decoupled weight decay) at the scheduled rate."""
    if params is None:
        raise ConfigError("adamw needs the parameters for weight decay: call update(grads, state, params)")
    h = state.hyper
    norm = optax.tree.norm(grads)
    scale = jnp.where((h["clip_norm"] > 0) & (norm > h["clip_norm"]), h["clip_norm"] / (norm + 1e-6), 1.0)
    grads = jax.tree_util.tree_map(lambda g: g * scale, grads)
    count = state.count + 1
    mu = jax.tree_util.tree_map(lambda m, g: h["b1"] * m + (1 - h["b1"]) * g, state.mu, grads)
    nu = jax.tree_util.tree_map(lambda v, g: h["b2"] * v + (1 - h["b2"]) * g * g, state.nu, grads)
    c1 = 1 - h["b1"] ** count.astype(jnp.float32)
    c2 = 1 - h["b2"] ** count.astype(jnp.float32)
    lr = h["learning_rate"] * _schedule_factor(state.schedule_step, h)

    def step(path, m, v, p):
        u = (m / c1) / (jnp.sqrt(v / c2) + h["eps"])
        if _decays(path):
            u = u + h["weight_decay"] * p
        return -lr * u

    updates = jax.tree_util.tree_map_with_path(step, mu, nu, params)
    return updates, AdamWState(count, state.schedule_step + 1, mu, nu, h)


def adamw(learning_rate: float = 5e-5, weight_decay: float = 0.0, clip_norm: float | None = 1.0,
          b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, *, schedule: str = "linear",
          warmup_steps: int = 0, total_steps: int | None = None) -> optax.GradientTransformation:
    """Gradient clipping by global norm, then AdamW, as Hugging Face's Trainer runs it by default.

    Defaults are the Trainer's: rate 5e-5, weight decay 0 (never applied to biases and LayerNorm gains),
    betas (0.9, 0.999), eps 1e-8, clipping at norm 1, and a linear schedule: ``warmup_steps`` of linear
    warmup, then linear decay to 0 at ``total_steps``. ``total_steps=None`` means "the steps of each
    :func:`fit` call" (one Trainer.train() per fit: the schedule restarts in every call, the moments
    continue when ``opt_state`` is passed); an integer makes the schedule run across calls.
    ``schedule="constant"`` keeps the rate fixed. ``clip_norm`` None or 0 turns clipping off.

    Every number lives in the optimizer state as an array and all instances share one update function,
    so :func:`make_train_step` compiles once whatever the settings (``adamw(5e-5)``,
    ``adamw(learning_rate=5e-5)`` and ``adamw(1e-4)`` reuse one compiled step).
    """
    if schedule not in ("linear", "constant"):
        raise ConfigError(f"schedule must be 'linear' or 'constant', got {schedule!r}")
    for name, v in (("learning_rate", learning_rate), ("weight_decay", weight_decay), ("eps", eps)):
        if not np.isfinite(v) or v < 0:
            raise ConfigError(f"{name} must be a finite number >= 0, got {v}")
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ConfigError(f"betas must be in [0, 1), got ({b1}, {b2})")
    if warmup_steps < 0 or (total_steps is not None and total_steps < 1):
        raise ConfigError(f"warmup_steps must be >= 0 and total_steps >= 1 (got {warmup_steps}, {total_steps})")
    hyper = dict(learning_rate=learning_rate, weight_decay=weight_decay, clip_norm=clip_norm or 0.0, b1=b1, b2=b2,
                 eps=eps, warmup_steps=warmup_steps if schedule == "linear" else 0,
                 total_steps=(total_steps or 0) if schedule == "linear" else 0,
                 per_fit=1.0 if schedule == "linear" and total_steps is None else 0.0)
    return optax.GradientTransformation(partial(_adamw_init, hyper=hyper), _adamw_update)


def start_schedule(opt_state, total_steps: int):
    """``opt_state`` with the learning-rate schedule restarted over ``total_steps`` when it was built with
    ``total_steps=None`` (what :func:`fit` does at the start of each call); any other state unchanged."""
    if isinstance(opt_state, AdamWState) and float(opt_state.hyper["per_fit"]) > 0:
        hyper = dict(opt_state.hyper, total_steps=jnp.float32(total_steps))
        return opt_state._replace(schedule_step=jnp.zeros((), jnp.int32), hyper=hyper)
    return opt_state


def make_train_step(cfg: GPT2Config, optimizer: optax.GradientTransformation, dtype=jnp.float32):
    """A jitted ``step(params, opt_state, ids, mask) -> (params, opt_state, loss)``; buffers are donated
    so the update happens in place on the device.

    Cached on the optimizer's update function, not the optimizer object: every :func:`adamw` shares one,
    so settings changes never recompile (:func:`_train_step` is the one compiled function per config)."""
    return _train_step(cfg, optimizer.update, jnp.dtype(dtype))


@lru_cache(maxsize=32)
def _train_step(cfg: GPT2Config, update, dtype):
    @partial(jax.jit, donate_argnums=(0, 1))
    def step(params, opt_state, ids, mask):
        loss, grads = jax.value_and_grad(lm_loss)(params, cfg, ids, mask, dtype)
        updates, opt_state = update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _nll_and_count(params, cfg, ids, mask, dtype):
    nll, w = token_nll(params, cfg, ids, mask, dtype)
    return nll.sum(), w.sum()


@lru_cache(maxsize=32)
def _chunk_gradient(cfg: GPT2Config, dtype):
    """A jitted ``acc = grad(params, acc, ids, mask)`` adding one chunk's summed NLL, its real-target count
    and the gradient of the summed NLL to ``acc`` (donated: the sums update in place)."""

    @partial(jax.jit, donate_argnums=(1,))
    def grad(params, acc, ids, mask):
        (s, w), g = jax.value_and_grad(_nll_and_count, has_aux=True)(params, cfg, ids, mask, dtype)
        return acc[0] + s, acc[1] + w, jax.tree_util.tree_map(jnp.add, acc[2], g)

    return grad


@lru_cache(maxsize=32)
def _apply_summed(update):
    """A jitted ``(params, opt_state, loss) = apply(params, opt_state, acc)``: the optimizer step for the
    mean loss sum / count of the chunks summed in ``acc`` (the step :func:`make_train_step` would take on
    the whole batch: its loss is the same mean over real targets)."""

    @partial(jax.jit, donate_argnums=(0, 1))
    def apply(params, opt_state, acc):
        s, w, g = acc
        inv = 1.0 / jnp.maximum(w, 1.0)
        updates, opt_state = update(jax.tree_util.tree_map(lambda x: x * inv, g), opt_state, params)
        return optax.apply_updates(params, updates), opt_state, s * inv

    return apply


def chunk_sizes(rows: int) -> list[int]:
    """``rows`` as a sum of distinct powers of two, largest first (10 -> [8, 2]): the shapes that train a
    batch of any size exactly with at most log2(batch) + 1 compilations in all."""
    return [1 << b for b in reversed(range(rows.bit_length())) if rows >> b & 1]


def exact_step(cfg: GPT2Config, optimizer: optax.GradientTransformation, dtype=jnp.float32):
    """``step(params, opt_state, ids, mask) -> (params, opt_state, loss)`` for a batch of any number of
    rows, computing no padded row: the rows are cut into power-of-two chunks (:func:`chunk_sizes`), the
    chunks' summed losses and gradients are added, and one optimizer update is taken on their mean, the
    same update :func:`make_train_step` takes on the whole batch (up to float32 summation order).

    Compiled once per chunk size (powers of two) and config, so batches of every size share at most
    log2(rows) + 1 compilations. Buffers are donated like :func:`make_train_step`'s."""
    grad, apply = _chunk_gradient(cfg, jnp.dtype(dtype)), _apply_summed(optimizer.update)

    def step(params, opt_state, ids, mask):
        acc = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32),
               jax.tree_util.tree_map(lambda p: jnp.zeros(p.shape, jnp.float32), params))
        start = 0
        for n in chunk_sizes(ids.shape[0]):
            acc = grad(params, acc, jnp.asarray(ids[start:start + n]), jnp.asarray(mask[start:start + n]))
            start += n
        return apply(params, opt_state, acc)

    return step


class FitResult(NamedTuple):
    params: dict
    opt_state: optax.OptState
    losses: np.ndarray  # [epochs, batches per epoch] mean loss of each step


def fit(params: dict, cfg: GPT2Config, ids, mask, key, *, epochs: int = 2, batch_size: int = 16,
        optimizer: optax.GradientTransformation | None = None, opt_state=None,
        dtype=jnp.float32) -> FitResult:
    """Fine-tune on right-padded sequences ids/mask [N, T] for ``epochs`` shuffled passes.

    Every full batch runs the one compiled train step (:func:`make_train_step`). The last, smaller batch of
    an epoch (N not a multiple of ``batch_size``) is trained at its exact size with no padded row
    (:func:`exact_step`: power-of-two chunks, one update), so a partial batch costs its own rows only and
    adds at most log2(batch_size) compilations per model, whatever N is. A ``batch_size`` above N is
    lowered to N. Pass ``opt_state`` to continue training.

    A non-finite loss stops training with a ConfigError naming the step (checked one step behind, so the
    device queue never runs dry): continuing would only turn every weight into NaN.
    """
    ids = np.asarray(ids, np.int32)
    mask = np.asarray(mask, bool)
    N = ids.shape[0]
    if N == 0 or epochs < 1 or batch_size < 1:
        raise ConfigError(f"fine-tuning needs data, epochs >= 1 and batch_size >= 1 (got N={N}, "
                          f"epochs={epochs}, batch_size={batch_size})")
    check_ids(ids[mask], cfg.vocab_size, "training data")
    batch_size = min(batch_size, N)
    optimizer = optimizer or adamw()
    # Copy: the step donates its inputs, and the caller's params and state should stay usable.
    params = jax.tree_util.tree_map(jnp.array, params)
    opt_state = optimizer.init(params) if opt_state is None else jax.tree_util.tree_map(jnp.array, opt_state)
    step = make_train_step(cfg, optimizer, dtype)
    last_step = exact_step(cfg, optimizer, dtype) if N % batch_size else step
    n_batches = -(-N // batch_size)
    opt_state = start_schedule(opt_state, epochs * n_batches)
    losses = []  # device scalars; each is read only after the next step is queued, so the device never waits

    def check(i):
        v = float(losses[i])
        if not np.isfinite(v):
            e_, b_ = divmod(i, n_batches)
            raise ConfigError(f"training loss became {v} at step {i + 1} (epoch {e_ + 1}, batch {b_ + 1}); "
                              f"nothing was saved: lower the learning rate or check the data")

    for e in range(epochs):
        key, sub = jax.random.split(key)
        order = np.asarray(jax.random.permutation(sub, N))
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            run = step if len(idx) == batch_size else last_step
            params, opt_state, loss = run(params, opt_state, ids[idx], mask[idx])
            losses.append(loss)
            if len(losses) > 1:
                check(len(losses) - 2)
    check(len(losses) - 1)
    return FitResult(params, opt_state, np.asarray(jnp.stack(losses)).reshape(epochs, n_batches))


@partial(jax.jit, static_argnames=("cfg", "dtype"))
def _nll_sums(params, ids, mask, *, cfg, dtype):
    nll, w = token_nll(params, cfg, ids, mask, dtype)
    return nll.sum(), w.sum()


def perplexity(params: dict, cfg: GPT2Config, ids, mask, batch_size: int = 32, dtype=jnp.float32) -> float:
    """Held-out perplexity exp(total NLL / total predicted tokens) over right-padded ids/mask [N, T]."""
    ids = np.asarray(ids, np.int32)
    mask = np.asarray(mask, bool)
    N = ids.shape[0]
    check_ids(ids[mask], cfg.vocab_size, "evaluation data")
    total, count = 0.0, 0.0
    for s in range(0, N, batch_size):
        bi, bm = ids[s:s + batch_size], mask[s:s + batch_size]
        if bi.shape[0] < batch_size:  # keep one shape: pad with empty rows
            fill = batch_size - bi.shape[0]
            bi = np.concatenate([bi, np.zeros((fill, ids.shape[1]), np.int32)])
            bm = np.concatenate([bm, np.zeros((fill, ids.shape[1]), bool)])
        t, c = _nll_sums(params, jnp.asarray(bi), jnp.asarray(bm), cfg=cfg, dtype=dtype)
        total, count = total + float(t), count + float(c)
    if count == 0:
        raise ConfigError("perplexity needs at least one sequence of two or more tokens")
    return float(np.exp(total / count))
