"""Pretraining a small GPT-2 on the known source: the default base model of the LLM collapse loop.

A base model is a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json: the word-level
tokenizer of :mod:`collapsim.families.llm.source`) plus ``pretrain.json`` (what built it and how well it learned).
It is cached under ``$COLLAPSIM_CACHE/pretrain/HASH`` (default ``~/.cache/collapsim``), HASH the content
hash of the source, the model shape and the training settings, so a second run with the same settings
loads it instead of training again, and any change of a setting trains a new one. Training draws fresh
texts from the source at every step (an endless corpus), so the model approaches the source's entropy per
word h_L (eq. S6 of :mod:`collapsim.families.llm.source`) rather than memorising a sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from collapsim.errors import ConfigError
from collapsim.files.cache import cache_root
from collapsim.families.llm import source as S

#: Bumped when the training procedure changes, so older cached models are not reused.
PRETRAIN_VERSION = 1
INFO_FILE = "pretrain.json"


class ModelShape(NamedTuple):
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2


class PretrainSettings(NamedTuple):
    steps: int = 1500
    batch: int = 32
    lr: float = 3e-3
    warmup: int = 100
    seed: int = 0


def content_hash(src: S.MarkovSource, shape: ModelShape, settings: PretrainSettings) -> str:
    blob = json.dumps({"source": S.source_hash(src), "shape": shape._asdict(), "train": settings._asdict(),
                       "version": PRETRAIN_VERSION}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def model_config(src: S.MarkovSource, shape: ModelShape):
    """The GPT-2 config for a source: K words + the end-of-text token, positions for one training row."""
    from collapsim.gpt2.model import config_from_dict

    if shape.n_embd % shape.n_head:
        raise ConfigError(f"n_embd={shape.n_embd} is not divisible by n_head={shape.n_head}")
    d = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "activation_function": "gelu_new",
         "vocab_size": src.vocab + 1, "n_positions": max(64, src.length + 1), "n_embd": shape.n_embd,
         "n_layer": shape.n_layer, "n_head": shape.n_head, "bos_token_id": src.eot, "eos_token_id": src.eot}
    return config_from_dict(d), d


def _schedule(settings: PretrainSettings):
    """Linear warm-up then cosine decay to 10% (the usual small-LM recipe; a traced rate, one compile).

    A single step runs at the peak rate: a warm-up starts at 0, so it would make that step a no-op, and a
    cosine over the steps left after it would last 0 steps (which optax refuses).
    """
    import optax

    if settings.steps == 1:
        return optax.constant_schedule(settings.lr)
    return optax.warmup_cosine_decay_schedule(0.0, settings.lr, min(settings.warmup, settings.steps - 1) or 1,
                                              settings.steps, settings.lr * 0.1)


def _check_cache(folder: Path) -> None:
    """Refuse, before training, a cache entry that could not be written (a minute of training lost to a
    traceback at the end otherwise). Creates nothing: the nearest existing ancestor must be a folder where
    files can be created."""
    from collapsim.files.outdir import writable

    anc = folder.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir() or not writable(anc):
        why = "a file, not a folder" if anc.exists() and not anc.is_dir() else "not writable"
        raise ConfigError(f"cannot cache the pretrained model in {folder.parent}: {anc} is {why}; "
                          f"set $COLLAPSIM_CACHE to a writable folder")


def pretrain(src: S.MarkovSource, shape: ModelShape = ModelShape(), settings: PretrainSettings = PretrainSettings(),
             progress: Optional[Callable[[int, int, float], None]] = None, force: bool = False) -> Path:
    """The cached base model folder for (source, shape, settings), trained first if it is not cached.

    ``progress(step, steps, loss)`` is called every few steps while training. Written into a temporary
    sibling and renamed into place, so a killed pretraining leaves no half-written cache entry.
    """
    if settings.steps < 1 or settings.batch < 1 or not settings.lr > 0:
        raise ConfigError(f"pretraining needs steps >= 1, batch >= 1 and lr > 0, got {settings}")
    folder = cache_root() / "pretrain" / content_hash(src, shape, settings)
    if (folder / INFO_FILE).is_file() and not force:
        return folder
    _check_cache(folder)
    import jax
    import jax.numpy as jnp
    import optax

    from collapsim.gpt2.checkpoint import write_checkpoint_files
    from collapsim.gpt2.model import init_params
    from collapsim.gpt2.train import make_train_step, perplexity

    cfg, cfg_dict = model_config(src, shape)
    key = jax.random.key(settings.seed)
    params = init_params(cfg, jax.random.fold_in(key, 0))
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(_schedule(settings), weight_decay=0.01))
    opt_state = opt.init(params)
    step = make_train_step(cfg, opt)
    tables = S.jax_tables(src)
    draw = jax.jit(lambda k: S.sample_rows(k, tables, settings.batch, src.length, src.eot))
    ones = jnp.ones((settings.batch, src.length + 1), bool)
    t0, losses = time.perf_counter(), []
    for i in range(settings.steps):
        rows = draw(jax.random.fold_in(key, i + 1))
        params, opt_state, loss = step(params, opt_state, rows, ones)
        losses.append(loss)
        if progress is not None and (i % 25 == 0 or i == settings.steps - 1):
            progress(i + 1, settings.steps, float(loss))
    losses = np.asarray(jnp.stack(losses))
    if not np.all(np.isfinite(losses)):
        raise ConfigError(f"pretraining loss became non-finite at step {int(np.argmax(~np.isfinite(losses))) + 1}; "
                          "lower the learning rate")
    held = S.sample_texts_numpy(src, 512, np.random.default_rng(settings.seed + 1))
    held_ids = np.concatenate([np.full((512, 1), src.eot), held], axis=1).astype(np.int32)
    ce = float(np.log(perplexity(params, cfg, held_ids, np.ones(held_ids.shape, bool))))
    info = {"source": src.settings, "source_hash": S.source_hash(src), "shape": shape._asdict(),
            "train": settings._asdict(), "version": PRETRAIN_VERSION, "seconds": round(time.perf_counter() - t0, 2),
            "final_train_loss": float(losses[-50:].mean()), "heldout_cross_entropy": ce,
            "true_entropy_per_word": S.text_entropy_per_word(src), "unigram_entropy_truth": S.entropy(S.unigram_law(src))}
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        tok_path = tmp / "tokenizer.src.json"
        S.word_tokenizer(src).save(str(tok_path))
        write_checkpoint_files(tmp, params, cfg, cfg_dict, tok_path)
        tok_path.unlink()
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        if folder.exists():  # a stale or forced entry: replace it whole
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_info(folder) -> dict:
    return json.loads((Path(folder) / INFO_FILE).read_text())
