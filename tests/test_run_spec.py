"""The run spec and the one execute() path: config.json re-runs a run byte for byte, the host-loop driver
from the command line, one-line errors, and the collapse command that used to hang or write NaN."""

import csv
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.errors import ConfigError
from collapsim.runs.spec import RunSpec


def _run(args):
    return CliRunner().invoke(main, args)


def test_config_json_reruns_the_run_byte_for_byte(tmp_path):
    first = tmp_path / "first"
    res = _run(["run", "categorical", "--vocab", "12", "--samples", "20", "--generations", "6", "--seeds", "40",
                "--policy", "mix", "--alpha", "0.5/t", "--init", "dirichlet", "--temperature", "0.9", "--seed", "7",
                "--out", str(first)])
    assert res.exit_code == 0, res.output
    again = tmp_path / "again"
    res = _run(["run", "--config", str(first / "config.json"), "--out", str(again)])
    assert res.exit_code == 0, res.output
    assert (first / "metrics.csv").read_bytes() == (again / "metrics.csv").read_bytes()
    spec = RunSpec.from_config(json.loads((again / "config.json").read_text()))
    assert spec.seed == 7 and spec.params["temperature"] == 0.9 and spec.alpha == "0.5/t"


def test_host_driver_from_the_command_line_gives_the_scan_numbers(tmp_path):
    args = ["run", "gaussian", "--generations", "5", "--samples", "10", "--seeds", "30", "--policy", "keep-real"]
    assert _run([*args, "--out", str(tmp_path / "scan")]).exit_code == 0
    res = _run([*args, "--driver", "host", "--out", str(tmp_path / "host")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "scan" / "metrics.csv").read_bytes() == (tmp_path / "host" / "metrics.csv").read_bytes()
    assert not list(tmp_path.glob(".*checkpoint*")), "the finished run left its checkpoint behind"


@pytest.mark.parametrize("content,match", [(None, "no such file"), (b"\xff\xfe", "not UTF-8"), (b"{", "not valid JSON"),
                                           (b'{"family": "gaussian"}', "not a collapsim run config"),
                                           (b'{"family": "nope", "samples": 3, "generations": 2, "seeds": 4}', "unknown family")])
def test_bad_config_file_is_one_line(tmp_path, content, match):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_bytes(content)
    res = _run(["run", "--config", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and match in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "out").exists()


def test_spec_validation_names_the_problem():
    with pytest.raises(ConfigError, match="seeds"):
        RunSpec("gaussian", seeds=1).validate()
    with pytest.raises(ConfigError, match="32-bit"):
        RunSpec("gaussian", seed=2**32).validate()
    with pytest.raises(ConfigError, match="alpha applies only"):
        RunSpec("gaussian", alpha="0.3").validate()


def test_full_covariance_accepts_fewer_samples_than_dimensions(tmp_path):
    """A singular covariance is a legal model: it samples in its subspace (n <= d is where peers' grids go)."""
    out = tmp_path / "r"
    res = _run(["run", "gaussian", "--dim", "5", "--samples", "4", "--generations", "4", "--seeds", "4000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    for metric in ("sigma2", "mean_sq_drift"):  # few generations: the variance's law is heavy-tailed at n = 4
        for r in [r for r in rows if r["metric"] == metric][1:]:
            assert abs(float(r["mean"]) - float(r["theory"])) <= 4 * float(r["stderr"]), r
    det = [r for r in rows if r["metric"] == "det_ratio"]
    assert all(float(r["mean"]) == 0.0 == float(r["theory"]) for r in det[1:]), "rank n - 1 < d: the determinant is 0"


def _two_devices(args, timeout):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    return subprocess.run([sys.executable, "-m", "collapsim", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_collapse_command_that_hung_finishes_on_two_devices_finite_and_on_theory(tmp_path):
    """Used to deadlock on 2 host devices (independent LAPACK calls) and, on one, turn every metric NaN from
    generation 25 (a float32 covariance that stopped being positive definite)."""
    out = tmp_path / "r"
    res = _two_devices(["run", "gaussian", "--dim", "3", "--ddof", "0", "--samples", "13", "--generations", "31",
                        "--seeds", "3000", "--out", str(out)], timeout=300)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert all(r["mean"] not in ("", "nan", "inf") for r in rows)
    sigma2 = [r for r in rows if r["metric"] == "sigma2"]
    assert len(sigma2) == 32
    for r in sigma2[1:]:
        assert abs(float(r["mean"]) - float(r["theory"])) <= 4 * float(r["stderr"]), r
    assert json.loads((out / "config.json").read_text())["device_layout"]["devices"] == 2


@pytest.mark.parametrize("dim,samples", [(8, 9), (40, 50)])
@pytest.mark.slow
def test_large_full_covariance_does_not_deadlock_on_two_devices(tmp_path, dim, samples):
    res = _two_devices(["run", "gaussian", "--dim", str(dim), "--samples", str(samples), "--generations", "2",
                        "--seeds", "4", "--out", str(tmp_path / "r")], timeout=240)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("args,sized", [
    (["run", "gaussian", "--seeds", "1000000000"], True),
    (["run", "gaussian", "--generations", "1000000000"], True),
    (["run", "gaussian", "--samples", "1000000000"], True),
    (["run", "gaussian", "--dim", "1000000000"], True),
    (["run", "categorical", "--vocab", "1000000000"], True),
    (["bench", "categorical", "--theory-size", "100000000", "1000", "200"], True),
    (["run", "gaussian", "--seed", "99999999999999999999999"], False),
    (["run", "categorical", "--init", "dirichlet", "--seed", "-5"], False),
    (["run", "gaussian", "--policy", "mix", "--alpha", "0/t^-1e400"], False),
    (["run", "gaussian", "--policy", "mix", "--alpha", "geom:0:1e308"], False),
    (["run", "gaussian", "--out", "/proc/collapsim-run"], False),
], ids=lambda a: " ".join(a[1:4]) if isinstance(a, list) else str(a))
def test_sizes_and_values_that_cannot_work_are_one_line_before_any_work(tmp_path, args, sized):
    """Exit 2, one line naming the problem (with the memory estimate for sizes), no warning, nothing written."""
    out = ["--out", str(tmp_path / "r")] if args[0] == "run" and "--out" not in args else []
    res = subprocess.run([sys.executable, "-m", "collapsim", *args, *out], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:"), res.stderr
    assert "no such option" not in lines[0]
    if sized:
        assert "GiB" in lines[0] and "this machine has" in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []
