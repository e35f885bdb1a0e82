"""The benchmark must time the same simulation three ways: check the references against theory (not speed)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.bench.gaussian import loop_reference, numpy_reference
from collapsim.commands.cli import main
from collapsim.theory import gaussian as th


def test_numpy_and_loop_references_simulate_the_same_process():
    T, n = 10, 20
    vec = numpy_reference(4000, T, n, seed=1)
    loop = np.array(loop_reference(2000, T, n, seed=2))  # (chains, T, 3)
    for values in (vec["sigma2"].T, loop[:, :, 0]):
        mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))
        assert np.all(np.abs(mean - th.expected_sigma2(T, n, 1)[1:]) <= 4 * se)
    for values in (vec["mean_sq_drift"].T, loop[:, :, 1]):
        mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))
        assert np.all(np.abs(mean - th.expected_mean_sq_drift(T, n, 1)[1:]) <= 4 * se)


@pytest.mark.slow
def test_bench_json_has_the_tracked_keys():
    res = CliRunner().invoke(main, ["bench", "gaussian", "--chains", "64", "--generations", "3", "--samples", "8", "--loop-chains", "4", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    for key in ("collapsim_s", "numpy_s", "loop_s", "rng_s", "shortcut_s", "compile_s"):
        assert report[key] > 0, key
    assert report["draws"] == 64 * 3 * 8


def test_grid_references_simulate_the_full_mle_refit_and_the_grid_spans_the_promised_cells():
    from collapsim.commands.bench.gaussian import grid_cells, loop_full_reference, numpy_full_reference, run_grid_bench

    T, n, d = 4, 8, 3
    theory = th.expected_sigma2(T, n, 0)[-1]  # E tr(Sigma_T) / d = ((n - 1) / n)^T for the MLE
    for values in (numpy_full_reference(3000, d, n, T, seed=1), np.array(loop_full_reference(1500, d, n, T, seed=2))):
        se = values.std(ddof=1) / np.sqrt(len(values))
        assert abs(values.mean() - theory) <= 4 * se
    cells = grid_cells()
    assert {c["dim"] for c in cells} >= {1, 10, 100} and {c["samples"] for c in cells} >= {10, 100, 1000}
    assert cells[0] == {"dim": 10, "samples": 100, "generations": 100, "chains": 1000}  # the issue's cell first
    row = run_grid_bench([{"dim": 2, "samples": 5, "generations": 2, "chains": 4}], loop_seconds=0.0)[0]
    for key in ("collapsim_s", "numpy_s", "loop_s", "compile_s", "loop_over_collapsim", "numpy_over_collapsim"):
        assert row[key] > 0, key
    assert row["method"] == "explicit" and row["loop_chains_timed"] == 1


def test_wall_bench_runs_the_peers_cell_as_the_issue_writes_it():
    from collapsim.commands.bench.wall import PEERS_CELL, run_command

    assert " ".join(["collapsim", *run_command(PEERS_CELL)]) == (
        "collapsim run gaussian --dim 10 --samples 100 --generations 100 --seeds 1000 --ddof 0 --covariance full")


@pytest.mark.slow  # two `collapsim run` processes
def test_wall_bench_times_the_command_cold_and_warm_against_the_loop():
    from collapsim.commands.bench.wall import format_wall, time_wall

    r = time_wall({"dim": 2, "samples": 5, "generations": 2, "seeds": 4}, loop_seconds=0.01)
    for key in ("cold_s", "warm_s", "loop_s", "compile_s", "collapsim_s"):
        assert r[key] > 0, key
    assert r["loop_over_cold"] == r["loop_s"] / r["cold_s"] and r["loop_over_warm"] == r["loop_s"] / r["warm_s"]
    assert "warm cache" in format_wall(r)
