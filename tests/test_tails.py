"""Heavy tails: the Pareto shape the run estimates from its own chains, and what a run says with it.

The estimator is checked against distributions of known tail shape; the run-level test is the issue's
case, a 3-d full-covariance MLE refit on 10 points, whose det Sigma_t / det Sigma_0 has an exact mean that no
Monte Carlo mean of a few hundred chains can reach, while its logarithm's exact mean is within a few
standard errors at every generation."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.runs.tails import khat_threshold, mean_unestimable, tail_shape
from collapsim.theory.gaussian import expected_log_det_ratio


@pytest.mark.parametrize("shape", [0.3, 0.5, 0.8, 1.2])
def test_the_shape_of_a_pareto_tail_is_recovered(shape):
    rng = np.random.default_rng(11)
    values = rng.pareto(1.0 / shape, size=(4000, 40))  # Lomax: generalized Pareto with shape k = `shape`
    k = tail_shape(values)
    # 40 independent columns: their mean k-hat has a standard error of about 0.12 / sqrt(40) = 0.02
    assert abs(k.mean() - shape) < 0.08, k.mean()
    assert abs(tail_shape(-values).mean() - shape) < 0.08  # the lower tail is found as well


def test_light_tails_are_estimable_and_infinite_means_are_not():
    rng = np.random.default_rng(12)
    normal = rng.standard_normal((2000, 30))
    assert not mean_unestimable(normal)[0].any()
    assert not mean_unestimable(rng.exponential(size=(2000, 30)))[0].any()
    assert mean_unestimable(rng.pareto(1 / 1.3, size=(2000, 30)))[0].all()  # k = 1.3: the mean is infinite
    assert khat_threshold(2000) == pytest.approx(1 - 1 / np.log10(2000)) and khat_threshold(10**6) == 0.7


def test_collapsed_and_underflowed_columns_are_handled():
    values = np.zeros((500, 3))
    values[:, 1] = 7.0
    rng = np.random.default_rng(13)
    values[:20, 2] = rng.pareto(1 / 1.5, size=20)  # 480 chains underflowed to 0, a heavy tail above them
    flags, k = mean_unestimable(values)
    assert np.isnan(k[:2]).all() and not flags[:2].any()  # a constant column has no tail to call heavy
    assert flags[2]


@pytest.mark.slow
def test_run_records_log_det_ratio_and_marks_det_ratio_unestimable(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "gaussian", "--dim", "3", "--covariance", "full", "--ddof", "0",
                                    "--samples", "10", "--generations", "100", "--seeds", "400", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    log_det = {int(r[0]): (float(r[2]), float(r[3]), float(r[6])) for r in rows if r[1] == "log_det_ratio"}
    theory = expected_log_det_ratio(100, 10, 0, 3)
    for g, (mean, se, th) in log_det.items():
        assert th == pytest.approx(theory[g], abs=1e-9)
        assert abs(mean - th) <= 4 * se + 1e-12, (g, mean, th, se)
    # finite in every chain and above the float32 floor (no chain lost rank): the lower 2.5% quantile
    lo = min(float(r[4]) for r in rows if r[1] == "log_det_ratio")
    assert np.isfinite(lo) and lo > 3 * np.log(np.finfo(np.float32).tiny)
    config = json.loads((out / "config.json").read_text())
    flagged = config["heavy_tails"]["metrics"]
    assert "det_ratio" in flagged and flagged["det_ratio"]["generations"][-1] == 100
    assert "log_det_ratio" not in flagged
    table = res.output.split("wrote")[0]
    assert any(line.startswith("det_ratio") and line.rstrip().endswith("tail") for line in table.splitlines())
    assert "heavy" in table


def test_log_sigma2_follows_its_exact_mean_in_one_dimension(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "gaussian", "--samples", "8", "--ddof", "0", "--generations", "30",
                                    "--seeds", "3000", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [line.split(",") for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    log_s2 = [(float(r[2]), float(r[3]), float(r[6])) for r in rows if r[1] == "log_sigma2"]
    assert len(log_s2) == 31 and log_s2[-1][2] < -5  # a strong drift: 30 (psi(3.5) + ln 2 - ln 8)
    assert all(abs(m - th) <= 4 * se + 1e-12 for m, se, th in log_s2)


def test_a_log_metric_at_its_float_floor_is_marked_not_z_scored(tmp_path):
    """n = 2, MLE: log sigma^2 falls by 1.96 a generation, past float32's smallest number (-87.3) by
    generation ~45; chains there read the floor, so those generations get no z-score."""
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["run", "gaussian", "--samples", "2", "--ddof", "0", "--generations", "80",
                                    "--seeds", "200", "--out", str(out)])
    assert res.exit_code == 0, res.output
    floored = json.loads((out / "config.json").read_text())["heavy_tails"]["metrics"]["log_sigma2"]["floored_generations"]
    assert floored and floored[-1] == 80 and 0 < floored[0] < 80
    table = [line for line in res.output.splitlines() if line.startswith("log_sigma2")]
    assert table[-1].rstrip().endswith("floor") and not table[0].rstrip().endswith("floor")
