"""The rule for every command that writes one output file (a certificate, ...): the file-sized sibling of
:mod:`collapsim.files.outdir`.

* :func:`check_out_file` runs before any work and refuses (a one-line :class:`~collapsim.errors.ConfigError`)
  a path that already exists unless the user asked for ``--force`` (a file collapsim did not write, such as
  the class file the certificate was computed from, must not vanish without notice), a folder, a path whose
  folder is missing or not writable, and a path that is one of the command's inputs (even with ``--force``:
  the input is read first, but replacing it is never what was meant).
* :func:`write_file` writes a temporary file in the same folder and moves it into place only when complete,
  so a failure or a kill leaves either the old file or the whole new one, never half of one. Without
  ``force`` the move is a hard link, which fails if another process created the file since the check.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

from collapsim.errors import ConfigError
from collapsim.files.outdir import _check_location, _resolve, writable


def check_out_file(path, *, force: bool, flag: str, protect: Iterable = ()) -> Path:
    """Refuse, before any work, an output file this command must not write; returns the resolved path.

    ``protect`` lists input paths the output must not be (missing ones are ignored); ``flag`` names the
    option in messages.
    """
    out = _resolve(path)
    for p in protect:
        if p is not None and os.path.exists(p) and _resolve(p) == out:
            raise ConfigError(f"{flag} {path} is the input {p}; writing there would destroy it")
    anc = _check_location(out, flag)
    if out.is_dir():
        raise ConfigError(f"{flag} {path} is a folder; give a file name")
    if anc != out.parent:
        raise ConfigError(f"cannot write {path}: the folder {out.parent} does not exist")
    if (out.exists() or out.is_symlink()) and not force:
        raise ConfigError(f"{flag} {path} exists; add --force to replace it")
    if not writable(anc):
        raise ConfigError(f"cannot write {path}: cannot create files in {anc} (not writable)")
    return out


def write_file(path, text: str, *, force: bool) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; without ``force`` an existing file is never replaced.

    Errors (a full disk, a file that appeared meanwhile) are one-line ConfigErrors, and no temporary file
    is left behind.
    """
    out = _resolve(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp makes the file private; give it open()'s mode
            f.write(text)
        if force:
            os.replace(tmp, out)
        else:
            _link_new(tmp, out, path)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _link_new(tmp: str, out: Path, path) -> None:
    """Put ``tmp`` at ``out`` only if nothing is there: a hard link fails on an existing name, atomically."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise ConfigError(f"{path} was created by someone else meanwhile; add --force to replace it") from None
    except OSError:
        # A filesystem without hard links: check, then rename (a narrow race instead of none).
        if out.exists() or out.is_symlink():
            raise ConfigError(f"{path} was created by someone else meanwhile; add --force to replace it") from None
        os.replace(tmp, out)
