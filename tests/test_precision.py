"""--precision float64: JAX x64 for the scan families, scoped to the run."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.theory.gaussian import expected_log_det_ratio


def _run(args):
    return CliRunner().invoke(main, args)


def _rows(folder, metric):
    lines = (folder / "metrics.csv").read_text().splitlines()[1:]
    return [[float(v) if v else None for v in line.split(",")[2:]] for line in lines if line.split(",")[1] == metric]


THIN = ["gaussian", "--dim", "3", "--covariance", "full", "--ddof", "0", "--samples", "10", "--generations", "60",
        "--seeds", "200", "--method", "explicit"]


def test_float64_explicit_fit_keeps_log_det_and_its_exact_mean(tmp_path):
    res = _run(["run", *THIN, "--precision", "float64", "--out", str(tmp_path / "f64")])
    assert res.exit_code == 0, res.output
    theory = expected_log_det_ratio(60, 10, 0, 3)
    rows = _rows(tmp_path / "f64", "log_det_ratio")
    for g, (mean, se, lo, hi, th) in enumerate(rows):
        assert th == pytest.approx(theory[g], abs=1e-9)
        assert abs(mean - th) <= 4 * se + 1e-12, (g, mean, th, se)
    assert min(r[2] for r in rows) > -200  # far above the float64 floor, 3 log(tiny) = -2125
    config = json.loads((tmp_path / "f64" / "config.json").read_text())
    assert config["precision"] == "float64"
    again = _run(["run", "--config", str(tmp_path / "f64" / "config.json"), "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again" / "metrics.csv").read_bytes() == (tmp_path / "f64" / "metrics.csv").read_bytes()


@pytest.mark.slow
def test_a_float64_run_leaves_later_float32_runs_unchanged(tmp_path):
    small = ["gaussian", "--samples", "6", "--generations", "8", "--seeds", "50"]
    assert _run(["run", *small, "--out", str(tmp_path / "before")]).exit_code == 0
    assert _run(["run", *small, "--precision", "float64", "--out", str(tmp_path / "wide")]).exit_code == 0
    assert _run(["run", *small, "--out", str(tmp_path / "after")]).exit_code == 0
    before, wide = (tmp_path / "before" / "metrics.csv").read_bytes(), (tmp_path / "wide" / "metrics.csv").read_bytes()
    assert (tmp_path / "after" / "metrics.csv").read_bytes() == before
    assert wide != before  # the float64 run is a different computation, not the float32 one relabelled
    a = np.array([r[0] for r in _rows(tmp_path / "before", "sigma2")])
    b = np.array([r[0] for r in _rows(tmp_path / "wide", "sigma2")])
    assert np.allclose(a, b, rtol=1e-4)  # ... of the same draws


@pytest.mark.parametrize("args, message", [
    (["gpt2", "--precision", "float64"], "applies to the scan families"),
    (["gaussian", "--precision", "float16"], "float16"),
])
def test_precision_is_refused_where_it_does_not_apply(tmp_path, args, message):
    res = _run(["run", *args, "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and message in res.output
    assert not (tmp_path / "x").exists()
