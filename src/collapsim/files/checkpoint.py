"""The host driver's checkpoint file: the state after the last finished generation, in one ``.npz``.

:class:`NpzCheckpoint` is the writer :func:`collapsim.engine.run_host` is handed (the engine writes no file
itself). Each save writes ``PATH.tmp-PID.npz`` and renames it over ``PATH``, so a kill leaves either the old
state or the new one, never half of one; the run's fingerprint (its spec's JSON) is stored beside the arrays,
so a checkpoint is never resumed by a different run.
"""

from __future__ import annotations

import contextlib
import os
from typing import Optional

import numpy as np

from collapsim.errors import ConfigError
from collapsim.files.outdir import _alive


def _temporary(path: str, pid: int) -> str:
    """The file :meth:`NpzCheckpoint.save` writes before renaming it to ``path``."""
    return f"{path}.tmp-{pid}.npz"


def remove_dead_temporaries(path: str) -> None:
    """Delete ``PATH.tmp-PID.npz`` files whose writing process is gone: a kill while a save wrote one leaves
    it behind, and the rerun that finishes the run would otherwise leave it there for good. A live process's
    temporary (another run writing the same checkpoint) is left alone."""
    folder, name = os.path.split(os.path.abspath(path))
    prefix, suffix = f"{name}.tmp-", ".npz"
    try:
        entries = os.listdir(folder)
    except OSError:  # no folder yet: nothing left there
        return
    for entry in entries:
        pid = entry[len(prefix):-len(suffix)] if entry.startswith(prefix) and entry.endswith(suffix) else ""
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, entry))


class NpzCheckpoint:
    """A run's checkpoint at ``path``, belonging to the run identified by ``fingerprint``."""

    def __init__(self, path: str, fingerprint: str):
        self.path, self.fingerprint = str(path), fingerprint
        remove_dead_temporaries(self.path)

    def load(self) -> Optional[tuple[int, dict]]:
        """(generation, arrays) saved by an earlier run of the same fingerprint; None when there is no file."""
        if not os.path.exists(self.path):
            return None
        try:
            z = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ConfigError(f"checkpoint {self.path} cannot be read ({err}); remove it to start over") from None
        with z:
            if str(z["fingerprint"]) != self.fingerprint:
                raise ConfigError(f"checkpoint {self.path} belongs to a different run; remove it or use another folder")
            return int(z["generation"]), {k: z[k] for k in z.files if k not in ("generation", "fingerprint")}

    def save(self, generation: int, arrays: dict) -> None:
        tmp = _temporary(self.path, os.getpid())
        np.savez(tmp, generation=np.int64(generation), fingerprint=np.str_(self.fingerprint), **arrays)
        os.replace(tmp, self.path)

    def finish(self) -> None:
        """A finished run's checkpoint goes, with any temporary of it that a killed writer left."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        remove_dead_temporaries(self.path)
