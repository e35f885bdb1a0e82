"""``collapsim bench gaussian --wall``: what a user waits for, the peers' cell as a command, cold and warm.

The other benchmarks time ``engine.run_loop`` after compilation; a user runs ``collapsim run ...`` and waits
for the process: start-up, compilation (or reading the compiled programs from the persistent cache,
:mod:`collapsim.commands.compile_cache`), the simulation, the theory and the run folder with its figure.
Timed here, in one run:

- cold: the command in a fresh process with a fresh, empty cache folder (the first run after installing);
- warm: the same command again, reading the programs the cold run compiled;
- the per-chain NumPy loop of ``bench gaussian --grid`` (:func:`loop_full_reference`), timed on as many
  chains as take ``loop_seconds`` and scaled, with its better BLAS setting;
- for reference, the in-process compile and compiled run times of the same cell (what the grid reports).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from collapsim.commands.bench.grid import scaled_loop_seconds, seconds

#: The peers' cell of issue 25, as a user types it.
PEERS_CELL = {"dim": 10, "samples": 100, "generations": 100, "seeds": 1000}

#: Environment variables that would point the timed commands at another cache, or switch it off.
_CACHE_SETTINGS = ("COLLAPSIM_NO_COMPILE_CACHE", "JAX_COMPILATION_CACHE_DIR",
                   "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES")


def run_command(cell: dict) -> list[str]:
    """The ``collapsim run gaussian`` arguments of a cell (full covariance, maximum likelihood)."""
    return ["run", "gaussian", "--dim", str(cell["dim"]), "--samples", str(cell["samples"]), "--generations",
            str(cell["generations"]), "--seeds", str(cell["seeds"]), "--ddof", "0", "--covariance", "full"]


def command_seconds(args: list[str], cache: Path, out: Path) -> float:
    """Wall seconds of ``collapsim ARGS --out OUT`` in a new process whose cache folder is ``cache``."""
    env = {k: v for k, v in os.environ.items() if k not in _CACHE_SETTINGS}
    env["COLLAPSIM_CACHE"] = str(cache)
    cmd = [sys.executable, "-m", "collapsim", *args, "--out", str(out)]

    def run():
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:])} failed: {res.stderr.strip()[-500:]}")

    return seconds(run)


def time_wall(cell: dict = PEERS_CELL, loop_seconds: float = 2.0, say=lambda s: None) -> dict:
    """Cold and warm wall seconds of the cell as a command, against the per-chain loop in the same run."""
    from collapsim.commands.bench.gaussian import loop_full_reference, time_collapsim_cell
    from collapsim.engine import one_blas_thread

    d, n, T, C = cell["dim"], cell["samples"], cell["generations"], cell["seeds"]
    with tempfile.TemporaryDirectory(prefix="collapsim-wall-") as tmp:
        tmp = Path(tmp)
        say("collapsim run, cold cache")
        cold = command_seconds(run_command(cell), tmp / "cache", tmp / "cold")
        say("collapsim run, warm cache")
        warm = command_seconds(run_command(cell), tmp / "cache", tmp / "warm")
    say("per-chain loop")
    loops = []
    for blas in (contextlib.nullcontext, one_blas_thread):  # the loop's better BLAS setting, as in --grid
        with blas():
            loops.append(scaled_loop_seconds(lambda k: loop_full_reference(k, d, n, T), C, loop_seconds))
    loop_s, timed = min(loops)
    say("in process: compile and compiled run")
    import jax

    # This process is a collapsim command too: without this its first call would read the programs back
    # from the user's cache rather than compile them.
    jax.config.update("jax_enable_compilation_cache", False)
    inproc = time_collapsim_cell(d, n, T, C)
    return {**cell, "command": "collapsim " + " ".join(run_command(cell)), "cold_s": cold, "warm_s": warm,
            "loop_s": loop_s, "loop_chains_timed": timed, "compile_s": inproc["compile_s"],
            "collapsim_s": inproc["collapsim_s"], "loop_over_cold": loop_s / cold, "loop_over_warm": loop_s / warm,
            "loop_over_collapsim": loop_s / inproc["collapsim_s"]}


def format_wall(r: dict) -> str:
    return "\n".join([
        f"the peers' cell as a user runs it: {r['command']}",
        f"  wall, cold cache (fresh process, empty cache)  {r['cold_s']:>8.2f} s   loop / cold = {r['loop_over_cold']:.1f}x",
        f"  wall, warm cache (the same command again)      {r['warm_s']:>8.2f} s   loop / warm = {r['loop_over_warm']:.1f}x",
        f"  per-chain NumPy loop (timed on {r['loop_chains_timed']} chains, scaled) {r['loop_s']:>8.2f} s",
        f"  in process: compiled run {r['collapsim_s']:.2f} s (loop / compiled = {r['loop_over_collapsim']:.1f}x), "
        f"first call (compile, no cache, + run) {r['compile_s']:.2f} s",
    ])
