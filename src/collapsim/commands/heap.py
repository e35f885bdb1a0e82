"""Keep the memory XLA frees in the process heap, so the next call of a compiled function reuses it.

Why: XLA's CPU runtime allocates one scratch buffer per call of a compiled function (184 MB for one train
step of a 4-layer, 256-wide GPT-2 on 16 x 128 tokens) with ``posix_memalign`` on its worker thread. glibc
serves a worker thread from a per-thread arena, whose heaps are at most 64 MB, so a larger request is
always ``mmap``-ed and ``munmap``-ed again when freed: every call page-faults the whole buffer back in
(measured: 45,000 page faults and 66 ms of kernel time per 470 ms step). With a single arena (the main
heap, which grows with ``brk``), no ``mmap`` and no trimming, the buffer one call frees is the buffer the
next call gets: 0 page faults and the step 15% faster.

The price is that freed memory is not given back to the operating system until the process ends, that the
heap grows for a while before it settles (the freed buffer is sometimes split by small allocations: 60 steps
of the 4 x 256 model peaked at 1.47 GB of resident memory against 0.83 GB without the setting), and that
every thread allocates from one arena. On the simulators, whose devices each run a thread, that one arena
made runs 1.3-1.6x slower (categorical K = n = 100,000: 2.8 against 4.5 s), so only the training-loop
commands (:data:`TRAINING_LOOP_COMMANDS`, and ``run --config`` of a training-loop family's run) ask for it,
first thing in the ``collapsim`` command (:mod:`collapsim.commands.launch`), before any library has started
a thread or imported JAX.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys

# glibc's mallopt parameters (<malloc.h>).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

# Families whose fit is a training loop (the registry's host-driver families; a test keeps the two equal).
TRAINING_LOOP_FAMILIES = ("gpt2",)
# Command-line prefixes whose work is a training loop of a neural network.
TRAINING_LOOP_COMMANDS = tuple(("run", f) for f in TRAINING_LOOP_FAMILIES) + (("llm",), ("bench", "llm"), ("predict",))


def _config_family(argv: list[str]) -> str | None:
    """The family of the run that ``run --config PATH`` re-runs (read from PATH's JSON), or None when
    ``argv`` is not such a command or PATH cannot be read (the command itself then says why)."""
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        elif a.startswith("--config="):
            path = a[len("--config="):]
        else:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                family = json.load(f).get("family")
        except (OSError, ValueError, AttributeError):
            return None
        return family if isinstance(family, str) else None
    return None


def names_training_loop(argv: list[str]) -> bool:
    """Whether the command line ``argv`` (without the program name) starts a training-loop command: one of
    :data:`TRAINING_LOOP_COMMANDS`, or ``run --config RUN/config.json`` of a training-loop family's run."""
    words = tuple(a for a in argv if not a.startswith("-"))
    if any(words[:len(c)] == c for c in TRAINING_LOOP_COMMANDS):
        return True
    return words[:1] == ("run",) and _config_family(argv) in TRAINING_LOOP_FAMILIES


def jax_backend_started() -> bool | None:
    """Whether JAX has started a backend in this process (its thread pool exists): False while JAX is not
    even imported, else None (unknown: JAX has no public way to ask, and the backend starts on the first
    computation, whoever makes it). So the setting is made only before JAX is imported: first thing in
    the ``collapsim`` command (:mod:`collapsim.commands.launch`)."""
    return False if "jax" not in sys.modules else None


_retained = False


def retained() -> bool:
    """Whether :func:`retain_freed_memory` took effect in this process."""
    return _retained


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (one arena, no ``mmap``, no trimming); True if it was done.

    Must run before JAX's backend starts: a thread's arena is fixed at its first allocation, so XLA's
    worker threads must be born after this call; best before any other thread exists (numpy's OpenBLAS
    threads have arenas of their own, which glibc may hand on to XLA's threads). Does nothing (returns
    False) once JAX is imported (whether its backend has started cannot be known), off Linux, or on a C
    library without glibc's ``mallopt``.
    """
    if not sys.platform.startswith("linux") or jax_backend_started() is not False:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    global _retained
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2 ** 31 - 1))
    _retained = all(mallopt(param, value) == 1 for param, value in settings)
    return _retained
