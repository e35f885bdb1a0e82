"""The Python API (collapsim.run / sweep / load): the command's folder and numbers, its one-line messages as
exceptions, the pandas-free rows, figures that are figure.png drawn again, and `collapsim.sweep` staying the
function once the sweep module is imported."""

import csv
import importlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import collapsim
from collapsim.errors import ConfigError
from collapsim.runs.spec import RunSpec

# Categorical replacement, entropy and KL recorded every 2nd generation, entropy with a drawn approximation.
RUN = dict(vocab=6, generations=6, samples=10, seeds=8, seed=3, metrics_every=2)
RUN_ARGS = ["--vocab", "6", "--generations", "6", "--samples", "10", "--seeds", "8", "--seed", "3", "--metrics-every", "2"]
# Two axes (a phase diagram), one compiled group (every temperature != 1 shares the tempered family).
SWEEP = dict(grid={"alpha": [0.0, 0.5], "temperature": "0.8,0.9"}, vocab=6, samples=10, generations=5, seeds=8, seed=3)
SWEEP_ARGS = ["--grid", "alpha=0,0.5", "--grid", "temperature=0.8,0.9", "--vocab", "6", "--samples", "10",
              "--generations", "5", "--seeds", "8", "--seed", "3"]


def _cli(args: list, capsys) -> tuple[int, str]:
    """(exit code, stderr) of `collapsim ARGS`, through the command's own entry point in this process (JAX is
    imported already, so the command's device setting is left as the test process has it)."""
    import jax  # noqa: F401
    from collapsim.commands.cli import main

    with pytest.raises(SystemExit) as exit_:
        main.main(args)
    return exit_.value.code, capsys.readouterr().err


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110)  # the dpi the commands write figure.png with
    return buf.getvalue()


@pytest.fixture(scope="module")
def run_pair(tmp_path_factory):
    """The same run by the API and by the command."""
    tmp = tmp_path_factory.mktemp("run")
    import jax  # noqa: F401
    from collapsim.commands.cli import main

    with pytest.raises(SystemExit) as exit_:  # (a module's fixture has no capsys: the table goes to the log)
        main.main(["run", "categorical", *RUN_ARGS, "--out", str(tmp / "cli")])
    assert exit_.value.code == 0
    return collapsim.run("categorical", out=tmp / "api", **RUN), tmp / "cli"


def test_a_run_is_the_command_s_run(run_pair):
    import pandas as pd

    res, cli = run_pair
    assert res.kind == "run" and res.path.name == "api"
    assert (res.path / "metrics.csv").read_bytes() == (cli / "metrics.csv").read_bytes()
    assert RunSpec.from_config(res.config) == RunSpec.from_config(collapsim.load(cli).config)
    pd.testing.assert_frame_equal(res.metrics, pd.read_csv(cli / "metrics.csv"), check_exact=True)
    assert {"entropy", "kl", "support"} <= set(res.metrics.metric)


def test_plot_draws_figure_png_again(run_pair):
    """Drawn from metrics.csv and config.json, the figure is figure.png byte for byte: the metrics recorded
    every 2nd generation, and the entropy panel's dotted small-noise approximation (not in metrics.csv: it is
    computed again from the spec) included."""
    from matplotlib.figure import Figure

    res, _ = run_pair
    fig = collapsim.load(str(res.path)).plot()
    assert isinstance(fig, Figure) and fig.canvas.manager is None  # not pyplot's
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert any(label.startswith("small-noise approx") for label in labels)
    assert _png(fig) == (res.path / "figure.png").read_bytes()


def test_a_sweep_is_the_command_s_sweep(tmp_path, capsys):
    code, err = _cli(["sweep", "categorical", *SWEEP_ARGS, "--out", str(tmp_path / "cli")], capsys)
    assert code == 0, err
    res = collapsim.sweep("categorical", out=tmp_path / "api", **SWEEP)
    assert res.kind == "sweep"
    assert (res.path / "metrics.csv").read_bytes() == (tmp_path / "cli" / "metrics.csv").read_bytes()
    assert list(res.metrics.columns[:3]) == ["alpha", "temperature", "generation"]
    assert sorted(set(res.metrics.alpha)) == [0.0, 0.5] and sorted(set(res.metrics.temperature)) == [0.8, 0.9]
    assert _png(res.plot()) == (res.path / "figure.png").read_bytes()
    # Whatever imported the sweep module meanwhile, the package's attribute is still the function.
    assert collapsim.sweep is collapsim.api.sweep
    assert importlib.import_module("collapsim.sweeps.spec").SweepSpec.__module__ == "collapsim.sweeps.spec"


@pytest.mark.slow
def test_plot_shades_the_heavy_tailed_generations_again(tmp_path):
    """The issue's Gaussian (d = 3, ddof 0, n = 10): det_ratio's mean cannot estimate its expectation, which
    config.json's heavy_tails records and the figure shades; drawn again, the figure is figure.png."""
    res = collapsim.run("gaussian", dim=3, ddof=0, samples=10, generations=30, seeds=300, seed=0, out=tmp_path / "g")
    assert "det_ratio" in res.config["heavy_tails"]["metrics"]
    assert _png(res.plot()) == (res.path / "figure.png").read_bytes()


@pytest.mark.slow
def test_an_until_collapse_sweep_draws_its_figure_again(tmp_path):
    res = collapsim.sweep("categorical", grid="vocab=3,4", samples=6, seeds=8, seed=1, until_collapse=True,
                          out=tmp_path / "c")
    assert list(res.metrics.metric) == ["collapse_generation"] * 2
    assert _png(res.plot()) == (res.path / "figure.png").read_bytes()


# (keyword arguments, the same options on the command line)
BAD = [
    (dict(dim="x"), ["--dim", "x"]),
    (dict(dimm=3), ["--dimm", "3"]),
    (dict(generations=2.5), ["--generations", "2.5"]),
    (dict(policy="nope"), ["--policy", "nope"]),
    (dict(alpha=0.1), ["--alpha", "0.1"]),
    (dict(seeds=1), ["--seeds", "1"]),
    (dict(policy="mix", alpha="1/x"), ["--policy", "mix", "--alpha", "1/x"]),
    (dict(seed=-1), ["--seed", "-1"]),
    (dict(variance=-1.0), ["--variance", "-1.0"]),
]


def _cli_error(args, capsys) -> str:
    """The one line `collapsim ARGS` prints for a user error, without its prefix."""
    code, err = _cli(args, capsys)
    assert code == 2 and err.startswith("collapsim: error: ") and err.count("\n") == 1, err
    return err.strip().removeprefix("collapsim: error: ")


@pytest.mark.parametrize("kwargs,args", BAD, ids=[" ".join(a) for _, a in BAD])
def test_bad_input_raises_the_command_s_message(kwargs, args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    want = _cli_error(["run", "gaussian", *args], capsys)
    with pytest.raises(ConfigError) as err:
        collapsim.run("gaussian", **kwargs)
    assert str(err.value) == want
    assert isinstance(err.value, ValueError)
    assert not os.listdir(tmp_path)  # refused before any work: nothing written


@pytest.mark.parametrize("kwargs,args", [
    (dict(grid="colour=1,2"), ["--grid", "colour=1,2"]),
    (dict(grid={"alpha": [0.1, 0.1]}), ["--grid", "alpha=0.1,0.1"]),
    (dict(grid={"alpha": "0:1"}), ["--grid", "alpha=0:1"]),
    (dict(grid={"alpha": [0.1]}, summary="final:nope"), ["--grid", "alpha=0.1", "--summary", "final:nope"]),
], ids=["unknown axis", "repeated value", "bad range", "unknown metric"])
def test_bad_sweep_input_raises_the_command_s_message(kwargs, args, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    want = _cli_error(["sweep", "categorical", *args], capsys)
    with pytest.raises(ConfigError) as err:
        collapsim.sweep("categorical", **kwargs)
    assert str(err.value) == want


def test_refusals_of_the_api_s_own():
    with pytest.raises(ConfigError, match="unknown family 'nope'"):
        collapsim.run("nope")
    with pytest.raises(ConfigError, match="--coordinator HOST:PORT"):
        collapsim.sweep("categorical", grid={"alpha": [0.1]}, coordinator="localhost:1234")
    with pytest.raises(ConfigError, match="not a collapsim run or sweep folder"):
        collapsim.load(os.getcwd())


def test_without_pandas_metrics_are_plain_rows(run_pair, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    res, cli = run_pair
    rows = collapsim.load(res.path).metrics
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    with open(cli / "metrics.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(rows) == len(lines)
    for row, line in zip(rows, lines):
        assert row["generation"] == int(line["generation"]) and isinstance(row["generation"], int)
        assert row["metric"] == line["metric"]
        assert row["mean"] == float(line["mean"]) and isinstance(row["mean"], float)
        assert row["theory"] == (None if line["theory"] == "" else float(line["theory"]))
    # entropy is recorded every 2nd generation: no row at generation 1
    assert [r["generation"] for r in rows if r["metric"] == "entropy"] == [0, 2, 4, 6]


def test_without_pandas_an_empty_cell_is_none(tmp_path, monkeypatch):
    """A hand-written folder: an empty theory cell is None, nan and inf are floats, the metric stays text."""
    monkeypatch.setitem(sys.modules, "pandas", None)
    (tmp_path / "config.json").write_text('{"family": "gaussian"}')
    (tmp_path / "metrics.csv").write_text("generation,metric,mean,stderr,lo,hi,theory\n"
                                          "0,w2sq,0.0,0.0,0.0,0.0,\n3,1e5,nan,inf,-1,2,0.25\n")
    assert collapsim.load(tmp_path).metrics[0]["theory"] is None
    last = collapsim.load(tmp_path).metrics[1]
    assert last["metric"] == "1e5" and last["theory"] == 0.25 and last["stderr"] == float("inf")
    assert isinstance(last["mean"], float) and last["mean"] != last["mean"] and last["lo"] == -1


def test_sweep_attribute_survives_the_submodule_s_first_import():
    """In a fresh process: importing collapsim stays light, and importing the sweep module (which makes the
    import system bind it on the package) leaves collapsim.sweep the API's function."""
    code = ("import sys, collapsim; "
            "assert not {'jax', 'numpy', 'click', 'matplotlib'} & set(sys.modules), sorted(sys.modules); "
            "import collapsim.sweeps.run; from collapsim.sweeps.spec import SweepSpec; import collapsim.output.sweep_table; "
            "from collapsim import api; "
            "assert collapsim.sweep is api.sweep and collapsim.run is api.run and collapsim.load is api.load; "
            "assert sys.modules['collapsim.sweeps.spec'].SweepSpec is SweepSpec")
    # the child imports this checkout's collapsim, as this process does
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
