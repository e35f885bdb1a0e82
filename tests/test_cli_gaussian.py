"""`collapsim run gaussian`: the run folder contract, theory agreement, and one-line errors for bad input."""

import csv
import json

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main


def _run(args):
    return CliRunner().invoke(main, args)


def _rows(folder, metric):
    with open(folder / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r["metric"] == metric]


@pytest.mark.parametrize("extra", [[], ["--ddof", "0"], ["--policy", "mix", "--alpha", "0.3"]], ids=["ddof1", "ddof0", "mix0.3"])
def test_issue_command_sigma2_within_4_stderr(tmp_path, extra):
    out = tmp_path / "run"
    res = _run(["run", "gaussian", "--generations", "40", "--samples", "20", "--seeds", "4000", "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.csv", "figure.png", ".collapsim"}
    with open(out / "metrics.csv") as f:
        assert next(csv.reader(f)) == ["generation", "metric", "mean", "stderr", "lo", "hi", "theory"]
    rows = _rows(out, "sigma2")
    assert len(rows) == 41
    for r in rows:
        mean, se, theory = float(r["mean"]), float(r["stderr"]), float(r["theory"])
        assert abs(mean - theory) <= max(4 * se, 1e-6), r
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seeds"] == 4000 and cfg["seed"] == 0 and "jax" in cfg["versions"]
    assert (out / "figure.png").stat().st_size > 10_000


def test_same_seed_same_numbers(tmp_path):
    args = ["run", "gaussian", "--generations", "5", "--samples", "10", "--seeds", "50"]
    assert _run([*args, "--out", str(tmp_path / "a")]).exit_code == 0
    assert _run([*args, "--out", str(tmp_path / "b")]).exit_code == 0
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_policy_without_theory_leaves_theory_column_empty(tmp_path):
    res = _run(["run", "gaussian", "--generations", "5", "--samples", "10", "--seeds", "20", "--policy", "accumulate", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert all(r["theory"] == "" for r in _rows(tmp_path / "r", "sigma2"))


@pytest.mark.parametrize(
    "bad",
    [
        ["--samples", "0"],
        ["--alpha", "1.5", "--policy", "mix"],
        ["--policy", "nope"],
        ["--generations", "-3"],
        ["--ddof", "2", "--samples", "2"],
        ["--alpha", "2/t", "--policy", "mix"],
        ["--dim", "0"],
        ["--seed", "-1"],
        ["--seed", "4294967296"],
        ["--variance", "0"],
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, bad):
    out = tmp_path / "run"
    res = _run(["run", "gaussian", "--seeds", "10", "--out", str(out), *bad])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:"), res.stderr
    assert "Traceback" not in res.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_run(tmp_path):
    """A project folder that happens to hold a config.json used to be wiped (exit 0)."""
    (tmp_path / "precious.txt").write_text("keep me")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print(1)")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = _run(["run", "gaussian", "--seeds", "10", "--generations", "3", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "did not write" in res.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
