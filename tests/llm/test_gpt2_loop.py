"""`collapsim run gpt2` on the micro preset: the run folder, and a run killed during generation 3 that resumes
with the same command and ends with the same metrics.csv as an uninterrupted run (slow set: each run
compiles the sampler and the train step)."""

import csv
import json

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.runs.spec import RunSpec

GENS = 3


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("collapsim-cache")


def _spec(**kw):
    base = dict(family="gpt2", family_options={"preset": "micro"}, policy="mix", alpha="0.2", samples=16,
                generations=GENS, seeds=2, seed=3, driver="host")
    base.update(kw)
    return RunSpec(**base)


@pytest.mark.slow  # three micro runs, about a minute and a half on a shared 2-core machine
def test_killed_during_generation_3_resumes_to_the_same_metrics(tmp_path, cache, monkeypatch):
    from collapsim.output.run import execute
    from collapsim.families.llm import family as fam

    monkeypatch.setenv("COLLAPSIM_CACHE", str(cache))
    whole = execute(_spec(), tmp_path / "whole")
    expected = (whole.path / "metrics.csv").read_text()

    real_epoch = fam.Progress.epoch

    def kill_in_generation_3(self, generation, epoch):
        real_epoch(self, generation, epoch)
        if generation == 3:
            raise KeyboardInterrupt  # what a Ctrl-C or a kill does mid-training

    monkeypatch.setattr(fam.Progress, "epoch", kill_in_generation_3)
    with pytest.raises(KeyboardInterrupt):
        execute(_spec(), tmp_path / "killed")
    assert not (tmp_path / "killed").exists()  # nothing half-written
    assert (tmp_path / ".killed.checkpoint.npz").is_file()  # generations 1-2 kept
    monkeypatch.setattr(fam.Progress, "epoch", real_epoch)
    resumed = execute(_spec(), tmp_path / "killed")
    assert (resumed.path / "metrics.csv").read_text() == expected
    assert not (tmp_path / ".killed.checkpoint.npz").exists()

    # the run folder: every metric per generation; the unigram metrics' fitted curves in approximations.csv
    # (kind fitted), never in metrics.csv's theory column (nothing here is exact); the fitted n_eff
    rows = (whole.path / "metrics.csv").read_text().splitlines()[1:]
    names = {r.split(",")[1] for r in rows}
    assert {"perplexity", "unigram_entropy", "gini_simpson", "support", "tail_mass", "kl_unigram",
            "cross_entropy_gap", "distinct_2", "decoding_removed_mass"} <= names
    assert not [r for r in rows if r.split(",")[-1] != ""]
    with open(whole.path / "approximations.csv", newline="") as f:
        approx = list(csv.reader(f))[1:]
    assert {r[1] for r in approx} == {"unigram_entropy", "gini_simpson", "support", "tail_mass"}
    fitted = [r for r in approx if r[2] == "fitted"]
    assert len(fitted) == 4 * (GENS + 1) and {r[2] for r in approx} == {"fitted", "approximate"}
    # the forecast from the calibration: approximate (no loop generation was used), never fitted
    assert all(r[3].startswith(("forecast from calibration", "forecast band")) for r in approx if r[2] == "approximate")
    config = json.loads((whole.path / "config.json").read_text())
    assert config["theory_curves"]["fitted_on_generations"] == [1]
    support = config["theory_curves"]["per_metric"]["support"]
    assert not support["exact"] and support["fitted"] == [fitted[0][3]] and support["approximate"]
    fit = config["theory_fit"]
    assert fit["n_eff"] > 0 and len(fit["n_eff_per_seed"]) == 2 and fit["fit_generations"] == [1]
    # two seeds: the per-seed range, not a "95% interval"
    assert "n_eff_interval95" not in fit and fit["n_eff_per_seed_range"] == [min(fit["n_eff_per_seed"]),
                                                                               max(fit["n_eff_per_seed"])]
    assert "not a 95% interval" in config["theory"] and "fitted, not exact" in config["theory"]
    assert set(fit["heldout_error"]) == {"unigram_entropy", "gini_simpson", "support", "tail_mass"}
    assert config["driver"] == "host" and (whole.path / "figure.png").stat().st_size > 0


@pytest.mark.slow
def test_policies_without_theory_run_and_say_so(tmp_path, cache, monkeypatch):
    from collapsim.output.run import execute

    monkeypatch.setenv("COLLAPSIM_CACHE", str(cache))
    res = execute(_spec(policy="accumulate-subsample", alpha="none", generations=2, family_options={"preset": "micro", "continue_training": False}),
                  tmp_path / "acc")
    assert "no theory" in res.note
    rows = [r.split(",") for r in (res.path / "metrics.csv").read_text().splitlines()[1:]]
    assert all(r[-1] == "" for r in rows)
    assert all(np.isfinite(float(r[2])) for r in rows)


@pytest.mark.slow
def test_pretrain_command_trains_once_then_reuses_the_cache(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from collapsim.commands.cli import main

    monkeypatch.setenv("COLLAPSIM_CACHE", str(tmp_path))
    first = CliRunner().invoke(main, ["llm", "pretrain", "--preset", "micro", "--steps", "40"])
    assert first.exit_code == 0, first.output
    folder = tmp_path / "pretrain" / first.output.split("base model: ")[1].split()[0].split("/")[-1]
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json", "pretrain.json"}
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    again = CliRunner().invoke(main, ["llm", "pretrain", "--preset", "micro", "--steps", "40"])
    assert again.exit_code == 0 and (folder / "model.safetensors").stat().st_mtime_ns == stamp
    other = CliRunner().invoke(main, ["llm", "pretrain", "--preset", "micro", "--steps", "41"])
    assert other.exit_code == 0 and len(list((tmp_path / "pretrain").iterdir())) == 2  # a new hash


def test_run_gpt2_help_lists_the_protocol_options():
    from click.testing import CliRunner

    from collapsim.commands.cli import main

    out = " ".join(CliRunner().invoke(main, ["run", "gpt2", "--help"]).output.split())
    for flag in ("--preset", "--continue-training / --from-base", "--checkpoint", "--corpus", "--generations",
                 "--seeds", "--policy", "--alpha", "--temperature", "--top-k", "--carry-optimizer / --fresh-optimizer"):
        assert flag in out, flag
    assert "[default: host]" in out


@pytest.mark.slow
def test_checkpoint_and_corpus_run_the_same_loop_on_text(tmp_path, tiny_ckpt):
    """A Hugging Face GPT-2 folder (random weights, byte-level BPE) on a text corpus: generated texts are
    decoded and split into words, counted over the corpus's most common words."""
    from collapsim.output.run import execute
    from llm_fixtures import SENTENCES

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n")
    spec = _spec(policy="replace", alpha="none", generations=2,
                 family_options={"preset": "micro", "checkpoint": str(tiny_ckpt), "corpus": str(corpus)})
    res = execute(spec, tmp_path / "real")
    config = json.loads((res.path / "config.json").read_text())
    assert config["corpus_lines"] == len(SENTENCES) and "the" in config["vocabulary"]
    rows = [r.split(",") for r in (res.path / "metrics.csv").read_text().splitlines()[1:]]
    names = {r[1] for r in rows}
    assert {"perplexity", "unigram_entropy", "support", "tail_mass"} <= names and "cross_entropy_gap" not in names
    assert all(np.isfinite(float(r[2])) for r in rows)


def test_checkpoint_without_corpus_is_one_line(tmp_path):
    from collapsim.output.run import execute

    for bad, match in (({"lr": -1.0}, "--lr"), ({"epochs": -2}, "--epochs"), ({"length": 1}, "--length"),
                       ({"temperature": -0.5}, "--temperature"), ({"top_k": -3}, "--top-k")):
        with pytest.raises(ConfigError, match=match):  # refused before any pretraining
            execute(_spec(family_options={"preset": "micro", **bad}))

    with pytest.raises(ConfigError, match="go together"):
        execute(_spec(family_options={"preset": "micro", "checkpoint": str(tmp_path)}))
    with pytest.raises(ConfigError, match="no such file"):
        execute(_spec(family_options={"preset": "micro", "checkpoint": str(tmp_path), "corpus": str(tmp_path / "none.txt")}))


@pytest.mark.slow
def test_generation_bench_times_both_sides(cache, monkeypatch):
    from llm_fixtures import hf_available

    from collapsim.commands.bench.llm_generation import format_generation_report, run_generation_bench

    monkeypatch.setenv("COLLAPSIM_CACHE", str(cache))
    r = run_generation_bench(repeats=1, with_torch=hf_available(), threads=1, preset="micro", n=16)
    assert r["collapsim_s"] > 0 and r["collapsim_fit_s"] > 0
    if hf_available():
        assert r["torch_threads"] == 1 and r["speedup"] > 0
    assert "collapsim" in format_generation_report(r)


def test_decoding_factors_follow_the_protocol():
    """No map without decoding; with temperature or top-k, one factor per generation and word, and the mean
    law it implies (r_t times the training texts' law) sums to 1, as the ideal learner's law must."""
    from collapsim.families.llm import loop as LP
    from collapsim.families.llm import source as S
    from collapsim.theory import decoded_chain as D

    p = LP.MICRO
    assert LP.decoding_factors(p, np.zeros(4)) is None
    for temperature, top_k in ((0.8, 0), (1.0, 10)):
        q = p._replace(temperature=temperature, top_k=top_k)
        r = LP.decoding_factors(q, np.full(4, 0.2))
        assert r.shape == (4, p.vocab) and np.all(np.isfinite(r)) and np.all(r >= 0)
        src = LP._source(q)
        d = D.trajectory(src.initial, src.transition, src.length, np.full(4, 0.2), temperature, top_k)
        y = 0.2 * S.unigram_law(src) + 0.8 * d[:-1]
        np.testing.assert_allclose((r * y).sum(1), 1.0, atol=1e-12)


@pytest.mark.slow  # one micro run with decoding, about 20-40 s on a shared 2-core machine
def test_decoded_run_fits_the_theory_with_the_decoding_map(tmp_path, cache, monkeypatch):
    from collapsim.output.run import execute

    monkeypatch.setenv("COLLAPSIM_CACHE", str(cache))
    res = execute(_spec(policy="replace", alpha="none", family_options={"preset": "micro", "temperature": 0.8}),
                  tmp_path / "decoded")
    config = json.loads((res.path / "config.json").read_text())
    assert config["protocol"]["temperature"] == 0.8
    assert config["theory_fit"]["decoding_map"] is True
    assert "decoding (temperature 0.8, top-k none)" in config["theory"]
    with open(res.path / "approximations.csv", newline="") as f:
        rows = list(csv.reader(f))[1:]
    theory = [float(r[4]) for r in rows if r[1] == "unigram_entropy" and r[2] == "fitted"]
    assert len(theory) == GENS + 1 and all(np.isfinite(theory))
    assert theory[-1] < theory[0]  # the map alone sharpens the law under replace


@pytest.mark.slow  # two micro runs of 2 generations, about 20-30 s with the base cached
def test_fresh_optimizer_changes_the_second_generation_only(tmp_path, cache, monkeypatch):
    """Generation 1 starts from the base model's fresh optimizer either way, so it must be identical;
    generation 2 differs only if the AdamW state was really reset."""
    from collapsim.output.run import execute

    monkeypatch.setenv("COLLAPSIM_CACHE", str(cache))
    out = {}
    for carry in (True, False):
        spec = _spec(policy="replace", alpha="none", generations=2, seeds=2,
                     family_options={"preset": "micro", "carry_optimizer": carry})
        res = execute(spec, tmp_path / str(carry))
        rows = [r.split(",") for r in (res.path / "metrics.csv").read_text().splitlines()[1:]]
        out[carry] = {(int(r[0]), r[1]): float(r[2]) for r in rows}
        assert json.loads((res.path / "config.json").read_text())["protocol"]["carry_optimizer"] is carry
    assert out[True][(1, "perplexity")] == out[False][(1, "perplexity")]
    assert out[True][(2, "perplexity")] != out[False][(2, "perplexity")]


def test_small_preset_is_gpt2_small_shaped_on_tinys_source():
    # The GPU preset: GPT-2 small's layers, width and heads over tiny's known source, its own pretraining
    # rate (so its own cache key), and tiny's base model untouched.
    from collapsim.families.llm import pretrain as P
    from collapsim.families.llm.loop import LOOP_PRESETS, _source, pretrain_settings

    tiny, small = LOOP_PRESETS["tiny"], LOOP_PRESETS["small"]
    cfg, _ = P.model_config(_source(small), P.ModelShape(small.n_layer, small.n_embd, small.n_head))
    assert (cfg.n_layer, cfg.n_embd, cfg.n_head) == (12, 768, 12)
    assert _source(small).settings == _source(tiny).settings
    assert pretrain_settings(tiny) == P.PretrainSettings(steps=1500)  # tiny's cached model keeps its hash
    assert pretrain_settings(small).lr < pretrain_settings(tiny).lr
    spec = RunSpec(family="gpt2", family_options={"preset": "small"}, generations=1, samples=16, seeds=1)
    from collapsim.families.llm.loop import preset

    assert preset(spec).n_embd == 768
    # run gpt2's choices (the light registry writes them out) are ainex plus every loop preset.
    from collapsim.families.llm import ENTRY as GPT2

    (choice,) = [o for o in GPT2.options if o.name == "preset"]
    assert set(choice.choices) == {"ainex", *LOOP_PRESETS}
