"""The ``collapsim sweep`` fuzz findings of issue 26: each bad input is refused before any work with one
line on stderr and exit code 2, nothing written, no traceback; a truncated chunk file is recomputed.

Each command line below once gave a traceback, an out-of-memory allocation or a silent hang. The cases run
in-process (click's runner: a second or so each saved); the fuzz's own command lines also run as real
processes, and so does the coordinator timeout (its watchdog ends the process)."""

import json
import subprocess
import sys
import time

import jax  # noqa: F401  imported first, so the in-process CLI leaves the test process's device count alone
import pytest
from click.testing import CliRunner

from collapsim.errors import ConfigError
from collapsim.memory import GiB
from collapsim.runs.spec import RunSpec

from collapsim.output import sweep_folder as sweep_folder
from collapsim.sweeps import chunks as sweep_chunks
from collapsim.sweeps import plan as sweep_plan
from collapsim.sweeps import spec as sweep_spec

SMALL = ["--vocab", "8", "--samples", "10", "--seeds", "4", "--generations", "3"]


def _cli(*args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "collapsim", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _config(tmp_path, axes):
    """A sweep config file as `collapsim sweep` writes it, with the given axes list."""
    base = RunSpec("categorical", {"vocab": 8}, {}, "mix", "0.1", samples=10, generations=3, seeds=4, seed=0)
    config = sweep_spec.SweepSpec(base, (sweep_spec.Axis("alpha", (0.0,)),), "final:entropy").to_dict()
    config["sweep"]["axes"] = axes
    path = tmp_path / "in" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    return ["--config", str(path)]


CASES = {
    # 1. sizes: a range COUNT refused before the axis array is allocated (this one asked for 745 GiB) ...
    "grid-count-huge": (["categorical", "--grid", "alpha=0:1:99999999999"],
                        "99,999,999,999 values; a sweep takes at most 1,000,000 points"),
    "grid-count-overflow": (["categorical", "--grid", "alpha=0:1:1e400"], "cannot read '1e400' as int"),
    # ... and a grid whose table and summaries cannot fit on any machine, refused with the estimate.
    "grid-over-memory": (["categorical", *SMALL[:-2], "--generations", "100000", "--grid", "alpha=0:1:100000"],
                         "a sweep of 100,000 points x 4 seeds, 100000 generations of 8 metrics "
                         "(80,000,800,000 table rows), needs ~"),
    # 2. --coordinator: the address is checked before JAX starts (garbage was an IndexError traceback inside
    # jax; nonexistent.invalid:1234 was retried in silence for minutes).
    "coordinator-garbage": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", "garbage"],
                            "--coordinator 'garbage': expected HOST:PORT, e.g. 10.0.0.1:1234"),
    "coordinator-garbage-full": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", "garbage",
                                  "--num-processes", "2", "--process-id", "0"],
                                 "--coordinator 'garbage': expected HOST:PORT"),
    "coordinator-no-host": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", ":1234",
                             "--num-processes", "2", "--process-id", "1"], "expected HOST:PORT"),
    "coordinator-port-range": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", "localhost:70000",
                                "--num-processes", "2", "--process-id", "1"],
                               "--coordinator 'localhost:70000': port 70000 is outside 1..65535"),
    "coordinator-unresolvable": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator",
                                  "nonexistent.invalid:1234", "--num-processes", "2", "--process-id", "1"],
                                 "--coordinator nonexistent.invalid:1234: cannot resolve host 'nonexistent.invalid'"),
    "coordinator-timeout-0": (["categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", "127.0.0.1:1234",
                               "--num-processes", "2", "--process-id", "1", "--coordinator-timeout", "0"],
                              "--coordinator-timeout must be at least 1 second, got 0"),
    # 3. a value given twice on an axis would make two rows with the same key (10:11:3 rounds to 10, 10, 11).
    "grid-duplicate": (["categorical", *SMALL, "--grid", "alpha=0.1,0.1"],
                       "--grid alpha: the value 0.1 appears twice (two grid points would share a row key)"),
    "grid-duplicate-spelling": (["categorical", *SMALL, "--grid", "alpha=0,0.10,0.1"], "the value 0.1 appears twice"),
    "grid-duplicate-int": (["categorical", *SMALL, "--grid", "samples=10,1e1"], "--grid samples: the value 10 appears"),
    "grid-duplicate-range": (["categorical", *SMALL, "--grid", "samples=10:11:3"], "the value 10 appears twice"),
    "grid-duplicate-choice": (["categorical", *SMALL, "--grid", "init=zipf,uniform,zipf"],
                              "--grid init: the value 'zipf' appears twice"),
    "config-duplicate": (["--config", [["alpha", [0.1, 0.1]]]],
                         "sweep axis alpha: the value 0.1 appears twice (two grid points would share a row key)"),
    "config-duplicate-second-axis": (["--config", [["alpha", [0.0, 0.5]], ["vocab", [4, 6, 4]]]],
                                     "sweep axis vocab: the value 4 appears twice"),
}


def _assert_one_line(returncode, stdout, stderr, message):
    assert returncode == 2, stderr[-2000:]
    assert stderr.count("\n") == 1 and stderr.startswith("collapsim: error: "), stderr[-2000:]
    assert message in stderr, stderr
    assert "Traceback" not in stderr and stdout == ""


@pytest.mark.parametrize("args, message", CASES.values(), ids=CASES.keys())
def test_bad_sweep_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, args, message):
    from collapsim.commands.cli import main

    if "--config" in args:
        args = [*_config(tmp_path, args[args.index("--config") + 1]), *args[args.index("--config") + 2:]]
    else:
        args = [*args, "--out", str(tmp_path / "out")]
    monkeypatch.chdir(tmp_path)  # a sweep without --out would go to ./runs
    t0 = time.perf_counter()
    res = CliRunner().invoke(main, ["sweep", *args])
    assert isinstance(res.exception, SystemExit), res.exception  # any other exception is a traceback
    _assert_one_line(res.exit_code, res.stdout, res.stderr, message)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["in"], []), list(tmp_path.iterdir())  # nothing written
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("case", ["grid-count-huge", "coordinator-garbage-full", "coordinator-unresolvable"])
def test_the_fuzzed_command_lines_as_processes(tmp_path, case):
    """The fuzz's own command lines through `python -m collapsim` (the console entry, a fresh process)."""
    args, message = CASES[case]
    args = [*args, "--out", str(tmp_path / "out")]
    t0 = time.perf_counter()
    res = _cli("sweep", *args, cwd=tmp_path)
    _assert_one_line(res.returncode, res.stdout, res.stderr, message)
    assert sorted(p.name for p in tmp_path.iterdir()) in (["in"], []), list(tmp_path.iterdir())
    assert time.perf_counter() - t0 < 30


def _base(**kw):
    return RunSpec("categorical", {"vocab": 50}, {}, "mix", "0.1", **{"samples": 200, "generations": 100,
                                                                      "seeds": 256, "seed": 0, **kw})


def test_memory_estimate_refuses_the_fuzzed_grid_and_passes_a_small_one():
    """alpha=0:1:100000 at the defaults silently grew to 4.6 GB and more: 80.8 million table rows are at
    least 400 bytes each, so it needs more than 30 GiB; a 16 GiB machine refuses it, and a 21-point grid
    passes on it."""
    big = sweep_spec.SweepSpec(_base(), (sweep_spec.parse_axis("alpha=0:1:100000", sw_entry()),), "final:entropy")
    with pytest.raises(ConfigError, match=r"100,000 points x 256 seeds.*80,800,000 table rows.*needs ~3\d\.\d GiB, "
                                          r"this machine has 16 GiB"):
        sweep_plan.check_sweep_memory(big, available=16 * GiB)
    sweep_plan.check_sweep_memory(sweep_spec.SweepSpec(_base(), (sweep_spec.parse_axis("alpha=0:1:21", sw_entry()),), "final:entropy"),
                          available=16 * GiB)


def test_memory_estimate_takes_the_largest_point_of_a_size_axis():
    """A samples axis: a chunk holds at least one point's chains, so the largest samples value counts (2e6
    samples: a chain's working set is 32 bytes x 2e6 = 64 MB, beyond 40 MiB; 20 samples need ~11 MB)."""
    e = sw_entry()
    small = sweep_spec.SweepSpec(_base(), (sweep_spec.parse_axis("samples=10,20", e),), "final:entropy")
    large = sweep_spec.SweepSpec(_base(), (sweep_spec.parse_axis("samples=10,2000000", e),), "final:entropy")
    assert sweep_plan._largest_point(large) == {"samples": 2000000}
    with pytest.raises(ConfigError, match="2 points"):
        sweep_plan.check_sweep_memory(large, available=40 * 2**20)
    sweep_plan.check_sweep_memory(small, available=40 * 2**20)


def sw_entry():
    from collapsim.families.categorical import ENTRY as CATEGORICAL

    return CATEGORICAL


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_coordinator_port_in_use_is_refused_for_process_0(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = _cli("sweep", "categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", f"127.0.0.1:{port}",
                   "--num-processes", "2", "--process-id", "0", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr[-2000:]
    assert f"process 0 cannot serve on port {port}" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_processes_that_never_join_end_in_one_line_after_the_timeout(tmp_path):
    """A coordinator that resolves but never answers (process 1 started alone): JAX's client would abort with
    a C++ stack trace after its own deadline; the watchdog gives one line after --coordinator-timeout (process
    0 alone takes the same path: it waits in the same connect call)."""
    t0 = time.perf_counter()
    res = _cli("sweep", "categorical", *SMALL, "--grid", "alpha=0,1", "--coordinator", f"127.0.0.1:{_free_port()}",
               "--num-processes", "2", "--process-id", "1", "--coordinator-timeout", "1",
               "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr[-2000:]
    assert "not all 2 processes joined within 1 s" in res.stderr
    assert list(tmp_path.iterdir()) == []
    assert time.perf_counter() - t0 < 30


# 4. A chunk file damaged on disk (a full disk, a bad copy) used to raise BadZipFile on every re-run until
# the hidden partial folder was deleted by hand; now it is computed again, with a note on stderr.

class Stop(Exception):
    pass


def _small_sweep():
    """test_sweep.py's resume sweep, so that in the suite both files share one compiled program."""
    base = RunSpec("categorical", {"vocab": 8}, {}, "mix", "0.1", samples=10, generations=5, seeds=16, seed=3)
    return sweep_spec.SweepSpec(base, (sweep_spec.Axis("alpha", (0.0, 0.2, 0.4, 0.6)),), "final:entropy")


@pytest.fixture(scope="module")
def clean_table(tmp_path_factory):
    """metrics.csv of the sweep run in one go (four chunks of one point each)."""
    res = sweep_folder.execute_sweep(_small_sweep(), tmp_path_factory.mktemp("clean") / "s", progress=False)
    return (res.path / "metrics.csv").read_text()


def _interrupted(out):
    """The sweep's partial folder with every chunk on disk, as a kill just before publishing leaves it."""
    def stop(i):
        if i == 3:
            raise Stop

    with pytest.raises(Stop):
        sweep_folder.execute_sweep(_small_sweep(), out, progress=False, after_chunk=stop)
    partial = sweep_chunks.partial_dir(out)
    assert sorted(p.name for p in partial.glob("chunk-*.npz")) == [f"chunk-0000{i}.npz" for i in range(4)]
    return partial


def test_a_truncated_chunk_is_computed_again_and_the_table_is_the_clean_one(tmp_path, capsys, clean_table):
    out = tmp_path / "s"
    partial = _interrupted(out)
    cut = partial / "chunk-00001.npz"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    capsys.readouterr()
    res = sweep_folder.execute_sweep(_small_sweep(), out, progress=False)
    err = capsys.readouterr().err
    assert f"note: {cut} is unreadable (BadZipFile); computing chunk 1 again" in err, err
    assert (res.computed, res.skipped) == (1, 3)
    assert (res.path / "metrics.csv").read_text() == clean_table
    assert not partial.exists()


def _arrays(path):
    import numpy as np

    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _save(path, arrays):
    import numpy as np

    with open(path, "wb") as f:  # np.savez on a name adds .npz; a file object keeps the chunk's own name
        np.savez(f, **arrays)


DAMAGE = {  # chunk index -> (how its file is damaged, the note's reason)
    0: (lambda p: p.write_bytes(b""), "unreadable (EOFError)"),
    1: (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4), "unreadable (BadZipFile)"),
    2: (lambda p: _save(p, {**_arrays(p), "mean": _arrays(p)["mean"][:, :, :3]}),
        "holding 'mean' of shape (1, 8, 3), not (1, 8, 6)"),
    3: (lambda p: _save(p, {k: v for k, v in _arrays(p).items() if k != "hi"}), "missing its 'hi' array"),
}


def test_damaged_or_mismatched_chunks_are_computed_again(tmp_path, capsys, clean_table):
    """An empty file, garbage after a zip header, a summary of the wrong shape, a missing array, and one
    chunk's file put in place of another's: each is recomputed and the table is the clean one."""
    out = tmp_path / "s"
    partial = _interrupted(out)
    moved = tmp_path / "chunk-3-copy.npz"
    moved.write_bytes((partial / "chunk-00003.npz").read_bytes())
    for i, (damage, _) in DAMAGE.items():
        damage(partial / f"chunk-0000{i}.npz")
    capsys.readouterr()
    res = sweep_folder.execute_sweep(_small_sweep(), out, progress=False)
    err = capsys.readouterr().err
    for i, (_, why) in DAMAGE.items():
        assert f"note: {partial / f'chunk-0000{i}.npz'} is {why}; computing chunk {i} again" in err, err
    assert (res.computed, res.skipped) == (4, 0)
    assert (res.path / "metrics.csv").read_text() == clean_table

    partial = _interrupted(tmp_path / "t")  # chunk 3's (valid) file in chunk 2's place: other grid points
    (partial / "chunk-00002.npz").write_bytes(moved.read_bytes())
    capsys.readouterr()
    res = sweep_folder.execute_sweep(_small_sweep(), tmp_path / "t", progress=False)
    assert "chunk-00002.npz is not this chunk's grid points; computing chunk 2 again" in capsys.readouterr().err
    assert (res.computed, res.skipped) == (1, 3)
    assert (res.path / "metrics.csv").read_text() == clean_table
