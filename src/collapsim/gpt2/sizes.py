"""Rough memory needs of GPT-2 sampling and fine-tuning, checked before anything is allocated.

Lower bounds from the dominant buffers only (see :mod:`collapsim.memory`): a request they refuse cannot
fit; one they accept may still be tight. No jax import, so the check runs before any compilation.
"""

from __future__ import annotations

from collapsim.memory import check_fits


def param_count(cfg) -> int:
    """Number of GPT-2 parameters for a config with vocab_size, n_positions, n_embd, n_layer."""
    V, P, D, L = cfg.vocab_size, cfg.n_positions, cfg.n_embd, cfg.n_layer
    per_layer = 12 * D * D + 13 * D  # attention 3D^2 + D^2, MLP 8D^2; biases and LayerNorms 13D
    return V * D + P * D + L * per_layer + 2 * D


def sample_bytes(cfg, batch: int, prompt_len: int, new_tokens: int, dtype_bytes: int = 4) -> float:
    """Sampling ``batch`` rows: float32 weights, the key/value cache [2, L, B, T + N, D], the prompt pass's
    logits [B, T, V] and a few [B, V] per-step arrays (logits, log-softmax, the 'seen' mask)."""
    B, S, V, D, L = float(batch), prompt_len + new_tokens, cfg.vocab_size, cfg.n_embd, cfg.n_layer
    return (4.0 * param_count(cfg) + 2 * L * B * S * D * dtype_bytes + B * prompt_len * V * 4
            + 3 * B * V * 4)


def train_bytes(cfg, batch: int, length: int) -> float:
    """One AdamW step on [batch, length]: weights, gradients and two moments in float32, the logits and
    their gradient [B, T, V], and per layer about 10 saved [B, T, D] activations plus the attention
    weights [B, H, T, T]."""
    B, T, V, D, L, H = float(batch), length, cfg.vocab_size, cfg.n_embd, cfg.n_layer, cfg.n_head
    return 16.0 * param_count(cfg) + 2 * B * T * V * 4 + L * B * T * (10 * D + H * T) * 4


def check_sampling(cfg, batch: int, prompt_len: int, new_tokens: int, what: str, dtype_bytes: int = 4) -> None:
    """Refuse (ConfigError) a sampling batch that cannot fit in this machine's memory."""
    check_fits(sample_bytes(cfg, batch, prompt_len, new_tokens, dtype_bytes), what)


def check_training(cfg, batch: int, length: int, what: str) -> None:
    """Refuse (ConfigError) a training batch that cannot fit in this machine's memory."""
    check_fits(train_bytes(cfg, batch, length), what)
