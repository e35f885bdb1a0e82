"""Checkpoint folders: loading, saving, clear errors naming the file and tensor, the HF cache layout."""

import json
import shutil

import jax
import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.gpt2.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from collapsim.gpt2.model import config_from_dict, forward, init_params


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_roundtrip_save_load_is_exact(tiny_ckpt, tmp_path):
    ck = load_checkpoint(tiny_ckpt)
    out = save_checkpoint(tmp_path / "gen1", ck.params, ck.config, ck.config_dict, ck.tokenizer_path)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    back = load_checkpoint(out)
    assert back.config == ck.config
    for a, b in zip(jax.tree_util.tree_leaves(ck.params), jax.tree_util.tree_leaves(back.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Nothing else left beside the checkpoint (temp folders are renamed or removed).
    assert [p.name for p in tmp_path.iterdir()] == ["gen1"]


def test_save_replaces_existing_folder(tiny_ckpt, tmp_path):
    ck = load_checkpoint(tiny_ckpt)
    target = tmp_path / "gen"
    save_checkpoint(target, ck.params, ck.config, ck.config_dict)
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, ck.params)
    save_checkpoint(target, doubled, ck.config, ck.config_dict)
    np.testing.assert_array_equal(np.asarray(load_checkpoint(target).params["wte"]), 2 * np.asarray(ck.params["wte"]))
    assert [p.name for p in tmp_path.iterdir()] == ["gen"]


def test_failed_save_leaves_nothing(tiny_ckpt, tmp_path):
    ck = load_checkpoint(tiny_ckpt)
    with pytest.raises(FileNotFoundError):
        save_checkpoint(tmp_path / "gen", ck.params, ck.config, ck.config_dict, tmp_path / "no_tokenizer.json")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_and_files(tiny_ckpt, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_checkpoint(tmp_path / "absent")
    d = _copy(tiny_ckpt, tmp_path / "c1")
    (d / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"c1/model\.safetensors: missing"):
        load_checkpoint(d)
    (d / "config.json").unlink()
    with pytest.raises(ConfigError, match=r"c1/config\.json: missing"):
        load_checkpoint(d)


def test_missing_tensor_and_wrong_shape_name_file_and_tensor(tiny_ckpt, tmp_path):
    from safetensors.numpy import load_file, save_file

    d = _copy(tiny_ckpt, tmp_path / "c2")
    tensors = load_file(str(d / "model.safetensors"))
    bad = dict(tensors)
    del bad["transformer.h.1.mlp.c_fc.bias"]
    save_file(bad, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"model\.safetensors: tensor 'h\.1\.mlp\.c_fc\.bias' is missing"):
        load_checkpoint(d)
    bad = dict(tensors)
    bad["transformer.h.0.attn.c_attn.weight"] = np.zeros((3, 3), np.float32)
    save_file(bad, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"model\.safetensors: tensor 'h\.0\.attn\.c_attn\.weight' has shape \(3, 3\)"):
        load_checkpoint(d)
    (d / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="not a readable safetensors file"):
        load_checkpoint(d)


@pytest.mark.parametrize("change, message", [
    ({"model_type": "llama"}, "model_type is 'llama'"),
    ({"activation_function": "relu"}, "activation_function 'relu'"),
    ({"n_layer": None}, "'n_layer'"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
])
def test_non_gpt2_config_is_rejected(tiny_ckpt, tmp_path, change, message):
    d = _copy(tiny_ckpt, tmp_path / "c3")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(change)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=rf"config\.json: .*{message}"):
        load_checkpoint(d)


def test_hf_cache_layout_is_found_offline(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    repo = tmp_path / "hf" / "hub" / "models--someorg--tiny-gpt2"
    _copy(tiny_ckpt, repo / "snapshots" / "abc123")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert resolve_checkpoint("someorg/tiny-gpt2") == repo / "snapshots" / "abc123"
    assert load_checkpoint("someorg/tiny-gpt2").config.n_layer == 2
    with pytest.raises(ConfigError, match="nor in the Hugging Face cache"):
        resolve_checkpoint("someorg/other")


@pytest.mark.slow
def test_bfloat16_and_prefixless_files_load(tmp_path):
    """Original OpenAI-style files: names without 'transformer.', the attn.bias buffer, bf16 tensors."""
    import jax.numpy as jnp
    from safetensors.flax import save_file

    d = dict(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2, model_type="gpt2")
    cfg = config_from_dict(d)
    save_checkpoint(tmp_path / "ref", init_params(cfg, jax.random.PRNGKey(1)), cfg, d)
    from safetensors.numpy import load_file

    t = {k.removeprefix("transformer."): jnp.asarray(v, jnp.bfloat16)
         for k, v in load_file(str(tmp_path / "ref" / "model.safetensors")).items()}
    t["h.0.attn.bias"] = jnp.ones((1, 1, 16, 16), jnp.bfloat16)
    (tmp_path / "bf").mkdir()
    (tmp_path / "bf" / "config.json").write_text(json.dumps(d))
    save_file(t, str(tmp_path / "bf" / "model.safetensors"), metadata={"format": "pt"})
    ck = load_checkpoint(tmp_path / "bf")
    assert ck.params["wte"].dtype == np.float32
    np.testing.assert_allclose(np.asarray(ck.params["wte"]), np.asarray(t["wte.weight"], np.float32))
    assert np.isfinite(np.asarray(forward(ck.params, ck.config, np.array([[1, 2, 3]])))).all()
