"""collapsim's cache folder: ``$COLLAPSIM_CACHE``, default ``~/.cache/collapsim``.

What lives there is rebuilt when missing, so the folder can be deleted at any time: ``pretrain/HASH`` (the
GPT-2 base models, :mod:`collapsim.families.llm.pretrain`) and ``jax/`` (compiled XLA programs, JAX's
persistent compilation cache, switched on by :mod:`collapsim.commands.compile_cache`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping, Optional


def cache_root(environ: Optional[Mapping[str, str]] = None) -> Path:
    """``$COLLAPSIM_CACHE`` or ``~/.cache/collapsim`` (``environ``: the environment to read, default os.environ)."""
    environ = os.environ if environ is None else environ
    root = environ.get("COLLAPSIM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "collapsim")
    return Path(root)


def writable_folder(path: Path) -> bool:
    """Whether ``path`` is (or can be made) a folder this process can create files in.

    Tried for real (make the folder, create and remove a temporary file) rather than with ``os.access``,
    which says yes on read-only mounts and as root.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError:
        return False
    return True
