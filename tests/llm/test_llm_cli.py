"""`collapsim llm ...` and `collapsim bench llm` through the real CLI entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from llm_fixtures import hf_available


def _run(args):
    """Run the CLI like a user would (main() exits), capturing exit code and output."""
    runner = CliRunner()
    return runner.invoke(main, args, catch_exceptions=False)


def test_missing_checkpoint_is_one_line_exit_2(tmp_path):
    res = _run(["llm", "sample", "--checkpoint", str(tmp_path / "nope"), "--prompt", "hi"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0
    assert "collapsim: error: checkpoint folder" in res.output and "nope" in res.output


def test_sample_json_and_finetune_roundtrip(tiny_ckpt, tmp_path):
    res = _run(["llm", "sample", "--checkpoint", str(tiny_ckpt), "--prompt", "the quick", "--prompt", "model",
                "--num-samples", "2", "--max-new-tokens", "6", "--top-k", "20", "--temperature", "0.8", "--json"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [r["prompt"] for r in rows] == ["the quick", "the quick", "model", "model"]
    assert all(r["decode_logprob"] >= r["logprob"] and r["tokens"] <= 6 for r in rows)

    data = tmp_path / "train.txt"
    data.write_text("the quick brown fox jumps\n\nmodel collapse happens\n")
    out = tmp_path / "gen1"
    res = _run(["llm", "finetune", "--checkpoint", str(tiny_ckpt), "--data", str(data), "--out", str(out),
                "--epochs", "2", "--batch-size", "2", "--lr", "1e-3", "--max-length", "16", "--eval", str(data)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    before = float(lines[0].split(":")[1])
    after = float(next(ln for ln in lines if "after" in ln).split(":")[1])
    assert after < before
    res = _run(["llm", "perplexity", "--checkpoint", str(out), "--data", str(data), "--max-length", "16"])
    assert res.exit_code == 0 and float(res.output) == pytest.approx(after, rel=1e-3)


def test_finetune_missing_data_file(tiny_ckpt, tmp_path):
    res = _run(["llm", "finetune", "--checkpoint", str(tiny_ckpt), "--data", str(tmp_path / "x.txt"),
                "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "x.txt: training data file not found" in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_bench_json_keys():
    args = ["bench", "llm", "--json", "--preset", "tiny", "--batch", "2", "--new-tokens", "4", "--repeats", "1"]
    if not hf_available():
        args.append("--no-torch")
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    res = _run(args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    r = out["results"][0]
    keys = {"collapsim_tok_s", "compile_s", "collapsim_train_step_s"}
    if hf_available():
        keys |= {"hf_tok_s", "torch_train_step_s", "sample_speedup"}
        assert out["threads"]["torch_threads"] == 1
    assert keys <= set(r) and all(r[k] > 0 for k in keys - {"compile_s"})
    # The bench gave the calling thread its CPUs back.
    assert cpus is None or os.sched_getaffinity(0) == cpus


def test_bench_without_torch_is_a_clear_message():
    # A fresh interpreter where importing torch fails, as on a machine without it.
    code = ("import sys; sys.modules['torch'] = None; from collapsim.commands.cli import main; "
            "main(['bench', 'llm', '--json', '--repeats', '1'])")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2
    assert "needs torch and transformers" in res.stderr and "Traceback" not in res.stderr


def test_cli_module_import_is_light():
    code = ("import sys, collapsim.commands.llm; "
            "heavy = [m for m in ('jax', 'torch', 'transformers', 'optax', 'safetensors') if m in sys.modules]; "
            "assert not heavy, heavy")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
