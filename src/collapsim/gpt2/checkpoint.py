"""Load and save GPT-2 checkpoints in the Hugging Face folder format.

A checkpoint folder holds ``config.json``, ``model.safetensors`` (or sharded files listed in
``model.safetensors.index.json``) and ``tokenizer.json``. Tensor names follow Hugging Face's GPT-2
(``wte.weight``, ``h.{i}.attn.c_attn.weight``, ...), with or without the ``transformer.`` prefix that
``GPT2LMHeadModel.save_pretrained`` adds. Nothing touches the network unless ``download=True`` is passed to
:func:`resolve_checkpoint` (then via ``huggingface_hub``, the optional ``hub`` extra).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from collapsim.errors import ConfigError
from collapsim.gpt2.model import GPT2Config, config_from_dict, param_shapes

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
TOKENIZER_FILE = "tokenizer.json"

# Our per-layer leaf name -> Hugging Face suffix after "h.{i}.".
_LAYER_NAMES = {
    "ln_1_g": "ln_1.weight", "ln_1_b": "ln_1.bias",
    "attn_w": "attn.c_attn.weight", "attn_b": "attn.c_attn.bias",
    "proj_w": "attn.c_proj.weight", "proj_b": "attn.c_proj.bias",
    "ln_2_g": "ln_2.weight", "ln_2_b": "ln_2.bias",
    "fc_w": "mlp.c_fc.weight", "fc_b": "mlp.c_fc.bias",
    "mlp_proj_w": "mlp.c_proj.weight", "mlp_proj_b": "mlp.c_proj.bias",
}
_TOP_NAMES = {"wte": "wte.weight", "wpe": "wpe.weight", "ln_f_g": "ln_f.weight", "ln_f_b": "ln_f.bias"}
# Buffers some GPT-2 files carry (the causal-mask constant) and the tied head: not parameters for us.
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


class Checkpoint(NamedTuple):
    """A loaded checkpoint: static config, parameter pytree, the raw config dict (kept so saving preserves
    every field Hugging Face tools read) and the tokenizer file path (or None)."""

    config: GPT2Config
    params: dict
    config_dict: dict
    tokenizer_path: Path | None


def _hf_cache_dir() -> Path:
    """Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def _from_hf_cache(repo_id: str) -> Path | None:
    """The snapshot folder of ``repo_id`` in the hub cache (models--org--name/snapshots/<rev>), preferring
    the revision ``refs/main`` points at; None if absent."""
    root = _hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snaps = root / "snapshots"
    if not snaps.is_dir():
        return None
    ref = root / "refs" / "main"
    if ref.is_file():
        cand = snaps / ref.read_text().strip()
        if cand.is_dir():
            return cand
    revs = sorted(p for p in snaps.iterdir() if p.is_dir())
    return revs[-1] if len(revs) == 1 else (max(revs, key=lambda p: p.stat().st_mtime) if revs else None)


def resolve_checkpoint(name_or_path: str | os.PathLike, download: bool = False) -> Path:
    """A local folder for a checkpoint: the path itself if it is a folder, else the Hugging Face cache
    snapshot of that repo id, else (only when ``download``) a fresh download through ``huggingface_hub``."""
    p = Path(name_or_path)
    if p.is_dir():
        return p
    name = str(name_or_path)
    looks_like_repo = name.count("/") <= 1 and not name.startswith((".", "/", "~")) and name
    if looks_like_repo:
        snap = _from_hf_cache(name)
        if snap is not None:
            return snap
    if download and looks_like_repo:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as e:
            raise ConfigError("downloading needs huggingface_hub: pip install 'collapsim[hub]'") from e
        return Path(snapshot_download(name, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, INDEX_FILE,
                                                            "model-*.safetensors", TOKENIZER_FILE]))
    where = f" nor in the Hugging Face cache {_hf_cache_dir()}" if looks_like_repo else ""
    raise ConfigError(f"checkpoint folder {name} not found{where} (no download unless asked for explicitly)")


def load_config(folder: str | os.PathLike) -> tuple[GPT2Config, dict]:
    """Read and validate ``folder/config.json``; returns the config and the raw dict."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: missing (a GPT-2 checkpoint folder needs {CONFIG_FILE})")
    try:
        d = json.loads(path.read_text())
    except (ValueError, RecursionError) as e:  # bad JSON or UTF-8, integers past Python's digit limit, deep nesting
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return config_from_dict(d, str(path)), d


def _index_shards(index: Path) -> list[str]:
    """The shard file names a ``model.safetensors.index.json`` lists, with one-line errors for a file that
    is not JSON, has no ``weight_map`` object, maps a tensor to a non-string, or names a file outside the
    checkpoint folder."""
    try:
        d = json.loads(index.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{index}: not valid JSON ({e})") from e
    except OSError as e:
        raise ConfigError(f"{index}: cannot read ({e.strerror})") from e
    wm = d.get("weight_map") if isinstance(d, dict) else None
    if not isinstance(wm, dict) or not wm:
        raise ConfigError(f"{index}: needs a non-empty \"weight_map\" object (tensor name -> shard file)")
    for name, f in wm.items():
        if not isinstance(f, str) or not f or Path(f).name != f:
            raise ConfigError(f"{index}: tensor {name!r} maps to {f!r}, not a file name in the checkpoint folder")
    return sorted(set(wm.values()))


def _weight_files(folder: Path) -> list[Path]:
    single = folder / WEIGHTS_FILE
    if single.is_file():
        return [single]
    index = folder / INDEX_FILE
    if index.is_file():
        names = _index_shards(index)
        files = [folder / n for n in names]
        for f in files:
            if not f.is_file():
                raise ConfigError(f"{f}: missing (listed in {index})")
        return files
    raise ConfigError(f"{single}: missing (a GPT-2 checkpoint folder needs {WEIGHTS_FILE})")


def _read_tensors(files: list[Path]) -> dict[str, tuple[np.ndarray, Path]]:
    """Every tensor as a float32 numpy array, keyed by name with any ``transformer.`` prefix removed."""
    from safetensors import SafetensorError, safe_open

    out = {}
    for f in files:
        try:
            # The numpy backend cannot represent bfloat16; jax's can, so read through it and convert.
            with safe_open(str(f), framework="flax") as h:
                for name in h.keys():
                    key = name[len("transformer."):] if name.startswith("transformer.") else name
                    out[key] = (np.asarray(h.get_tensor(name), dtype=np.float32), f)
        except (SafetensorError, OSError) as e:
            raise ConfigError(f"{f}: not a readable safetensors file ({e})") from e
    return out


def load_params(folder: str | os.PathLike, cfg: GPT2Config) -> dict:
    """The parameter pytree from the safetensors file(s) in ``folder``, checked against ``cfg``'s shapes."""
    import jax.numpy as jnp

    folder = Path(folder)
    files = _weight_files(folder)
    tensors = _read_tensors(files)
    shapes = param_shapes(cfg)
    where = files[0] if len(files) == 1 else folder / INDEX_FILE

    def take(name, shape):
        if name not in tensors:
            raise ConfigError(f"{where}: tensor {name!r} is missing")
        arr, f = tensors[name]
        if tuple(arr.shape) != tuple(shape):
            raise ConfigError(f"{f}: tensor {name!r} has shape {tuple(arr.shape)}, config.json implies {tuple(shape)}")
        return arr

    params = {k: jnp.asarray(take(hf, shapes[k])) for k, hf in _TOP_NAMES.items()}
    blocks = {}
    for k, suffix in _LAYER_NAMES.items():
        per_layer = shapes["blocks"][k][1:]
        blocks[k] = jnp.asarray(np.stack([take(f"h.{i}.{suffix}", per_layer) for i in range(cfg.n_layer)]))
    params["blocks"] = blocks
    head = tensors.get("lm_head.weight")
    if head is not None and not np.array_equal(head[0], params["wte"]):
        raise ConfigError(f"{head[1]}: tensor 'lm_head.weight' differs from 'wte.weight' (GPT-2 ties them)")
    known = {*_TOP_NAMES.values(), "lm_head.weight"} | {f"h.{i}.{s}" for i in range(cfg.n_layer)
                                                        for s in _LAYER_NAMES.values()}
    extra = [n for n in tensors if n not in known and not n.endswith(_IGNORED_SUFFIXES)]
    if extra:
        raise ConfigError(f"{tensors[extra[0]][1]}: unexpected tensor {extra[0]!r} (is config.json's n_layer right?)")
    return params


def load_checkpoint(name_or_path: str | os.PathLike, download: bool = False) -> Checkpoint:
    """Config, parameters and tokenizer path of a GPT-2 checkpoint folder (or cached/downloaded repo id)."""
    folder = resolve_checkpoint(name_or_path, download=download)
    cfg, d = load_config(folder)
    params = load_params(folder, cfg)
    tok = folder / TOKENIZER_FILE
    return Checkpoint(cfg, params, d, tok if tok.is_file() else None)


def hf_state_dict(params: dict, cfg: GPT2Config) -> dict[str, np.ndarray]:
    """The pytree as Hugging Face ``GPT2LMHeadModel`` tensor names -> float32 numpy arrays (head tied,
    so not written, exactly as ``save_pretrained`` does)."""
    out = {f"transformer.{hf}": np.asarray(params[k], np.float32) for k, hf in _TOP_NAMES.items()}
    for k, suffix in _LAYER_NAMES.items():
        stacked = np.asarray(params["blocks"][k], np.float32)
        for i in range(cfg.n_layer):
            out[f"transformer.h.{i}.{suffix}"] = np.ascontiguousarray(stacked[i])
    return out


def write_checkpoint_files(folder: str | os.PathLike, params: dict, cfg: GPT2Config,
                           config_dict: dict | None = None, tokenizer_path: str | os.PathLike | None = None) -> None:
    """Write config.json, model.safetensors and (if given) tokenizer.json into an existing ``folder``.

    No atomicity of its own: callers write into a temporary folder and move it into place
    (:func:`save_checkpoint`, or :mod:`collapsim.files.outdir` for the CLI).
    """
    from safetensors.numpy import save_file

    folder = Path(folder)
    d = dict(config_dict) if config_dict else {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
                                               "activation_function": "gelu_new"}
    d.update(vocab_size=cfg.vocab_size, n_positions=cfg.n_positions, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
             n_head=cfg.n_head, layer_norm_epsilon=cfg.layer_norm_epsilon, bos_token_id=cfg.bos_token_id,
             eos_token_id=cfg.eos_token_id, tie_word_embeddings=True)
    (folder / CONFIG_FILE).write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
    # Hugging Face refuses safetensors files without format metadata.
    save_file(hf_state_dict(params, cfg), str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    if tokenizer_path is not None:
        shutil.copyfile(tokenizer_path, folder / TOKENIZER_FILE)


def save_checkpoint(folder: str | os.PathLike, params: dict, cfg: GPT2Config, config_dict: dict | None = None,
                    tokenizer_path: str | os.PathLike | None = None) -> Path:
    """Write a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json) atomically.

    Files go to a temporary sibling folder that is renamed into place only when complete, so a failure
    leaves nothing half-written. An existing ``folder`` is replaced (a library call: the caller decides
    what may be replaced; ``collapsim llm finetune`` checks its --out with :mod:`collapsim.files.outdir` first).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        # mkdtemp makes the folder private (0700); give it the permissions a plain mkdir would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        write_checkpoint_files(tmp, params, cfg, config_dict, tokenizer_path)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.rmdir(old)
            os.rename(folder, old)
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
