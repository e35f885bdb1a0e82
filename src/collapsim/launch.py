"""The ``collapsim`` console command: set up the process for the command named on the command line, then
hand over to the click front end (:mod:`collapsim.cli`).

Kept apart from :mod:`collapsim.cli` because importing the front end loads numpy, whose BLAS starts
threads, and process-wide memory settings must come before any thread (see :mod:`collapsim.heap`).
"""

from __future__ import annotations

import sys


def main() -> None:
    from collapsim.heap import names_training_loop, retain_freed_memory

    if names_training_loop(sys.argv[1:]):
        retain_freed_memory()
    from collapsim.cli import main as cli

    cli()
