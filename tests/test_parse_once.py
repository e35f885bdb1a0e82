"""A value is parsed once (issue 21): the alpha schedule's text is read when the run spec is made, never again
on the way through execute, the engine, the theory and the sweep; its default is written in one place; a bad
schedule is refused in one line before any work."""

import json
import os

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.engine import schedules
from collapsim.errors import ConfigError
from collapsim.runs import spec as run_spec
from collapsim.runs.spec import RunSpec

SMALL = ["--vocab", "5", "--samples", "10", "--generations", "3", "--seeds", "4"]


@pytest.fixture
def reads(monkeypatch):
    """Counts the schedule texts read (parse_schedule) and the schedules evaluated (Schedule.values)."""
    seen = {"parsed": [], "evaluated": 0}
    parse, values = schedules.parse_schedule, schedules.Schedule.values

    def counted_parse(text):
        seen["parsed"].append(text)
        return parse(text)

    def counted_values(self, generations):
        seen["evaluated"] += 1
        return values(self, generations)

    monkeypatch.setattr(schedules, "parse_schedule", counted_parse)
    monkeypatch.setattr(schedules.Schedule, "values", counted_values)
    return seen


def test_a_run_reads_its_schedule_once_from_the_command_line_to_the_theory(tmp_path, reads):
    """The categorical family under mix draws its exact theory from alpha_t: the command line, execute, the
    engine and the theory adapter all use the schedule read when the spec was made, evaluated once."""
    res = CliRunner().invoke(main, ["run", "categorical", *SMALL, "--policy", "mix", "--alpha", "0.5/t^0.7",
                                    "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert reads["parsed"] == ["0.5/t^0.7"] and reads["evaluated"] == 1
    assert json.loads((tmp_path / "r" / "config.json").read_text())["alpha"] == "0.5/t^0.7"
    reads["parsed"].clear()
    reads["evaluated"] = 0
    res = CliRunner().invoke(main, ["run", "--config", str(tmp_path / "r" / "config.json"), "--out", str(tmp_path / "again")])
    assert res.exit_code == 0, res.output
    assert reads["parsed"] == ["0.5/t^0.7"] and reads["evaluated"] == 1
    assert (tmp_path / "r" / "metrics.csv").read_bytes() == (tmp_path / "again" / "metrics.csv").read_bytes()


def test_a_sweep_s_alpha_points_are_never_spelled_and_read_back(tmp_path, reads):
    """Only the base spec's default is read; the axis values become schedules directly, spelled as before."""
    res = CliRunner().invoke(main, ["sweep", "categorical", *SMALL, "--grid", "alpha=0,0.1,0.3", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert reads["parsed"] == [run_spec.DEFAULT_ALPHA]
    rows = (tmp_path / "s" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("alpha,") and {r.split(",")[0] for r in rows[1:]} == {"0.0", "0.1", "0.3"}


def test_a_replaced_spec_carries_its_parsed_schedule(reads):
    spec = RunSpec("categorical", {"vocab": 5}, policy="mix", alpha="geom:0.5:0.9", generations=4)
    values = spec.alpha_schedule()
    moved = spec.replace(seed=3).replace(method="explicit")
    assert moved.schedule is spec.schedule and moved.alpha_schedule() is values
    longer = spec.replace(generations=6)
    assert longer.schedule is spec.schedule and longer.alpha_schedule().shape == (6,)
    assert reads["parsed"] == ["geom:0.5:0.9"] and reads["evaluated"] == 2
    assert not values.flags.writeable  # shared by the engine and the theory: nobody may write into it


def test_the_alpha_default_is_written_once(monkeypatch):
    """The command line, the API and a sweep's policy axis take the spec's default (changed here to show it)."""
    from collapsim.commands.sweep import sweep_from_options
    from collapsim.runs.registry import entry

    monkeypatch.setattr(run_spec, "DEFAULT_ALPHA", "0.25")
    assert RunSpec("categorical", policy="keep-real").alpha == "0.25"
    assert RunSpec("categorical", policy="replace").alpha == "none"
    e = entry("categorical")
    options = {o.name: o.default for o in e.options}
    sweep = sweep_from_options(e, ["policy=replace,mix"], None, False, 0, 3, 10, 4, None, None, 0, "auto", **options)
    assert [(s.policy, s.alpha) for s in map(sweep.point_spec, sweep.assignments())] == [("replace", "none"), ("mix", "0.25")]


def test_a_schedule_that_is_no_schedule_is_refused_when_the_spec_is_made():
    with pytest.raises(ConfigError, match="cannot read '1/x' in alpha schedule '1/x'"):
        RunSpec("categorical", policy="mix", alpha="1/x")


BAD = [
    ("abc", "cannot read 'abc' in alpha schedule 'abc'"),
    ("0.1,,0.2", "has an empty item (item 2)"),
    ("2/t", "alpha must lie in [0, 1]: schedule '2/t' gives 2 at generation 1"),
    ("0.5/t^-1", "gives 1.5 at generation 3"),
    ("0.1,0.2,0.3,0.4", "alpha list has 4 values but there are only 3 generations"),
]


# "none" is refused by a run; a sweep's points under mix take the default for it, as they always have.
@pytest.mark.parametrize("command,alpha,words", [("run", "none", "--alpha none: policy 'mix' reads alpha_t")]
                         + [(c, *bad) for c in ("run", "sweep") for bad in BAD])
def test_a_bad_schedule_is_one_line_before_any_work(tmp_path, monkeypatch, command, alpha, words):
    from collapsim.engine import drivers

    def no_work(*args, **kwargs):
        raise AssertionError("simulated with a bad schedule")

    monkeypatch.setattr(drivers, "run_loop", no_work)
    monkeypatch.setattr(drivers, "run_grid", no_work)
    out = tmp_path / "out"
    grid = ["--grid", "samples=10,12"] if command == "sweep" else []
    res = CliRunner().invoke(main, [command, "categorical", *SMALL, *grid, "--policy", "mix", "--alpha", alpha,
                                    "--out", str(out)])
    assert res.exit_code == 2 and isinstance(res.exception, SystemExit), (res.output, res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error: ") and words in lines[0], res.stderr
    assert not os.path.lexists(out)
