"""Expensive metrics recorded every k-th generation (``--metrics-every``): the recorded values are the k = 1
run's digit for digit, the skipped ones are no numbers at all, and the run folder, the finite check, the
re-run from config.json and bad input all handle them."""

import csv
import json

import matplotlib.axes
import numpy as np
import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.engine import LoopConfig, check_finite, recorded_generations, run_host, run_loop, sparse_metrics
from collapsim.errors import ConfigError, NumericalError
from collapsim.families import categorical as cat
from collapsim.families.gaussian import default_params, gaussian
from collapsim.output.runfolder import every_kth


def _run(args):
    return CliRunner().invoke(main, args)


def _csv(folder):
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_recorded_generations_are_zero_the_multiples_and_the_last():
    assert np.flatnonzero(recorded_generations(12, 5)).tolist() == [0, 5, 10, 12]
    assert np.flatnonzero(recorded_generations(10, 5)).tolist() == [0, 5, 10]
    assert np.flatnonzero(recorded_generations(3, 50)).tolist() == [0, 3]
    assert recorded_generations(4, 1).all()
    assert every_kth(5) == "every 5th generation" and every_kth(2) == "every 2nd generation"
    assert every_kth(3) == "every 3rd generation" and every_kth(12) == "every 12th generation"
    assert every_kth(21) == "every 21st generation" and every_kth(1) == "every generation"


def _categorical(vocab=12):
    o = {"vocab": vocab, "init": "zipf", "zipf_exponent": 1.0, "dirichlet_concentration": 1.0, "top_k": 0}
    return cat.categorical(vocab), cat.params_for(o, {"temperature": 1.0, "top_p": 1.0, "smoothing": 0.0})


def _gmm():
    from collapsim.families import gmm

    truth = gmm.two_component_truth(2, 4.0, 0.5)
    return gmm.gmm(2, 2, "full", "kmeans++", 20), gmm.make_params(*truth, holdout_size=64, seed=0)


CASES = {
    "gaussian d=3 explicit (jnp Jacobi)": lambda: (gaussian(3, "full", 0), default_params(3), "replace", 20, False),
    "gaussian d=10 shortcut": lambda: (gaussian(10, "full", 1), default_params(10), "replace", 40, True),
    "gaussian d=6 thin fit n<=d": lambda: (gaussian(6, "full", 0), default_params(6), "replace", 4, False),
    "gaussian d=18 mix (LAPACK)": lambda: (gaussian(18, "full", 1), default_params(18), "mix", 30, False),
    "categorical shortcut": lambda: (*_categorical(), "replace", 15, True),
    "categorical explicit mix": lambda: (*_categorical(), "mix", 15, False),
    "gmm": lambda: (*_gmm(), "replace", 40, False),
}
SLOW = ("gaussian d=3 explicit (jnp Jacobi)", "gaussian d=10 shortcut", "gaussian d=6 thin fit n<=d",
        "gaussian d=18 mix (LAPACK)", "categorical explicit mix", "gmm")


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW else c for c in CASES])
def test_recorded_values_equal_the_every_generation_run_digit_for_digit(case):
    family, params, policy, n, shortcut = CASES[case]()
    T, k, seeds = 12, 5, 24
    alpha = np.full(T, 0.3)
    every = run_loop(family, LoopConfig(policy, n, T, shortcut), params, alpha, seeds, seed=4)
    sparse = run_loop(family, LoopConfig(policy, n, T, shortcut, k), params, alpha, seeds, seed=4)
    mask = recorded_generations(T, k)
    assert family.expensive and set(family.expensive) <= set(every)
    for name in every:
        if name in family.expensive:
            np.testing.assert_array_equal(sparse[name][:, mask], every[name][:, mask], err_msg=name)
            assert np.isnan(sparse[name][:, ~mask]).all(), f"{name}: a skipped generation carries a number"
            assert np.isfinite(sparse[name][:, mask]).all()
        else:  # cheap metrics: every generation, and the random stream is unchanged
            np.testing.assert_array_equal(sparse[name], every[name], err_msg=name)


@pytest.mark.slow
def test_host_driver_records_the_same_generations_as_the_scan():
    family, params = gaussian(3, "full", 0), default_params(3)
    cfg = LoopConfig("replace", 10, 7, False, 3)
    scan = run_loop(family, cfg, params, np.zeros(7), 8, seed=2)
    host = run_host(family, cfg, params, np.zeros(7), 8, seed=2)
    for name in scan:
        np.testing.assert_array_equal(host[name], scan[name], err_msg=name)  # NaN == NaN for array_equal here
    assert np.isnan(host["w2sq"][:, [1, 2, 4, 5]]).all() and np.isfinite(host["w2sq"][:, [0, 3, 6, 7]]).all()


def test_eager_step_records_like_the_compiled_one():
    """A concrete generation index (the host training loop calls the step eagerly) chooses by a Python if."""
    import jax

    from collapsim.engine import metrics_at

    family, params = gaussian(3, "full", 0), default_params(3)
    cfg = LoopConfig("replace", 10, 12, False, 5)
    model = family.init(None, params)
    key = jax.random.key(0)
    assert np.isnan(float(metrics_at(family, cfg, key, model, params, 3)["w2sq"]))
    for t in (5, 10, 12):
        m = metrics_at(family, cfg, key, model, params, t)
        assert np.isfinite(float(m["w2sq"])) and float(m["sigma2"]) == pytest.approx(1.0)


def test_families_without_expensive_metrics_record_everything():
    from collapsim.families.kde import kde

    for family in (gaussian(1), gaussian(4, "isotropic"), kde(1, 10, "gaussian")):
        assert family.expensive == () and sparse_metrics(family, LoopConfig("replace", 10, 9, False, 4)) == {}
    family, params = gaussian(1), default_params(1)
    out = run_loop(family, LoopConfig("replace", 10, 9, False, 4), params, np.zeros(9), 4)
    assert all(np.isfinite(v).all() for v in out.values())


def test_finite_check_skips_only_the_unrecorded_entries():
    family, params = gaussian(3, "full", 0), default_params(3)
    cfg = LoopConfig("replace", 10, 7, False, 3)
    out = run_loop(family, cfg, params, np.zeros(7), 8, seed=2)
    recorded = sparse_metrics(family, cfg)
    assert set(recorded) == {"w2sq"}
    check_finite(out, recorded)  # NaN only where nothing was recorded: a legal state
    with pytest.raises(NumericalError, match="w2sq"):
        check_finite(out)  # without the mask the same NaN are refused
    out["w2sq"][3, 3] = np.inf  # generation 3 is recorded: a non-finite value there is still an error
    with pytest.raises(NumericalError, match="generation 3"):
        check_finite(out, recorded)
    assert sparse_metrics(family, LoopConfig("replace", 10, 7, False)) == {}


def test_engine_refuses_a_bad_interval():
    family, params = gaussian(1), default_params(1)
    for bad in (0, -2):
        with pytest.raises(ConfigError, match="metrics-every"):
            run_loop(family, LoopConfig("replace", 10, 4, False, bad), params, np.zeros(4), 4)


@pytest.mark.slow
def test_run_folder_has_no_rows_for_skipped_generations_and_reruns_from_config(tmp_path, monkeypatch):
    titles = []
    original = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda ax, t, *a, **k: (titles.append(t), original(ax, t, *a, **k))[1])
    args = ["run", "gaussian", "--dim", "4", "--samples", "12", "--generations", "11", "--seeds", "30", "--seed", "5"]
    assert _run([*args, "--out", str(tmp_path / "every")]).exit_code == 0
    res = _run([*args, "--metrics-every", "4", "--out", str(tmp_path / "sparse")])
    assert res.exit_code == 0, res.output
    assert "nan" not in res.output.split("wrote")[0].lower()  # the printed table shows recorded generations only
    every, sparse = _csv(tmp_path / "every"), _csv(tmp_path / "sparse")
    w2 = [r for r in sparse if r["metric"] == "w2sq"]
    assert [int(r["generation"]) for r in w2] == [0, 4, 8, 11]
    assert all(v.lower() not in ("nan", "inf", "-inf") for r in sparse for v in r.values())
    # every row that is there is the k = 1 run's row, character for character; only w2sq rows are missing
    assert [r for r in every if r["metric"] != "w2sq" or int(r["generation"]) in (0, 4, 8, 11)] == sparse
    config = json.loads((tmp_path / "sparse" / "config.json").read_text())
    assert config["metrics_every"] == 4
    assert config["sparse_metrics"]["metrics"] == ["w2sq"] and config["sparse_metrics"]["generations"] == [0, 4, 8, 11]
    assert "w2sq, every 4th generation" in titles and "sigma2" in titles
    res = _run(["run", "--config", str(tmp_path / "sparse" / "config.json"), "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again" / "metrics.csv").read_bytes() == (tmp_path / "sparse" / "metrics.csv").read_bytes()
    assert "every 4th generation" not in "".join(t for t in titles if t.startswith("sigma2"))


@pytest.mark.parametrize("args", [
    ["gaussian", "--dim", "3", "--samples", "4", "--ddof", "0", "--generations", "40", "--metrics-every", "7"],
    ["categorical", "--vocab", "20", "--samples", "1", "--generations", "40", "--metrics-every", "6"],
])
def test_a_collapsing_run_passes_the_finite_check(tmp_path, args):
    res = _run(["run", *args, "--seeds", "16", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    rows = _csv(tmp_path / "run")
    assert rows and all(np.isfinite(float(r["mean"])) for r in rows)
    family = args[0]
    sparse = json.loads((tmp_path / "run" / "config.json").read_text())["sparse_metrics"]
    assert sparse["generations"][-1] == 40
    for name in sparse["metrics"]:
        assert {int(r["generation"]) for r in rows if r["metric"] == name} == set(sparse["generations"]), (family, name)


@pytest.mark.parametrize("bad", ["0", "-3", "1.5"])
def test_bad_interval_is_one_line_exit_2_nothing_written(tmp_path, bad):
    res = _run(["run", "gaussian", "--dim", "3", "--generations", "4", "--seeds", "4", "--metrics-every", bad,
                "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
    assert "metrics-every" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_sweep_refuses_a_sparse_interval():
    from collapsim.runs.spec import RunSpec
    from collapsim.sweeps.spec import Axis, SweepSpec, validate

    sweep = SweepSpec(RunSpec("categorical", metrics_every=5), (Axis("samples", (10, 20)),))
    with pytest.raises(ConfigError, match="every metric every generation"):
        validate(sweep)
    validate(SweepSpec(sweep.base.replace(metrics_every=1), sweep.axes))  # the same sweep at k = 1 is fine


@pytest.mark.slow
def test_thin_gaussian_fits_carry_w2_so_nothing_is_sparse(tmp_path):
    """At n <= d every fit is thin and its model carries W2's cross term (cheap from the n-column factor),
    so W2 is recorded every generation whatever --metrics-every says, and the run folder says nothing is sparse."""
    res = _run(["run", "gaussian", "--dim", "10", "--samples", "2", "--ddof", "0", "--generations", "12",
                "--metrics-every", "5", "--seeds", "8", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    rows = _csv(tmp_path / "run")
    assert {int(r["generation"]) for r in rows if r["metric"] == "w2sq"} == set(range(13))
    assert all(np.isfinite(float(r["mean"])) for r in rows)
    assert not json.loads((tmp_path / "run" / "config.json").read_text()).get("sparse_metrics")
