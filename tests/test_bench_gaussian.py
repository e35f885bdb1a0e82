"""The benchmark must time the same simulation three ways: check the references against theory (not speed)."""

import json

import numpy as np
from click.testing import CliRunner

from collapsim.bench.gaussian import loop_reference, numpy_reference
from collapsim.cli import main
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


def test_bench_json_has_the_tracked_keys():
    res = CliRunner().invoke(main, ["bench", "gaussian", "--chains", "64", "--generations", "3", "--samples", "8", "--loop-chains", "4", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    for key in ("collapsim_s", "numpy_s", "loop_s", "rng_s", "shortcut_s", "compile_s"):
        assert report[key] > 0, key
    assert report["draws"] == 64 * 3 * 8
