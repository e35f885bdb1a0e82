"""The ``collapsim sweep`` fuzz findings of issue 26: each bad input is refused before any work with one
line on stderr and exit code 2, nothing written, no traceback; a truncated chunk file is recomputed.

Each command line below once gave a traceback, an out-of-memory allocation or a silent hang."""

import json
import subprocess
import sys
import time

import pytest

from collapsim import sweep as sw
from collapsim.errors import ConfigError
from collapsim.memory import GiB
from collapsim.runspec import RunSpec

SMALL = ["--vocab", "8", "--samples", "10", "--seeds", "4", "--generations", "3"]


def _cli(*args, cwd, timeout=60):
    return subprocess.run([sys.executable, "-m", "collapsim", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def _config(tmp_path, axes):
    """A sweep config file as `collapsim sweep` writes it, with the given axes list."""
    base = RunSpec("categorical", {"vocab": 8}, {}, "mix", "0.1", samples=10, generations=3, seeds=4, seed=0)
    config = sw.SweepSpec(base, (sw.Axis("alpha", (0.0,)),), "final:entropy").to_dict()
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


@pytest.mark.parametrize("args, message", CASES.values(), ids=CASES.keys())
def test_bad_sweep_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    if "--config" in args:
        args = [*_config(tmp_path, args[args.index("--config") + 1]), *args[args.index("--config") + 2:]]
    out = tmp_path / "out"
    t0 = time.perf_counter()
    res = _cli("sweep", *args, *(["--out", str(out)] if "--config" not in args else []), cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("collapsim: error: "), res.stderr[-2000:]
    assert message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) in (["in"], []), list(tmp_path.iterdir())  # nothing written
    assert time.perf_counter() - t0 < 30


def _base(**kw):
    return RunSpec("categorical", {"vocab": 50}, {}, "mix", "0.1", **{"samples": 200, "generations": 100,
                                                                      "seeds": 256, "seed": 0, **kw})


def test_memory_estimate_refuses_the_fuzzed_grid_and_passes_a_small_one():
    """alpha=0:1:100000 at the defaults silently grew to 4.6 GB and more: 80.8 million table rows are at
    least 400 bytes each, so it needs more than 30 GiB; a 16 GiB machine refuses it, and a 21-point grid
    passes on it."""
    big = sw.SweepSpec(_base(), (sw.parse_axis("alpha=0:1:100000", sw_entry()),), "final:entropy")
    with pytest.raises(ConfigError, match=r"100,000 points x 256 seeds.*80,800,000 table rows.*needs ~3\d\.\d GiB, "
                                          r"this machine has 16 GiB"):
        sw.check_sweep_memory(big, available=16 * GiB)
    sw.check_sweep_memory(sw.SweepSpec(_base(), (sw.parse_axis("alpha=0:1:21", sw_entry()),), "final:entropy"),
                          available=16 * GiB)


def test_memory_estimate_takes_the_largest_point_of_a_size_axis():
    """A samples axis: a chunk holds at least one point's chains, so the largest samples value counts (2e6
    samples: a chain's working set is 32 bytes x 2e6 = 64 MB, beyond 40 MiB; 20 samples need ~11 MB)."""
    e = sw_entry()
    small = sw.SweepSpec(_base(), (sw.parse_axis("samples=10,20", e),), "final:entropy")
    large = sw.SweepSpec(_base(), (sw.parse_axis("samples=10,2000000", e),), "final:entropy")
    assert sw._largest_point(large) == {"samples": 2000000}
    with pytest.raises(ConfigError, match="2 points"):
        sw.check_sweep_memory(large, available=40 * 2**20)
    sw.check_sweep_memory(small, available=40 * 2**20)


def sw_entry():
    from collapsim.registry import CATEGORICAL

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
