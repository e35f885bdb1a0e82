"""The LLM findings of issue 26's fuzz: each bad input is refused in one line with exit 2 before any work and
writes nothing, or works as a researcher would expect.

Every model is built here (a tiny GPT-2 from llm_fixtures, a tiny random BERT for `llm integrity`), so the
file runs without downloads, torch or the all-MiniLM weights package.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main

PROMPT = ["--prompt", "the quick", "--max-new-tokens", "2"]
TEXTS = ["the empire traded silk and spices for centuries",
         "a distant galaxy has an unusual spiral shape",
         "the band recorded the album in a small studio",
         "the river flooded the valley after the winter",
         "the fleet defended the northern harbour in the war",
         "the old square of the city hosted a busy market"]


def run(args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def snapshot(root):
    """Every path under root with its bytes (None for a folder): any write or deletion changes it."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(Path(root).rglob("*"))}


def one_line_error(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collapsim: error: "), res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------------------------------
# A tiny BERT in the all-MiniLM-L6-v2 folder layout (collapsim.metrics.minilm reads any size from config.json)
# ------------------------------------------------------------------------------------------------------------

def build_tiny_bert(folder: Path, hidden=16, layers=1, heads=2, inter=32, positions=64, seed=0):
    """config.json, model.safetensors (random weights, Hugging Face names and [out, in] layouts) and a
    WordPiece tokenizer.json trained on TEXTS, with [CLS] ... [SEP] added like BERT's."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    from collapsim.metrics.minilm import _LAYER, _TOP

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(TEXTS, trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.save(str(folder / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "bert", "vocab_size": vocab, "hidden_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": inter, "max_position_embeddings": positions}))
    rng = np.random.default_rng(seed)
    D, F = hidden, inter
    top_shapes = {"word": (vocab, D), "pos": (positions, D), "type": (2, D), "emb_ln_g": (D,), "emb_ln_b": (D,)}
    # Our [in, out] shapes; the file stores transposed weights as [out, in], as PyTorch's nn.Linear does.
    layer_shapes = {"q_w": (D, D), "q_b": (D,), "k_w": (D, D), "k_b": (D,), "v_w": (D, D), "v_b": (D,),
                    "o_w": (D, D), "o_b": (D,), "ln1_g": (D,), "ln1_b": (D,), "fc_w": (D, F), "fc_b": (F,),
                    "out_w": (F, D), "out_b": (D,), "ln2_g": (D,), "ln2_b": (D,)}
    tensors = {_TOP[k]: rng.normal(0, 0.5, s).astype(np.float32) for k, s in top_shapes.items()}
    for i in range(layers):
        for k, (name, transpose) in _LAYER.items():
            a = rng.normal(0, 0.5, layer_shapes[k]).astype(np.float32)
            tensors[f"encoder.layer.{i}.{name}"] = np.ascontiguousarray(a.T if transpose else a)
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture
def work(tiny_ckpt, tmp_path):
    """tmp_path with a copy of the tiny GPT-2 (ck/), a training text and integrity texts."""
    shutil.copytree(tiny_ckpt, tmp_path / "ck")
    (tmp_path / "train.txt").write_text("the quick brown fox jumps\nmodel collapse happens\n")
    (tmp_path / "gen0.txt").write_text("\n".join(TEXTS) + "\n")
    (tmp_path / "same.txt").write_text("the quick brown fox\n" * 20)
    (tmp_path / "three.txt").write_text("\n".join(TEXTS[:3] * 4) + "\n")
    return tmp_path


def _edit_config(w, key, raw):
    """Replace config.json's ``key`` by the raw JSON text ``raw`` (NaN and 5,001-digit integers included)."""
    path = w / "ck" / "config.json"
    d = json.loads(path.read_text())
    d[key] = "@@"
    path.write_text(json.dumps(d).replace('"@@"', raw))
    return ["llm", "perplexity", "--checkpoint", w / "ck", "--data", w / "train.txt"]


def _sample(w, *extra):
    return ["llm", "sample", "--checkpoint", w / "ck", *PROMPT, *extra]


def _finetune(w, *extra):
    return ["llm", "finetune", "--checkpoint", w / "ck", "--data", w / "train.txt", "--out", w / "out",
            "--max-length", "16", *extra]


def _integrity(w, *files_and_flags):
    return ["llm", "integrity", *[w / f if f.endswith(".txt") else f for f in files_and_flags]]


SEED_WORDS = "--seed must lie in [0, 4294967295] (32-bit)"

BAD = {
    # seeds: 32-bit, refused like `collapsim run` refuses them
    "sample seed 2**64": (lambda w: _sample(w, "--seed", 2 ** 64), SEED_WORDS),
    "sample seed -1": (lambda w: _sample(w, "--seed", -1), SEED_WORDS),
    "sample seed 2**32": (lambda w: _sample(w, "--seed", 2 ** 32), SEED_WORDS),
    "finetune seed 2**64": (lambda w: _finetune(w, "--seed", 2 ** 64), SEED_WORDS),
    "finetune seed -1": (lambda w: _finetune(w, "--seed", -1), SEED_WORDS),
    "finetune seed 2**32": (lambda w: _finetune(w, "--seed", 2 ** 32), SEED_WORDS),
    # a hand-edited checkpoint config: the field and the file are named
    "layer_norm_epsilon string": (lambda w: _edit_config(w, "layer_norm_epsilon", '"abc"'),
                                  "config.json: invalid 'layer_norm_epsilon' \"abc\""),
    "layer_norm_epsilon null": (lambda w: _edit_config(w, "layer_norm_epsilon", "null"), "'layer_norm_epsilon' null"),
    "layer_norm_epsilon NaN": (lambda w: _edit_config(w, "layer_norm_epsilon", "NaN"), "'layer_norm_epsilon' NaN"),
    "layer_norm_epsilon 0": (lambda w: _edit_config(w, "layer_norm_epsilon", "0"), "'layer_norm_epsilon' 0"),
    "layer_norm_epsilon true": (lambda w: _edit_config(w, "layer_norm_epsilon", "true"), "'layer_norm_epsilon' true"),
    "layer_norm_epsilon 1e999": (lambda w: _edit_config(w, "layer_norm_epsilon", "1e999"), "'layer_norm_epsilon'"),
    "layer_norm_epsilon list": (lambda w: _edit_config(w, "layer_norm_epsilon", "[1e-5]"), "'layer_norm_epsilon'"),
    "eos_token_id string": (lambda w: _edit_config(w, "eos_token_id", '"x"'), "invalid 'eos_token_id' \"x\""),
    "n_layer true": (lambda w: _edit_config(w, "n_layer", "true"), "invalid 'n_layer'"),
    "5001-digit n_embd": (lambda w: _edit_config(w, "n_embd", "1" * 5001), "config.json: not valid JSON"),
    # integrity
    "integrity lam inf": (lambda w: _integrity(w, "gen0.txt", "--lam", "inf"), "--lam must be a finite number >= 0"),
    "integrity lam nan": (lambda w: _integrity(w, "gen0.txt", "--lam", "nan"), "--lam must be a finite number >= 0"),
    "integrity seed -1": (lambda w: _integrity(w, "gen0.txt", "--seed", "-1"), SEED_WORDS),
    # A reference that spans no 3-D hull: A_0 = 0, so every loss 1 - A/A_0 would divide by zero.
    "integrity 20 identical lines": (lambda w: _integrity(w, "same.txt"), "has 1 different text(s)"),
    "integrity reference of 3 texts": (lambda w: _integrity(w, "three.txt", "gen0.txt"), "has 3 different"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_touches_nothing(work, case):
    make, words = BAD[case]
    args = make(work)  # may edit the checkpoint copy: the snapshot is taken after
    before = snapshot(work)
    one_line_error(run(args), words)
    assert snapshot(work) == before


def test_seed_checks_come_before_any_model_is_loaded(tmp_path):
    # No checkpoint and no embedder at all: the seed is what is refused, not the missing files.
    for args in (["llm", "sample", "--checkpoint", tmp_path / "none", "--prompt", "x", "--seed", -1],
                 ["llm", "finetune", "--checkpoint", tmp_path / "none", "--data", tmp_path / "none.txt",
                  "--out", tmp_path / "out", "--seed", 2 ** 64]):
        one_line_error(run(args), SEED_WORDS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("env", ["file", "proc"])
def test_pretrain_with_an_unwritable_cache_is_refused_before_training(tmp_path, env):
    (tmp_path / "afile").write_text("x")
    cache = str(tmp_path / "afile" / "cache") if env == "file" else "/proc/collapsim-cache"
    before = snapshot(tmp_path)
    line = one_line_error(run(["llm", "pretrain", "--preset", "micro", "--steps", "1"],
                              env={"COLLAPSIM_CACHE": cache}), "COLLAPSIM_CACHE")
    assert "cannot cache the pretrained model" in line
    assert snapshot(tmp_path) == before


def test_one_pretraining_step_has_a_schedule_at_the_peak_rate():
    # --steps 1 is allowed by --help; its schedule used to be a cosine over 0 steps (optax refused it).
    import optax

    from collapsim.families.llm.pretrain import PretrainSettings, _schedule

    for steps in (1, 2, 3):
        s = PretrainSettings(steps=steps, lr=3e-3)
        rates = [float(_schedule(s)(i)) for i in range(steps)]
        assert all(np.isfinite(rates)) and max(rates) == pytest.approx(3e-3)  # some step trains at the peak
    opt = optax.adamw(_schedule(PretrainSettings(steps=1)))
    params = {"w": np.ones(3, np.float32)}
    updates, _ = opt.update({"w": np.ones(3, np.float32)}, opt.init(params), params)
    assert np.all(np.asarray(updates["w"]) < 0)  # the single step moves the weights


@pytest.mark.slow
def test_pretrain_one_step_end_to_end(tmp_path):
    res = run(["llm", "pretrain", "--preset", "micro", "--steps", "1"], env={"COLLAPSIM_CACHE": str(tmp_path)})
    assert res.exit_code == 0, res.output
    assert "base model:" in res.stdout and "nan" not in res.stdout.lower()


def test_the_seed_range_ends_are_accepted():
    import jax

    from collapsim.commands.llm import _seed

    for s in (0, 2 ** 32 - 1):
        assert _seed(s) == s
        jax.random.PRNGKey(s)  # both ends make a key (the sampler's)


@pytest.mark.slow
def test_sample_at_the_largest_seed_works(work):
    res = run(_sample(work, "--seed", 2 ** 32 - 1))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("the quick")


def _table(res):
    """{file: (texts, volume, drift, score, loss)} from `llm integrity`'s table."""
    rows = {}
    for line in res.stdout.splitlines()[1:]:
        parts = line.replace("[", " ").replace("]", " ").replace(",", " ").split()
        rows[parts[0]] = (int(parts[1]), float(parts[2]), float(parts[5]), float(parts[6]), parts[7])
    return rows


def test_integrity_of_a_collapsed_generation_is_a_total_loss(work, bert):
    # 20 identical lines as a *later* generation: one point, hull volume 0, a defined score of 0 and a loss of
    # 100% (what the measure means by collapse), with no NaN anywhere in the table.
    res = run(_integrity(work, "gen0.txt", "same.txt", "--embedder", str(bert), "--n-boot", "5", "--lam", "2"))
    assert res.exit_code == 0, res.output
    rows = _table(res)
    texts, volume, drift, score, loss = rows["same.txt"]
    assert texts == 20 and volume == 0 and score == 0 and drift > 0 and loss == "100.0%"
    assert rows["gen0.txt"][1] > 0 and rows["gen0.txt"][4] == "0.0%"
    assert "nan" not in res.stdout.lower()
