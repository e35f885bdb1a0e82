"""Bad inputs to the llm commands: exit 2, one line `collapsim: error: ...` on stderr, no traceback, nothing
written and nothing deleted. Plus the output-folder rule for `llm finetune --out`, non-finite losses,
vocabulary mismatches and --json without bare NaN."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main


def _run(args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _snapshot(root):
    """Every path under root with its size and mtime: any write or deletion changes it."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in Path(root).rglob("*"))


def _assert_one_line_error(res, words):
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error: "), res.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in res.output


@pytest.fixture
def work(tiny_ckpt, tmp_path):
    """tmp_path holding a copy of the tiny checkpoint (ck/), training text, a project folder and bad files."""
    shutil.copytree(tiny_ckpt, tmp_path / "in" / "ck")
    (tmp_path / "train.txt").write_text("the quick brown fox jumps\nmodel collapse happens\n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    (tmp_path / "afile").write_text("x")
    proj = tmp_path / "project"
    (proj / "data").mkdir(parents=True)
    (proj / "src").mkdir()
    (proj / "config.json").write_text("{}")
    (proj / "data" / "results.csv").write_text("a\n1\n")
    (proj / "src" / "main.py").write_text("print(1)\n")
    return tmp_path


def _ft(w, *extra, out="out"):
    return ["llm", "finetune", "--checkpoint", w / "in" / "ck", "--data", w / "train.txt",
            "--out", out if isinstance(out, Path) else w / out, "--max-length", "16", *extra]


def _sample(w, *extra):
    return ["llm", "sample", "--checkpoint", w / "in" / "ck", "--prompt", "the quick", "--max-new-tokens", "4",
            *extra]


BAD = {
    # finetune options
    "lr nan": (lambda w: _ft(w, "--lr", "nan"), "--lr must be a finite number > 0"),
    "lr inf": (lambda w: _ft(w, "--lr", "inf"), "--lr must be a finite number > 0"),
    "lr 0": (lambda w: _ft(w, "--lr", "0"), "--lr must be a finite number > 0"),
    "lr negative": (lambda w: _ft(w, "--lr", "-1e-3"), "--lr must be a finite number > 0"),
    "weight decay nan": (lambda w: _ft(w, "--weight-decay", "nan"), "--weight-decay must be a finite number >= 0"),
    "weight decay -inf": (lambda w: _ft(w, "--weight-decay", "-inf"), "--weight-decay must be a finite"),
    "weight decay negative": (lambda w: _ft(w, "--weight-decay", "-0.1"), "--weight-decay must be a finite"),
    "batch size 1e9 spelling": (lambda w: _ft(w, "--batch-size", "1e9"), "not a valid integer"),
    # finetune --out
    "out is a project folder": (lambda w: _ft(w, out=w / "project"), "collapsim did not write"),
    "out is the checkpoint": (lambda w: _ft(w, out=w / "in" / "ck"), "is the input"),
    "out inside the checkpoint": (lambda w: _ft(w, out=w / "in" / "ck" / "gen1"), "lies inside the input"),
    "out contains the checkpoint": (lambda w: _ft(w, out=w / "in"), "contains the input"),
    "out is a file": (lambda w: _ft(w, out=w / "afile"), "is a file"),
    "out below a file": (lambda w: _ft(w, out=w / "afile" / "gen1"), "which is a file"),
    "out under /proc": (lambda w: _ft(w, out=Path("/proc/collapsim-gen1")), "under /proc"),
    # text files
    "finetune data not utf-8": (lambda w: _ft(w, "--data", w / "latin1.txt"), "not UTF-8"),
    "finetune eval not utf-8": (lambda w: _ft(w, "--eval", w / "latin1.txt"), "not UTF-8"),
    "finetune data is a folder": (lambda w: _ft(w, "--data", w / "project"), "is a folder"),
    "perplexity data not utf-8": (lambda w: ["llm", "perplexity", "--checkpoint", w / "in" / "ck",
                                             "--data", w / "latin1.txt"], "not UTF-8"),
    "perplexity data is a folder": (lambda w: ["llm", "perplexity", "--checkpoint", w / "in" / "ck",
                                               "--data", w], "is a folder"),
    # sampling settings
    "temperature nan": (lambda w: _sample(w, "--temperature", "nan"), "temperature must be a finite number"),
    "temperature inf": (lambda w: _sample(w, "--temperature", "inf"), "temperature must be a finite number"),
    "repetition penalty nan": (lambda w: _sample(w, "--repetition-penalty", "nan"), "repetition_penalty must be"),
    "repetition penalty inf": (lambda w: _sample(w, "--repetition-penalty", "inf"), "repetition_penalty must be"),
    "top-p nan": (lambda w: _sample(w, "--top-p", "nan"), "top_p must be"),
    # sizes that cannot fit
    "num samples 1e9": (lambda w: _sample(w, "--num-samples", "1000000000"), "needs ~"),
    "num samples 1e9 spelling": (lambda w: _sample(w, "--num-samples", "1e9"), "not a valid integer"),
    "bench batch 1e8": (lambda w: ["bench", "llm", "--preset", "tiny", "--no-torch", "--batch", "100000000"],
                        "needs ~"),
    "bench batch 1e8 spelling": (lambda w: ["bench", "llm", "--batch", "1e8"], "not a valid integer"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_touches_nothing(work, case):
    make, words = BAD[case]
    before = _snapshot(work)
    res = _run(make(work))
    _assert_one_line_error(res, words)
    assert _snapshot(work) == before


def test_size_refusal_names_the_estimate_and_the_machine(work):
    res = _run(_sample(work, "--num-samples", "1000000000"))
    msg = res.stderr
    assert "--num-samples 1000000000 needs ~" in msg and "GiB, this machine has" in msg


def test_finetune_batch_beyond_memory_is_refused(work, monkeypatch):
    # The estimate is checked against the machine's memory: pretend it has 64 KiB (the tiny model's
    # weights, gradients and AdamW moments alone need ~0.6 MB).
    monkeypatch.setattr("collapsim.memory.available_bytes", lambda: 1 << 16)
    res = _run(_ft(work, "--batch-size", "1000000000"))
    _assert_one_line_error(res, "--batch-size 1000000000 needs ~")
    assert "this machine has 6.1e-05 GiB" in res.stderr and not (work / "out").exists()


@pytest.mark.slow
def test_finetune_out_rules_and_huge_batch_that_fits(work):
    """A batch above the data size is the data (it fits, so it runs); a rerun replaces the earlier
    checkpoint; the result is loadable; nothing else in the parent folder changes."""
    res = _run(_ft(work, "--batch-size", "1000000000", "--epochs", "1"))
    assert res.exit_code == 0, res.output
    out = work / "out"
    first = (out / "model.safetensors").read_bytes()
    marker = json.loads((out / ".collapsim").read_text())
    assert marker["kind"] == "checkpoint" and set(marker["files"]) == {"config.json", "model.safetensors",
                                                                        "tokenizer.json"}
    res = _run(_ft(work, "--batch-size", "1", "--epochs", "1", "--lr", "1e-2"))
    assert res.exit_code == 0, res.output
    assert (out / "model.safetensors").read_bytes() != first
    assert sorted(p.name for p in work.iterdir()) == ["afile", "in", "latin1.txt", "out", "project", "train.txt"]
    # The fine-tuned folder is a valid --checkpoint for the next generation, and a user file in it is kept.
    (out / "notes.txt").write_text("mine")
    res = _run(_ft(work, out=out))
    _assert_one_line_error(res, "'notes.txt'")
    assert (out / "notes.txt").read_text() == "mine"


def test_non_finite_loss_stops_and_writes_nothing(work):
    before = _snapshot(work)
    res = _run(_ft(work, "--lr", "1e30", "--batch-size", "1"))
    _assert_one_line_error(res, "training loss became nan at step")
    assert "nothing was saved" in res.stderr
    assert _snapshot(work) == before


@pytest.fixture(scope="module")
def small_vocab_ckpt(tiny_ckpt, tmp_path_factory):
    """A checkpoint whose config.json has vocab_size 40 but whose tokenizer.json knows 300 tokens."""
    import jax

    from collapsim.gpt2.checkpoint import save_checkpoint
    from collapsim.gpt2.model import config_from_dict, init_params

    folder = tmp_path_factory.mktemp("small_vocab") / "ck"
    d = dict(model_type="gpt2", vocab_size=40, n_positions=64, n_embd=16, n_layer=1, n_head=2,
             bos_token_id=0, eos_token_id=0)
    cfg = config_from_dict(d)
    save_checkpoint(folder, init_params(cfg, jax.random.PRNGKey(0)), cfg, d, tiny_ckpt / "tokenizer.json")
    return folder


@pytest.mark.parametrize("cmd", ["perplexity", "finetune", "sample"])
def test_token_ids_beyond_the_vocabulary_are_an_error(small_vocab_ckpt, tmp_path, cmd):
    data = tmp_path / "d.txt"
    data.write_text("the quick brown fox jumps over the lazy dog\n")
    ck = ["--checkpoint", small_vocab_ckpt]
    args = {"perplexity": ["llm", "perplexity", *ck, "--data", data],
            "finetune": ["llm", "finetune", *ck, "--data", data, "--out", tmp_path / "o"],
            "sample": ["llm", "sample", *ck, "--prompt", "the quick brown fox"]}[cmd]
    res = _run(args)
    _assert_one_line_error(res, "outside the model's vocabulary of 40")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.txt"]


def test_json_output_never_holds_a_bare_nan(tiny_ckpt, tmp_path):
    """A checkpoint with NaN weights gives NaN log-probs; --json writes them as null (valid JSON)."""
    from collapsim.gpt2.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(tiny_ckpt)
    params = dict(ck.params, ln_f_g=ck.params["ln_f_g"] * float("nan"))
    save_checkpoint(tmp_path / "nan", params, ck.config, ck.config_dict, ck.tokenizer_path)
    res = _run(["llm", "sample", "--checkpoint", tmp_path / "nan", "--prompt", "the quick",
                "--max-new-tokens", "3", "--json"])
    assert res.exit_code == 0, res.output

    def refuse(c):
        raise AssertionError(f"bare {c} in --json output")

    rows = [json.loads(line, parse_constant=refuse) for line in res.stdout.splitlines()]
    assert rows and rows[0]["logprob"] is None
