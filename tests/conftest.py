"""Suite-wide setting: the ``collapsim`` commands that tests start as subprocesses run without JAX's
persistent compilation cache (:mod:`collapsim.commands.compile_cache`), so the suite never writes into the
user's ``~/.cache/collapsim/jax``; tests/test_compile_cache.py switches it on in a temporary folder."""

import os

os.environ.setdefault("COLLAPSIM_NO_COMPILE_CACHE", "1")
