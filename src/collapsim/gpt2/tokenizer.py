"""GPT-2 tokenizer from a Hugging Face ``tokenizer.json`` (the ``tokenizers`` library), plus batching helpers.

GPT-2 adds no special tokens when encoding, so neither do we; the end-of-text token is the config's
``eos_token_id``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from collapsim.errors import ConfigError


def load_tokenizer(path: str | os.PathLike):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json`` (or a folder holding one)."""
    from tokenizers import Tokenizer

    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ConfigError(f"{p}: missing (the checkpoint needs tokenizer.json to encode text)")
    try:
        return Tokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises a bare Exception on malformed files
        raise ConfigError(f"{p}: not a valid tokenizer file ({e})") from e


def encode(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens added (GPT-2 behaviour)."""
    return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def check_ids(ids, vocab_size: int, what: str) -> None:
    """Refuse token ids outside [0, vocab_size): the embedding lookup would silently clamp them and the loss's
    gather would give NaN (a tokenizer with more tokens than the model's config.json vocab_size)."""
    a = np.asarray(ids)
    if a.size == 0:
        return
    hi, lo = int(a.max()), int(a.min())
    if hi >= vocab_size or lo < 0:
        bad = hi if hi >= vocab_size else lo
        raise ConfigError(f"{what} has token id {bad}, outside the model's vocabulary of {vocab_size} "
                          f"(does tokenizer.json match config.json's vocab_size?)")


def decode(tokenizer, ids) -> str:
    """Text of a sequence of ids (special tokens kept, so an end token stays visible)."""
    return tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)


def left_pad(seqs: list[list[int]], pad_id: int, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prompts -> ids [B, T] int32 and mask [B, T] bool, real tokens flush right (for generation)."""
    T = length if length is not None else max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, np.int32)
    mask = np.zeros((len(seqs), T), bool)
    for i, s in enumerate(seqs):
        if not s:
            raise ConfigError(f"prompt {i} is empty after tokenisation (GPT-2 needs at least one token)")
        s = s[-T:]
        ids[i, T - len(s):] = s
        mask[i, T - len(s):] = True
    return ids, mask


def right_pad(seqs: list[list[int]], pad_id: int, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Training sequences -> ids [B, T] int32 and mask [B, T] bool, truncated to ``length``, flush left.

    One row per text: tokens past ``length`` are dropped (see :func:`truncated_count`); to train on every
    token of a corpus use :func:`pack`."""
    T = length if length is not None else max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, np.int32)
    mask = np.zeros((len(seqs), T), bool)
    for i, s in enumerate(seqs):
        s = s[:T]
        ids[i, :len(s)] = s
        mask[i, :len(s)] = True
    return ids, mask


def truncated_count(seqs: list[list[int]], length: int) -> int:
    """How many tokens :func:`right_pad` with this ``length`` drops."""
    return int(sum(max(len(s) - length, 0) for s in seqs))


def pack(seqs: list[list[int]], eos_id: int, length: int, *, drop_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate texts, each followed by the end-of-text token, and cut the stream into rows of ``length``.

    The corpus path of causal-LM training (Hugging Face's run_clm ``group_texts``, with GPT-2's
    ``<|endoftext|>`` between documents as in its pretraining, Radford et al. 2019): no token is lost and no
    row is padding, and the model learns where a text ends. Returns ids [N, length] int32 and mask
    [N, length] bool; the last row is right-padded (mask False) unless ``drop_last`` drops it.
    """
    if length < 2:
        raise ConfigError(f"packed rows need length >= 2, got {length}")
    if eos_id < 0:
        raise ConfigError("packing needs an end-of-text token id (the checkpoint's eos_token_id)")
    stream = np.fromiter((t for s in seqs for t in (*s, eos_id)), np.int64)
    if stream.size == 0:
        raise ConfigError("nothing to pack: no texts")
    n_full, rest = divmod(stream.size, length)
    if drop_last and n_full == 0:
        raise ConfigError(f"the corpus has {stream.size} tokens, fewer than one row of {length}")
    n = n_full + (1 if rest and not drop_last else 0)
    ids = np.full((n, length), eos_id, np.int32)
    mask = np.zeros((n, length), bool)
    flat = stream[:n * length] if drop_last or not rest else stream
    ids.reshape(-1)[:flat.size] = flat
    mask.reshape(-1)[:flat.size] = True
    return ids, mask
