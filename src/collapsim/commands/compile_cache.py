"""JAX's persistent compilation cache, on by default for the ``collapsim`` command.

Why: a run's time to first result is mostly XLA compilation. The peers' cell (``collapsim run gaussian --dim
10 --samples 100 --generations 100 --seeds 1000 --ddof 0 --covariance full``) compiled for about 7.5 s of its
11-12 s on a quiet 2-core machine; with the compiled programs on disk a second identical run skips that. The
programs go to ``$COLLAPSIM_CACHE/jax`` (default ``~/.cache/collapsim/jax``), keyed by JAX on the program,
the compiler options, the devices and the JAX version, so a changed program or version compiles afresh.
Every program is kept, however quick to compile: a run compiles dozens of small ones (key splits, transfers)
besides the loop, and reading each back is cheaper than compiling it.

Opt-out: ``COLLAPSIM_NO_COMPILE_CACHE=1``. A cache folder that JAX is already told about
(``JAX_COMPILATION_CACHE_DIR``) is left as it is. An unwritable folder switches the cache off silently: it is
an optimisation and must never make a run fail. Set through JAX's environment variables, so it is in place
before JAX is imported (and holds for the collapsim processes a command starts).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import MutableMapping, Optional

from collapsim.files.cache import cache_root, writable_folder

#: Set to 1 (or any value but 0 and the empty string) to run without the persistent compilation cache.
OPT_OUT = "COLLAPSIM_NO_COMPILE_CACHE"


def wants_cache(environ: MutableMapping[str, str]) -> bool:
    """False when the environment opts out of the compilation cache (``COLLAPSIM_NO_COMPILE_CACHE``)."""
    return environ.get(OPT_OUT, "").strip() in ("", "0")


def use_compile_cache(environ: Optional[MutableMapping[str, str]] = None) -> Optional[Path]:
    """Switch JAX's persistent compilation cache on in ``environ`` (default os.environ); returns its folder,
    or None when it stays off (opted out, or the folder cannot be written).

    Must run before JAX is imported: JAX reads these variables once, at import.
    """
    environ = os.environ if environ is None else environ
    if not wants_cache(environ):
        return None
    if environ.get("JAX_COMPILATION_CACHE_DIR"):  # the user's own cache wins
        return Path(environ["JAX_COMPILATION_CACHE_DIR"])
    folder = cache_root(environ) / "jax"
    if not writable_folder(folder):
        return None
    environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    # JAX's defaults keep only programs that compiled for at least 1 s; every program is worth keeping here.
    environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    return folder
