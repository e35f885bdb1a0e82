"""bench llm's matched threads: XLA's pool is born on the CPUs given to it, and the report says whether it
was (JAX has no public way to ask whether its backend started: starting it here and counting threads does)."""

import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent("""
    import os, sys
    from collapsim.commands.bench.llm import match_threads
    if sys.argv[1] == "started":
        import jax.numpy as jnp
        jnp.ones(3).block_until_ready()
    before = set(os.listdir("/proc/self/task"))
    info = match_threads(1)
    born = set(os.listdir("/proc/self/task")) - before
    confined = all(os.sched_getaffinity(int(t)) == set(info["cpus"]) for t in born)
    info["restore"]()
    print(len(born), confined)
    print(info["jax"])
""")


def _probe(mode):
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         timeout=120).stdout.splitlines()
    born, confined = out[0].split()
    return int(born), confined == "True", out[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="CPU affinity and /proc/self/task")
def test_xla_threads_are_confined_when_the_backend_starts_after_the_affinity():
    born, confined, said = _probe("fresh")
    assert born > 0 and confined, (born, confined)
    assert said.startswith("XLA confined to CPUs [") and "before JAX's backend started" in said, said
    born, _, said = _probe("started")
    assert born == 0
    assert said == "JAX's backend had already started: XLA's threads may use every CPU", said
