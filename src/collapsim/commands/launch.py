"""The ``collapsim`` console command: set up the process for the command named on the command line, then
hand over to the click front end (:mod:`collapsim.commands.cli`).

Kept apart from :mod:`collapsim.commands.cli` because importing the front end loads numpy, whose BLAS starts
threads, and process-wide memory settings must come before any thread (see :mod:`collapsim.commands.heap`).
"""

from __future__ import annotations

import sys


def runs_the_engine(argv: list[str]) -> bool:
    """Whether ``argv`` starts a command that runs the engine's drivers (run, sweep, the engine benchmarks)."""
    words = tuple(a for a in argv if not a.startswith("-"))
    return words[:1] in (("run",), ("sweep",)) or (words[:1] == ("bench",) and words[1:2] != ("llm",))


def main() -> None:
    from collapsim.commands.compile_cache import use_compile_cache
    from collapsim.commands.heap import names_training_loop, retain_freed_memory

    use_compile_cache()  # before JAX is imported: it reads the cache settings once, at import

    if names_training_loop(sys.argv[1:]):
        retain_freed_memory()
    if runs_the_engine(sys.argv[1:]):
        from collapsim.commands.options import use_all_cores

        use_all_cores()  # before the front end imports the families (and JAX)
    from collapsim.commands.cli import main as cli

    cli()
