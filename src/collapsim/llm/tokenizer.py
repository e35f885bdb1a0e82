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
    """Training sequences -> ids [B, T] int32 and mask [B, T] bool, truncated to ``length``, flush left."""
    T = length if length is not None else max(len(s) for s in seqs)
    ids = np.full((len(seqs), T), pad_id, np.int32)
    mask = np.zeros((len(seqs), T), bool)
    for i, s in enumerate(seqs):
        s = s[:T]
        ids[i, :len(s)] = s
        mask[i, :len(s)] = True
    return ids, mask
