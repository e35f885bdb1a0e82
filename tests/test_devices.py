"""Chains spread over several XLA host devices compute exactly what one device computes."""

import os
import subprocess
import sys


def _run_with_devices(tmp_path, devices: int) -> str:
    out = tmp_path / f"run{devices}"
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    # 9 chains: not a multiple of 2, so the padded last chunk is exercised too.
    cmd = [sys.executable, "-m", "collapsim", "run", "categorical", "--vocab", "12", "--samples", "20",
           "--generations", "6", "--seeds", "9", "--policy", "mix", "--alpha", "0.3", "--out", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return (out / "metrics.csv").read_text()


def test_results_do_not_depend_on_the_number_of_devices(tmp_path):
    assert _run_with_devices(tmp_path, 1) == _run_with_devices(tmp_path, 2)
