"""A sweep's chunk files: ``.OUT.sweep-partial/chunk-NNNNN.npz``, written whole (temporary file, then
``os.replace``), checked against the sweep they belong to before a rerun reuses them."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from collapsim.errors import ConfigError
from collapsim.sweeps.spec import Chunk, Group, PARTIAL_SUFFIX, SUMMARY_STATS, SweepSpec


def partial_dir(out: Path) -> Path:
    return out.parent / f".{out.name}{PARTIAL_SUFFIX}"


def _chunk_path(folder: Path, i: int) -> Path:
    return folder / f"chunk-{i:05d}.npz"


def _host() -> str:
    """This machine's name as it may appear in a file name (processes of one sweep share the folder)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in socket.gethostname()) or "host"


def write_chunk_file(folder: Path, i: int, arrays: dict, fingerprint: str) -> Path:
    """Write a chunk atomically: a temporary file ``.chunk-N.tmp-PID@HOST.npz`` in the same folder, then
    ``os.replace``."""
    path = _chunk_path(folder, i)
    tmp = folder / f".{path.stem}.tmp-{os.getpid()}@{_host()}.npz"
    try:
        np.savez(tmp, fingerprint=np.str_(fingerprint), **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _load_npz(path: Path) -> dict:
    """Every array of an .npz file (raises whatever a damaged file makes numpy or zipfile raise)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def read_chunk_file(folder: Path, i: int, fingerprint: str) -> Optional[dict]:
    """A finished chunk's arrays, or None when it is absent, damaged or not this sweep's (recomputed)."""
    path = _chunk_path(folder, i)
    if not path.exists():
        return None
    try:
        arrays = _load_npz(path)
    except Exception:  # a cut or damaged zip: BadZipFile, EOFError, zlib.error, ValueError... by where it is cut
        return None
    if str(arrays.get("fingerprint")) != fingerprint:
        return None
    return {k: v for k, v in arrays.items() if k != "fingerprint"}


def chunk_problem(arrays: dict, sweep: SweepSpec, group: Group, chunk: Chunk, fingerprint: str) -> str:
    """Why a chunk file's arrays are not ``chunk``'s results ('' when they are): another sweep's fingerprint,
    other grid points, a missing array or one of the wrong shape (a file damaged or edited on disk)."""
    if str(arrays.get("fingerprint")) != fingerprint:
        return "another sweep's chunk"
    want = [group.points[i].index for i in chunk.points[:chunk.real]]
    if "point" not in arrays or np.shape(arrays["point"]) != (chunk.real,) or arrays["point"].tolist() != want:
        return "not this chunk's grid points"
    if sweep.until_collapse:
        shapes = {"collapse": (chunk.real, sweep.base.seeds), "cap": ()}
    else:
        metrics = np.shape(arrays.get("metrics", np.zeros((0, 0))))
        if len(metrics) != 1 or not metrics[0]:
            return "without its metric names"
        shapes = {stat: (chunk.real, metrics[0], group.cfg.generations + 1) for stat in SUMMARY_STATS}
    for name, shape in shapes.items():
        if name not in arrays:
            return f"missing its {name!r} array"
        if np.shape(arrays[name]) != shape:
            return f"holding {name!r} of shape {np.shape(arrays[name])}, not {shape}"
    return ""


def load_chunk(folder: Path, sweep: SweepSpec, group: Group, chunk: Chunk, fingerprint: str) -> Optional[dict]:
    """A finished chunk's arrays, or None when its file is absent. A file that cannot be read (cut short by a
    full disk, damaged) or does not hold this chunk's results is deleted with a note on stderr, so the chunk
    is computed again instead of failing every re-run until the partial folder is removed by hand."""
    path = _chunk_path(folder, chunk.index)
    if not path.exists():
        return None
    try:
        arrays = _load_npz(path)
        why = chunk_problem(arrays, sweep, group, chunk, fingerprint)
    except Exception as err:  # a cut or damaged zip: BadZipFile, EOFError, zlib.error, ValueError... by where it is cut
        why = f"unreadable ({err.__class__.__name__})"
    if not why:
        return {k: v for k, v in arrays.items() if k != "fingerprint"}
    sys.stderr.write(f"note: {path} is {why}; computing chunk {chunk.index} again\n")
    sys.stderr.flush()
    path.unlink(missing_ok=True)
    return None


def _remove_dead_temporaries(folder: Path) -> None:
    """Delete ``.chunk-N.tmp-PID@HOST.npz`` files whose writer is gone (a SIGKILL while a chunk was written).

    Only this machine's: the processes of a multi-process sweep share the folder, and another machine's
    process ids say nothing here (an older name without ``@HOST`` counts as this machine's)."""
    from collapsim.files.outdir import _alive

    for p in folder.glob(".chunk-*.tmp-*.npz"):
        pid, _, host = p.name[:-len(".npz")].rsplit(".tmp-", 1)[1].partition("@")
        if pid.isdigit() and host in ("", _host()) and not _alive(int(pid)):
            p.unlink(missing_ok=True)


def open_partial(out: Path, sweep: SweepSpec) -> Path:
    """The partial folder for ``out``, created with this sweep's identity, or refused if it is another's."""
    folder = partial_dir(out)
    ident = folder / "sweep.json"
    text = json.dumps(sweep.to_dict(), sort_keys=True)
    if folder.exists():
        try:
            old = ident.read_text()
        except OSError:
            old = None
        if old != text:
            raise ConfigError(f"{folder} holds an unfinished sweep with another configuration; re-run that sweep "
                              "to finish it, or remove the folder to start this one")
        _remove_dead_temporaries(folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f"{folder.name}.new-{os.getpid()}"
    tmp.mkdir()
    (tmp / "sweep.json").write_text(text)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process created it first: use theirs if it is the same sweep
        (tmp / "sweep.json").unlink()
        tmp.rmdir()
        return open_partial(out, sweep)
    return folder
