"""Kernel density refit on its own samples: the variance diffuses upward by the exact recursion (K1-K3)."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

import jax
import jax.numpy as jnp

from collapsim.commands.cli import main
from collapsim.engine import LoopConfig, run_loop
from collapsim.families import kde
from collapsim.theory import kde as th


def test_mean_variance_follows_the_recursion_over_100_generations():
    """n 20, h 0.3: the variance rises from 0.95 to ~1.5 (the MLE Gaussian's would fall to 0.006)."""
    n, h, T, seeds = 20, 0.3, 100, 1000
    out = run_loop(kde.kde(1, n), LoopConfig("replace", n, T), kde.make_params("gaussian", 1, h), np.zeros(T), seeds, seed=11)
    drift, var = th.moments(np.zeros(T), n, 1, h, 1.0)
    for name, theory in (("variance", var), ("mean_sq_drift", drift)):
        v = out[name]
        se = v.std(0, ddof=1) / np.sqrt(seeds)
        z = (v.mean(0) - theory) / se
        assert np.all(np.abs(z) <= 4), (name, np.argmax(np.abs(z)), z.max(), z.min())
    assert var[-1] > 1.5 * var[0]


@pytest.mark.slow
def test_cli_moons_mix_within_4_stderr(tmp_path):
    out = tmp_path / "moons"
    res = CliRunner().invoke(main, ["run", "kde", "--truth", "moons", "--dim", "2", "--bandwidth", "0.15", "--samples", "30",
                                    "--generations", "30", "--seeds", "600", "--policy", "mix", "--alpha", "0.2",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open(out / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] in ("variance", "mean_sq_drift")]
    assert len(rows) == 62
    for r in rows:
        assert abs(float(r["mean"]) - float(r["theory"])) <= max(4 * float(r["stderr"]), 1e-6), r


def test_sampling_picks_only_weighted_support_points():
    fam = kde.kde(1, 4)
    params = kde.make_params("gaussian", 1, 0.0)
    wide = fam.widen(fam.init(jax.random.key(0), params), 12)
    assert wide["points"].shape == (12, 1) and float(wide["weight"].sum()) == 4 and float(wide["weight"][4:].sum()) == 0
    model = {"points": jnp.arange(12.0)[:, None], "weight": jnp.asarray([0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], jnp.float32)}
    x = np.asarray(fam.sample(jax.random.key(1), model, 3000, params))[:, 0]
    assert set(np.unique(x)) == {1.0, 4.0, 5.0}
    assert np.all(np.abs(np.bincount(x.astype(int), minlength=6)[[1, 4, 5]] / 3000 - 1 / 3) < 0.04)


def test_accumulate_trains_on_the_whole_buffer():
    """Under accumulate the model's support is every point so far: after t generations t n weighted rows."""
    n, T = 5, 4
    fam = kde.kde(1, n)
    from collapsim.engine import init_carry, make_step

    carry, _ = init_carry(fam, LoopConfig("accumulate", n, T), jax.random.key(0), kde.make_params("gaussian", 1, 0.2))
    assert carry.model["points"].shape == (n * T, 1) and float(carry.model["weight"].sum()) == n
    step = make_step(fam, LoopConfig("accumulate", n, T), kde.make_params("gaussian", 1, 0.2))
    for t in range(1, 3):
        carry, _ = step(carry, (jax.random.key(t), jnp.float32(0), jnp.int32(t)))
        assert float(carry.model["weight"].sum()) == n * t


@pytest.mark.parametrize("bad", [["--truth", "moons"], ["--bandwidth", "-1"], ["--dim", "0"], ["--method", "shortcut"]])
def test_bad_options_are_one_line_errors(tmp_path, bad):
    out = tmp_path / "never"
    res = CliRunner().invoke(main, ["run", "kde", "--generations", "2", "--seeds", "4", "--out", str(out), *bad])
    assert res.exit_code == 2, res.output
    assert not out.exists()
