"""collapsim sweep: grid parsing, agreement with single runs, resumption after an interruption, refusal of a
foreign partial sweep, the phase diagram's theory, and the command line's one-line errors."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest

from collapsim.errors import ConfigError
from collapsim.families.categorical import ENTRY as CATEGORICAL
from collapsim.runs.spec import RunSpec

# The sweep runner module; the package's attribute collapsim.sweep is the API's function (collapsim/__init__).
from collapsim.output import sweep_folder as sweep_folder
from collapsim.sweeps import chunks as sweep_chunks
from collapsim.sweeps import plan as sweep_plan
from collapsim.sweeps import spec as sweep_spec


def _spec(**axes):
    base = RunSpec("categorical", {"vocab": 8}, {}, "mix", "0.1", samples=10, generations=5, seeds=16, seed=3)
    return sweep_spec.SweepSpec(base, tuple(sweep_spec.Axis(k, tuple(v)) for k, v in axes.items()), "final:entropy")


def test_parse_axis_ranges_lists_and_refusals():
    assert sweep_spec.parse_axis("alpha=0:1:5", CATEGORICAL).values == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert sweep_spec.parse_axis("samples=50,200", CATEGORICAL) == sweep_spec.Axis("samples", (50, 200))
    assert sweep_spec.parse_axis("top-p=0.9,1", CATEGORICAL) == sweep_spec.Axis("top_p", (0.9, 1.0))
    assert sweep_spec.parse_axis("init=zipf,uniform", CATEGORICAL).values == ("zipf", "uniform")
    for bad in ("alpha", "alpha=", "alpha=0:1", "colour=1,2", "seeds=1,2", "samples=1.5", "alpha=1,1", "init=zipf,nope",
                "alpha=0:1:0", "alpha=nan"):
        with pytest.raises(ConfigError):
            sweep_spec.parse_axis(bad, CATEGORICAL)


def test_shape_setting_values_form_separate_groups():
    groups = sweep_plan.plan(_spec(alpha=[0.0, 0.3, 0.6], samples=[10, 20]))
    assert sorted(len(g.points) for g in groups) == [3, 3]
    assert {g.cfg.samples for g in groups} == {10, 20}


def _read(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_each_grid_point_equals_its_own_run(tmp_path):
    """A sweep point's rows are the rows of `collapsim run` with that point's settings, digit for digit."""
    from collapsim.output.run import execute

    sweep = _spec(alpha=[0.0, 0.4], temperature=[1.0, 0.8])
    res = sweep_folder.execute_sweep(sweep, tmp_path / "s", progress=False)
    rows = _read(res.path / "metrics.csv")
    assert rows[0][:2] == ["alpha", "temperature"]
    run = execute(sweep.point_spec({"alpha": 0.4, "temperature": 0.8}), tmp_path / "r")
    want = [r[:6] for r in _read(run.path / "metrics.csv")[1:]]  # generation, metric, mean, stderr, lo, hi
    got = [r[2:8] for r in rows[1:] if r[0] == "0.4" and r[1] == "0.8"]
    assert sorted(got) == sorted(want)


def test_summary_theory_is_the_exact_prediction(tmp_path):
    """Replacement vs alpha = 0.5: final entropy within 4 standard errors of the exact theory column."""
    base = RunSpec("categorical", {"vocab": 20}, {}, "mix", "0.1", samples=30, generations=20, seeds=2000, seed=5)
    res = sweep_folder.execute_sweep(sweep_spec.SweepSpec(base, (sweep_spec.Axis("alpha", (0.0, 0.5)),), "final:entropy"), tmp_path / "s",
                           progress=False)
    rows = [r for r in _read(res.path / "metrics.csv")[1:] if r[1] == "20" and r[2] == "entropy"]
    assert len(rows) == 2
    for r in rows:
        mean, se, theory = float(r[3]), float(r[4]), float(r[7])
        assert abs(mean - theory) < 4 * se, r
    assert (res.path / "figure.png").stat().st_size > 10_000


class Stop(Exception):
    pass


def _table(path):
    return (path / "metrics.csv").read_text()


def test_resume_after_interruption_between_and_inside_chunks(tmp_path, monkeypatch):
    sweep = _spec(alpha=[0.0, 0.2, 0.4, 0.6])
    whole = _table(sweep_folder.execute_sweep(sweep, tmp_path / "whole", progress=False).path)
    out = tmp_path / "cut"

    def stop_after(i):  # killed between chunks: after the second chunk is on disk
        if i == 1:
            raise Stop

    with pytest.raises(Stop):
        sweep_folder.execute_sweep(sweep, out, progress=False, after_chunk=stop_after)
    partial = sweep_chunks.partial_dir(out)
    assert sorted(p.name for p in partial.iterdir()) == ["chunk-00000.npz", "chunk-00001.npz", "sweep.json"]
    assert not out.exists()

    real_savez = np.savez

    def half_written(path, **arrays):  # killed inside a chunk: while its file is being written
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half")
        raise Stop

    monkeypatch.setattr(sweep_chunks.np, "savez", half_written)
    with pytest.raises(Stop):
        sweep_folder.execute_sweep(sweep, out, progress=False)
    monkeypatch.setattr(sweep_chunks.np, "savez", real_savez)
    assert sorted(p.name for p in partial.iterdir()) == ["chunk-00000.npz", "chunk-00001.npz", "sweep.json"]

    res = sweep_folder.execute_sweep(sweep, out, progress=False)
    assert (res.computed, res.skipped) == (2, 2)
    assert _table(res.path) == whole
    assert not partial.exists()


def test_a_partial_sweep_with_another_configuration_is_refused(tmp_path):
    out = tmp_path / "s"

    def stop(i):
        raise Stop

    with pytest.raises(Stop):
        sweep_folder.execute_sweep(_spec(alpha=[0.0, 0.5]), out, progress=False, after_chunk=stop)
    with pytest.raises(ConfigError, match="another configuration"):
        sweep_folder.execute_sweep(_spec(alpha=[0.0, 0.6]), out, progress=False)


def test_chunk_size_follows_memory_and_footprint():
    sweep = _spec(alpha=list(np.linspace(0, 1, 40)))
    (group,) = sweep_plan.plan(sweep)
    results, working = sweep_plan.per_chain_bytes(group)
    assert sweep_plan.chunk_points(group, 16, 0) == 10  # no memory figure: the group in MIN_CHUNKS_PER_GROUP chunks
    tight = int(16 * (results + working) * 3 / sweep_plan.MEMORY_SHARE)  # room for three points' chains
    assert sweep_plan.chunk_points(group, 16, tight) == 3
    assert sweep_plan.chunk_points(group, 16, 1) == 1


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "collapsim", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.mark.parametrize("args, message", [
    (["--grid", "colour=1,2"], "no parameter 'colour'"),
    (["--grid", "alpha=0,0.5", "--summary", "final:nope"], "records no metric 'nope'"),
    (["--grid", "vocab=4,8", "--summary", "final:entropy", "--until-collapse"], "--summary collapse"),
    (["--grid", "generations=4,8"], "fixed for the whole sweep"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    res = _cli("sweep", "categorical", "--vocab", "8", "--seeds", "4", "--generations", "3", *args, "--out",
               str(tmp_path / "s"))
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "s").exists()


def test_a_family_trained_on_the_host_is_refused_in_one_line(tmp_path):
    # gpt2's fit is a host training loop; the grid driver cannot vmap it (this was a JAX tracer traceback).
    res = _cli("sweep", "gpt2", "--grid", "alpha=0,0.1", "--seeds", "2", "--generations", "2", "--out",
               str(tmp_path / "s"))
    assert res.returncode == 2, res.stderr
    assert "cannot be swept" in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert not (tmp_path / "s").exists()


def _env(devices):
    return dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")


GRID = ["sweep", "categorical", "--vocab", "12", "--grid", "alpha=0,0.3", "--grid", "temperature=1,0.8", "--samples",
        "20", "--generations", "6", "--seeds", "301"]


# Slow (two sweeps in subprocesses, 4 host devices): by default test_devices holds a run to the same numbers on 1, 2
# and 3 devices (the dispatch a sweep's chunks go through) and test_the_table_does_not_depend_on_the_chunking holds
# the sweep's table to its chunking.
@pytest.mark.slow
def test_four_devices_give_the_one_device_table(tmp_path):
    one, four = tmp_path / "one", tmp_path / "four"
    for out, devices in ((one, 1), (four, 4)):
        res = _cli(*GRID, "--out", str(out), env=_env(devices))
        assert res.returncode == 0, res.stderr
    assert _table(one) == _table(four), "4 devices gave other numbers than 1"


def test_config_json_reruns_the_sweep(tmp_path):
    import json

    first = sweep_folder.execute_sweep(_spec(alpha=[0.0, 0.5], samples=[10, 12]), tmp_path / "a", progress=False).path
    again = sweep_spec.SweepSpec.from_config(json.loads((first / "config.json").read_text()))
    assert _table(sweep_folder.execute_sweep(again, tmp_path / "b", progress=False).path) == _table(first)


@pytest.mark.slow
def test_two_processes_give_the_one_process_table(tmp_path):
    """jax.distributed on loopback: each process computes its share of the chunks; process 0 writes the table."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    single = tmp_path / "single"
    assert _cli(*GRID, "--out", str(single), env=_env(1)).returncode == 0
    out = tmp_path / "multi"
    procs = [subprocess.Popen([sys.executable, "-m", "collapsim", *GRID, "--out", str(out), "--coordinator",
                               f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(r)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(1))
             for r in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, e[-2000:]
    assert "process 0 writes" in outs[1][0]
    assert _table(out) == _table(single)


@pytest.mark.slow
def test_until_collapse_matches_the_exact_mean_collapse_time(tmp_path):
    """Mean collapse generation within 4 standard errors of the exact lumped-chain value (K = 3 and 6,
    n = 8); every chain collapses well before the cap, and the table says none was censored."""
    from collapsim.theory.collapse_time import mean_collapse_time

    base = RunSpec("categorical", {"vocab": 3}, {}, "replace", "none", samples=8, generations=100, seeds=1200, seed=11)
    sweep = sweep_spec.SweepSpec(base, (sweep_spec.Axis("vocab", (3, 6)),), "collapse", until_collapse=True)
    res = sweep_folder.execute_sweep(sweep, tmp_path / "c", progress=False)
    rows = _read(res.path / "metrics.csv")
    assert rows[0] == ["vocab", "metric", "mean", "stderr", "lo", "hi", "censored", "cap", "theory", "diffusion_approx"]
    from collapsim.families.categorical import zipf_truth

    for r in rows[1:]:
        K, mean, se, censored, theory = int(r[0]), float(r[2]), float(r[3]), int(r[6]), float(r[8])
        assert censored == 0
        exact = mean_collapse_time(zipf_truth(K).astype(np.float32).astype(np.float64), 8)
        assert abs(theory - exact) < 1e-6 * exact
        assert abs(mean - exact) < 4 * se, (K, mean, se, exact)


def test_until_collapse_censors_at_the_cap(tmp_path):
    """With fresh real data (mix, alpha = 0.5) a chain cannot collapse: every chain is censored at --cap."""
    base = RunSpec("categorical", {"vocab": 4}, {}, "mix", "0.5", samples=20, generations=100, seeds=64, seed=0)
    sweep = sweep_spec.SweepSpec(base, (sweep_spec.Axis("alpha", (0.5,)),), "collapse", until_collapse=True, cap=40)
    rows = _read(sweep_folder.execute_sweep(sweep, tmp_path / "c", progress=False).path / "metrics.csv")
    assert rows[1][6:8] == ["64", "40"] and float(rows[1][2]) == 40.0 and rows[1][8] == ""


@pytest.mark.slow
def test_until_collapse_gives_the_same_generations_on_one_and_four_devices(tmp_path):
    args = ["sweep", "categorical", "--grid", "vocab=3,6", "--samples", "12", "--seeds", "300", "--until-collapse"]
    for devices in (1, 4):
        res = _cli(*args, "--out", str(tmp_path / f"d{devices}"), env=_env(devices))
        assert res.returncode == 0, res.stderr
    assert _table(tmp_path / "d1") == _table(tmp_path / "d4")
    one, four = (np.load(tmp_path / f"d{d}" / "collapse_generations.npz") for d in (1, 4))
    assert all(np.array_equal(one[k], four[k]) for k in one.files)


def test_a_policy_axis_gives_alpha_only_to_the_policies_that_read_it():
    sweep = _spec(policy=["replace", "mix"])
    specs = [sweep.point_spec(a) for a in sweep.assignments()]
    assert [(s.policy, s.alpha) for s in specs] == [("replace", "none"), ("mix", "0.1")]
    for s in specs:
        s.validate()


@pytest.mark.slow
def test_a_sweep_killed_by_sigkill_resumes_to_the_same_table(tmp_path):
    """A real kill -9 while the sweep runs: only whole chunk files remain, and the same command finishes it."""
    import signal
    import time

    args = ["sweep", "categorical", "--vocab", "30", "--grid", "alpha=0:0.5:12", "--samples", "60", "--generations",
            "40", "--seeds", "400"]
    whole = tmp_path / "whole"
    assert _cli(*args, "--out", str(whole), env=_env(1)).returncode == 0
    out = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "collapsim", *args, "--out", str(out)], env=_env(1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = sweep_chunks.partial_dir(out)
    deadline = time.time() + 240
    while time.time() < deadline and not list(partial.glob("chunk-*.npz")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(partial.glob("chunk-*.npz"))
    assert done and not out.exists()
    for path in done:  # every chunk on disk is whole
        with np.load(path) as z:
            assert z["mean"].shape[0] >= 1
    res = _cli(*args, "--out", str(out), env=_env(1))
    assert res.returncode == 0, res.stderr
    assert _table(out) == _table(whole)
    assert not partial.exists() and not list(tmp_path.glob(".cut*"))


@pytest.mark.slow  # ~11 s; test_each_grid_point_equals_its_own_run keeps the table's identity in the default set
def test_the_table_does_not_depend_on_the_chunking(tmp_path, monkeypatch):
    """5 points in chunks of 2 (the last padded) and in one chunk: the same table, digit for digit."""
    sweep = _spec(alpha=[0.0, 0.1, 0.2, 0.3, 0.4])
    (group,) = sweep_plan.plan(sweep)
    assert [c.points for c in sweep_plan.make_chunks([group], 16, 0)] == [(0, 1), (2, 3), (4, 4)]
    chunked = _table(sweep_folder.execute_sweep(sweep, tmp_path / "a", progress=False).path)
    monkeypatch.setattr(sweep_plan, "MIN_CHUNKS_PER_GROUP", 1)
    assert [c.points for c in sweep_plan.make_chunks([group], 16, 0)] == [(0, 1, 2, 3, 4)]
    assert _table(sweep_folder.execute_sweep(sweep, tmp_path / "b", progress=False).path) == chunked
