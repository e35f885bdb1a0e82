"""`collapsim run categorical` and `collapsim bench categorical`: the issue's commands, notes, and bad input."""

import csv
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main


def _run(args):
    return CliRunner().invoke(main, args)


def _rows(folder, metric):
    with open(folder / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["metric"] == metric]


ISSUE = ["run", "categorical", "--vocab", "50", "--samples", "200", "--generations", "60", "--seeds", "4000"]


@pytest.mark.parametrize(
    "extra",
    [["--init", "uniform"], pytest.param(["--init", "uniform", "--policy", "mix", "--alpha", "0.1"], marks=pytest.mark.slow),
     ["--init", "zipf"], ["--init", "zipf", "--policy", "mix", "--alpha", "0.1"]],
    ids=["uniform", "uniform-mix0.1", "zipf", "zipf-mix0.1"],
)
def test_issue_command_within_4_stderr_of_exact_theory(tmp_path, extra):
    out = tmp_path / "run"
    res = _run([*ISSUE, "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    # the entropy's small-noise approximation goes to approximations.csv, never to metrics.csv's theory column
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.csv", "figure.png", "approximations.csv",
                                               ".collapsim"}
    for metric in ("gini_simpson", "entropy", "support", "tail_mass", "kl", "sq_error", "bottom_decile_mass", "tv"):
        rows = _rows(out, metric)
        assert len(rows) == 61, metric
        for r in rows[1:]:
            mean, se, theory = float(r["mean"]), float(r["stderr"]), float(r["theory"])
            assert abs(mean - theory) <= max(4 * se, 1e-6), (metric, r)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["family_options"]["vocab"] == 50 and cfg["seeds"] == 4000 and cfg["theory"].startswith("exact")


def test_decoding_leaves_theory_empty_and_says_so(tmp_path):
    out = tmp_path / "run"
    res = _run(["run", "categorical", "--vocab", "20", "--samples", "30", "--generations", "5", "--seeds", "20",
                "--temperature", "0.7", "--top-k", "10", "--top-p", "0.9", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "no exact theory" in res.output
    assert all(r["theory"] == "" for r in _rows(out, "entropy"))
    assert "decoding" in json.loads((out / "config.json").read_text())["theory"]


def test_same_seed_same_numbers_and_dirichlet_truth_follows_the_seed(tmp_path):
    args = ["run", "categorical", "--vocab", "12", "--samples", "20", "--generations", "5", "--seeds", "30", "--init", "dirichlet"]
    assert _run([*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert _run([*args, "--out", str(tmp_path / "b")]).exit_code == 0
    assert _run([*args, "--seed", "1", "--out", str(tmp_path / "c")]).exit_code == 0
    a, b, c = ((tmp_path / x / "metrics.csv").read_text() for x in "abc")
    assert a == b and a != c


@pytest.mark.slow
def test_policies_without_theory_and_the_explicit_method(tmp_path):
    res = _run(["run", "categorical", "--vocab", "10", "--samples", "15", "--generations", "4", "--seeds", "10",
                "--policy", "accumulate-subsample", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "no exact theory for policy" in res.output
    res = _run(["run", "categorical", "--vocab", "10", "--samples", "15", "--generations", "4", "--seeds", "10",
                "--method", "explicit", "--out", str(tmp_path / "e")])
    assert res.exit_code == 0 and json.loads((tmp_path / "e" / "config.json").read_text())["method"] == "explicit"


@pytest.mark.parametrize(
    "bad",
    [
        ["--vocab", "0"],
        ["--top-p", "0"],
        ["--temperature", "-1"],
        ["--top-k", "-2"],
        ["--samples", "0"],
        ["--policy", "mix", "--alpha", "1.5"],
        ["--zipf-exponent", "-1"],
        ["--policy", "keep-real", "--method", "shortcut"],
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, bad):
    out = tmp_path / "run"
    res = _run(["run", "categorical", "--seeds", "10", "--generations", "3", "--out", str(out), *bad])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:"), res.stderr
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_wordfreq_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # makes `import wordfreq` raise ImportError
    res = _run(["run", "categorical", "--init", "wordfreq", "--seeds", "10", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "pip install 'collapsim[wordfreq]'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_wordfreq_run(tmp_path):
    pytest.importorskip("wordfreq")
    res = _run(["run", "categorical", "--init", "wordfreq", "--vocab", "30", "--samples", "40", "--generations", "3",
                "--seeds", "20", "--out", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "w" / "config.json").read_text())["truth"]
    assert len(truth) == 30 and abs(sum(truth) - 1) < 1e-9 and truth[0] == max(truth)


@pytest.mark.slow
def test_bench_json_has_the_tracked_keys_and_references_simulate_wright_fisher():
    from collapsim.commands.bench.categorical import loop_reference, numpy_reference
    from collapsim.families.categorical import zipf_truth
    from collapsim.theory.categorical import expected_gini_simpson

    truth, T, M = zipf_truth(12), 8, 15
    gini = expected_gini_simpson(truth, M, np.zeros(T))[1:]
    vec = numpy_reference(4000, T, M, truth, seed=1)[:, 1, :]  # (T, chains), metric 1 = gini_simpson
    loop = np.array(loop_reference(1500, T, M, truth, seed=2))[:, :, 1, 0].T
    for values in (vec, loop):
        mean, se = values.mean(1), values.std(1, ddof=1) / np.sqrt(values.shape[1])
        assert np.all(np.abs(mean - gini) <= 4 * se)

    res = _run(["bench", "categorical", "--chains", "64", "--vocab", "10", "--samples", "12", "--generations", "3",
                "--loop-chains", "4", "--repeats", "1", "--theory-size", "20", "20", "5", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    for key in ("collapsim_s", "numpy_s", "loop_s", "compile_s", "theory_s"):
        assert report[key] > 0, key
    assert report["tokens"] == 64 * 3 * 12


def test_a_mix_theory_that_would_take_minutes_is_skipped_with_a_note(tmp_path):
    out = tmp_path / "big"
    res = _run(["run", "categorical", "--vocab", "1000", "--samples", "1000", "--generations", "40", "--seeds", "2",
                "--policy", "mix", "--alpha", "0.1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "exact theory skipped" in res.output
    assert all(r["theory"] == "" for r in _rows(out, "entropy"))


@pytest.mark.slow
def test_grid_bench_cells_and_one_tiny_row():
    from collapsim.commands.bench.categorical import grid_cells, run_grid_bench

    cells = grid_cells()
    assert {c["vocab"] for c in cells} >= {10, 10000} and {c["samples"] for c in cells} >= {10, 10000}
    assert cells[0] == {"vocab": 1000, "samples": 1000, "generations": 200, "chains": 500}
    rows = run_grid_bench([{"vocab": 4, "samples": 400, "generations": 2, "chains": 4},
                           {"vocab": 6, "samples": 12, "generations": 2, "chains": 4}], loop_seconds=0.0)
    assert [r["sampler"] for r in rows] == ["binomials", "tokens, search tree"]
    for key in ("collapsim_s", "numpy_s", "loop_s", "compile_s", "loop_over_collapsim"):
        assert all(r[key] > 0 for r in rows), key
