"""collapsim.heap: the training-loop commands keep XLA's per-call scratch buffer in the heap."""

import subprocess
import sys
import textwrap

import pytest

from collapsim.heap import names_training_loop

# One call of a compiled function with a 64 MB intermediate (a cumulative sum is never fused away), then the
# minor page faults of each of ten further calls.
_PROBE = textwrap.dedent("""
    import resource, sys
    from collapsim.heap import retain_freed_memory
    done = retain_freed_memory() if sys.argv[1] == "retain" else False
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x: jnp.cumsum(x * 2.0)[::3].max())
    x = jnp.ones(2 ** 24, jnp.float32)
    faults = []
    for _ in range(12):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        f(x).block_until_ready()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(done, *faults)
""")


def _faults(mode: str) -> tuple[bool, list[int]]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         timeout=120).stdout.split()
    return out[0] == "True", [int(v) for v in out[1:]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_heap_stops_the_page_faults_of_every_call():
    done, kept = _faults("retain")
    if not done:
        pytest.skip("this C library has no glibc mallopt")
    _, plain = _faults("plain")
    # Without the setting every call faults its 64 MB buffer in again (16,384 pages); with it the heap
    # settles within a few calls and the last calls fault (almost) nothing.
    assert min(plain[4:]) > 10_000, plain
    assert max(kept[8:]) < 100, kept


def test_only_training_loop_commands_ask_for_the_heap():
    assert names_training_loop(["run", "gpt2", "--preset", "tiny"])
    assert names_training_loop(["bench", "llm", "--preset", "4x256"])
    assert names_training_loop(["llm", "finetune", "--help"])
    assert not names_training_loop(["run", "categorical", "--vocab", "100"])
    assert not names_training_loop(["bench", "gaussian", "--grid"])
    assert not names_training_loop(["--version"])


def test_console_command_runs_through_the_launcher():
    out = subprocess.run([sys.executable, "-m", "collapsim", "run", "--help"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "Run a generation loop" in out.stdout
