"""The one rule for every command that writes an output folder (run folders, fine-tuned checkpoints).

Why: an earlier rule ("a folder holding config.json is a run folder, replace it") wiped a user's project
folder that happened to hold a config.json, and a kill between "delete the old folder" and "rename the new
one into place" lost both. The rule here:

* :func:`check_out` runs before any work and refuses (a one-line :class:`~collapsim.errors.ConfigError`)
  a destination below a file, under /proc, /sys or /dev, not writable, that is a file or a symbolic link,
  a non-empty folder collapsim did not write as a folder of this ``kind``, or one that equals, contains or
  lies inside a protected path (e.g. fine-tuning's input checkpoint).
* Collapsim's folders are recognised by a marker file, :data:`MARKER` (``.collapsim``), which lists the kind
  and every file collapsim wrote. A folder of the right kind that also holds files collapsim did not write
  (a user's notes next to the results) is refused too: replacing it would delete them.
* Work is written into :func:`staging` (a hidden ``.NAME.tmp-<pid>-XXXX`` folder beside the destination),
  then :func:`publish` moves it into place under a lock. An earlier folder is renamed aside to
  ``.NAME.old-<pid>-XXXX`` and deleted only after the new one is in place; if the process dies between the
  two renames, the next :func:`check_out` or :func:`staging` for that destination renames it back.
* If another writer published into the same destination after this process's :func:`check_out`, the new
  folder goes to a fresh sibling ``NAME-2``, ``NAME-3``, ... instead of overwriting the other run's result
  (and instead of discarding this one's). :func:`publish` returns the folder that holds the data, so the
  caller can say which run won.
* :func:`staged` wraps staging and publishing so that an exception or SIGTERM removes the temporary folder;
  folders left by SIGKILL are removed by the next :func:`staging` once their process is gone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from collapsim.errors import ConfigError

MARKER = ".collapsim"
_FORBIDDEN_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))

# What check_out saw at each destination in this process (resolved path -> marker id, or None for an
# absent or empty folder); publish compares against it to notice a concurrent writer.
_SEEN: dict[Path, str | None] = {}
# Empty folders made by unique_default: removed again if the run fails before publishing.
_RESERVED: set[Path] = set()


def _resolve(path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _read_marker(folder: Path) -> dict | None:
    """The marker of a folder collapsim wrote, or None (absent, unreadable or not ours)."""
    try:
        d = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(d, dict) or not isinstance(d.get("kind"), str) or not isinstance(d.get("files"), list):
        return None
    return d


def _state(folder: Path) -> tuple[str, dict | None]:
    """('absent' | 'empty' | 'ours' | 'foreign' | 'file', marker) of a destination right now."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        return "file", None
    if not folder.exists():
        return "absent", None
    if not any(folder.iterdir()):
        return "empty", None
    m = _read_marker(folder)
    return ("ours", m) if m is not None else ("foreign", None)


#: The most characters a hidden sibling adds to the destination's NAME: the host driver's checkpoint
#: temporary ``.NAME.checkpoint.npz.tmp-PID.npz`` (a pid has at most 7 digits); the staging folder
#: ``.NAME.tmp-PID-XXXXXXXX`` and a sweep's ``.NAME.sweep-partial.new-PID`` are shorter.
SIBLING_EXTRA = len(".checkpoint.npz.tmp-") + 7 + len(".npz")


def _probe(folder: Path, name: str) -> OSError | None:
    """Create and remove a file in ``folder`` named like the longest hidden sibling of ``NAME`` that collapsim
    writes (``.NAME`` plus :data:`SIBLING_EXTRA` characters); the error, or None when it worked. Tried for real:
    access() is wrong on read-only mounts, and only the file system knows its longest name."""
    prefix = f".{name}.probe-"
    suffix = "x" * max(0, 1 + len(name) + SIBLING_EXTRA - len(prefix) - 8)  # mkstemp adds 8 characters
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    except OSError as err:
        return err
    os.close(fd)
    os.unlink(path)
    return None


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (:func:`_probe` with a short name)."""
    return _probe(folder, "file") is None


def _too_long(out, flag: str) -> ConfigError:
    """The message for a destination with a name the file system cannot hold, or whose hidden siblings'
    names (``.NAME`` plus up to :data:`SIBLING_EXTRA` characters) it cannot hold."""
    path = Path(os.path.abspath(Path(out).expanduser()))
    existing = next((p for p in path.parents if os.path.isdir(p)), Path("/"))
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    longest = max(path.parts, key=len)
    if longest == path.name:
        return ConfigError(f"{flag}: the folder name is {len(longest)} characters, too long here: collapsim writes "
                           f"hidden files named .NAME plus up to {SIBLING_EXTRA} characters beside the folder, so "
                           f"the name may have at most {name_max - 1 - SIBLING_EXTRA}")
    return ConfigError(f"{flag}: the path has a name of {len(longest)} characters ({longest[:24]}...), longer than "
                       f"the file system allows ({name_max})")


def _check_location(out: Path, flag: str) -> Path:
    """Refuse pseudo-filesystems and a path below a file; returns the nearest existing ancestor."""
    for root in _FORBIDDEN_ROOTS:
        if out == root or root in out.parents:
            raise ConfigError(f"{flag} {out} is under {root}, which holds no real files; choose another folder")
    anc = out.parent
    while not anc.exists() and not anc.is_symlink():
        anc = anc.parent
    if not anc.is_dir():
        raise ConfigError(f"{flag} {out} is below {anc}, which is a file, not a folder")
    return anc


def _check_protected(out: Path, protect: Iterable, flag: str) -> None:
    for p in protect:
        if p is None:
            continue
        rp = _resolve(p)
        if rp == out:
            raise ConfigError(f"{flag} {out} is the input {p}; writing there would destroy it")
        if out in rp.parents:
            raise ConfigError(f"{flag} {out} contains the input {p}; writing there would destroy it")
        if rp in out.parents:
            raise ConfigError(f"{flag} {out} lies inside the input {p}; choose a folder outside it")


def check_out(out, *, kind: str, protect=(), flag: str = "--out") -> Path:
    """Refuse, before any work, a destination this command must not write to; returns the resolved path.

    Accepted: a path that does not exist yet (in a writable place), an empty folder, or a folder collapsim
    wrote as a ``kind`` folder holding only the files collapsim wrote (it will be replaced). ``protect``
    lists paths the output must neither be, contain, nor lie inside. ``flag`` names the option in messages.
    """
    try:
        return _check_out(out, kind, protect, flag)
    except OSError as err:  # a path the file system refuses to look at (a name too long, a loop of links ...)
        if err.errno == errno.ENAMETOOLONG:
            raise _too_long(out, flag) from None
        raise ConfigError(f"{flag} {out}: {err.strerror or err}") from None


def _check_out(out, kind: str, protect, flag: str) -> Path:
    if Path(out).expanduser().is_symlink():
        raise ConfigError(f"{flag} {out} is a symbolic link; give the real folder")
    res = _resolve(out)
    _check_protected(res, protect, flag)
    anc = _check_location(res, flag)
    _recover(res)
    state, marker = _state(res)
    if state == "file":
        raise ConfigError(f"{flag} {out} exists and is a file, not a folder; choose another")
    if state == "foreign":
        raise ConfigError(f"{flag} {out} is a non-empty folder that collapsim did not write "
                          f"(no {MARKER} marker); choose a new or empty folder")
    if state == "ours":
        if marker["kind"] != kind:
            raise ConfigError(f"{flag} {out} holds a collapsim {marker['kind']} folder, not a {kind} folder; "
                              f"choose another")
        known = set(marker["files"]) | {MARKER}
        extra = sorted(p.name for p in res.iterdir() if p.name not in known)
        if extra:
            raise ConfigError(f"{flag} {out} holds {extra[0]!r}, which collapsim did not write; replacing the "
                              f"folder would delete it, so move it away or choose another folder")
    if state in ("empty", "ours") and os.path.ismount(res):
        raise ConfigError(f"{flag} {out} is a mount point, which cannot be renamed: collapsim writes beside it and "
                          f"renames its folder into place; give a folder inside it, e.g. {Path(out) / 'run'}")
    # Last, so that a refusal for any other reason touches nothing (the probe changes anc's mtime).
    err = _probe(anc, res.name)
    if err is not None and err.errno == errno.ENAMETOOLONG:
        raise _too_long(out, flag)
    if err is not None:
        raise ConfigError(f"{flag} {out}: cannot create files in {anc} (not writable: {err.strerror or err})")
    _SEEN[res] = marker.get("id") if state == "ours" else None
    return res


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(out: Path, what: str) -> list[tuple[Path, int]]:
    """(path, pid) of ``.NAME.<what>-<pid>-*`` folders beside ``out``."""
    prefix = f".{out.name}.{what}-"
    found = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return found
    for p in entries:
        if p.name.startswith(prefix):
            pid = p.name[len(prefix):].split("-", 1)[0]
            if pid.isdigit():
                found.append((p, int(pid)))
    return found


def _recover(out: Path) -> None:
    """Undo a publish that died between its two renames: restore a dead process's ``.NAME.old-*`` folder
    when ``out`` is missing; delete such folders when ``out`` is back in place."""
    if not out.parent.is_dir():
        return
    with _locked(out.parent):
        for p, pid in _leftovers(out, "old"):
            if _alive(pid):
                continue
            if not out.exists():
                os.rename(p, out)
            else:
                shutil.rmtree(p, ignore_errors=True)


def staging(out) -> Path:
    """A fresh hidden folder ``.NAME.tmp-<pid>-XXXX`` beside ``out`` to write into; creates ``out``'s parent.

    First removes temporary folders for ``out`` whose process is gone (left by SIGKILL) and restores an
    earlier folder a killed :func:`publish` had renamed aside.
    """
    out = _resolve(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for p, pid in _leftovers(out, "tmp"):
        if not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)
    _recover(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; give it a plain mkdir's permissions
    return tmp


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on ``folder`` itself (a directory fd can be locked: no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _no_sigterm() -> Iterator[None]:
    """Hold SIGTERM back during the renames, so a polite kill cannot split them (it is delivered after)."""
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _claim_sibling(out: Path) -> Path:
    """Create (atomically, by mkdir) the first free ``NAME-2``, ``NAME-3``, ... beside ``out``."""
    i = 2
    while True:
        cand = out.with_name(f"{out.name}-{i}")
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            i += 1


def publish(tmp, out, *, kind: str) -> Path:
    """Move the finished folder ``tmp`` to ``out``; returns the folder that now holds the data.

    Writes the marker (kind, a fresh id, the files written) into ``tmp`` first. Under a lock on the parent
    folder: if ``out`` is still what :func:`check_out` saw (absent, empty, or the same collapsim folder),
    it is renamed aside, ``tmp`` renamed into place, and only then the old folder deleted. If another
    writer put something at ``out`` meanwhile (or :func:`check_out` was not called and ``out`` is not
    absent or empty), nothing is overwritten: the data goes to a fresh ``NAME-2``-style sibling, which is
    returned, so the caller can report that the other run won ``out``.
    """
    tmp, out = Path(tmp), _resolve(out)
    files = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
    marker = {"kind": kind, "id": uuid.uuid4().hex, "files": files, "pid": os.getpid()}
    (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    with _locked(out.parent), _no_sigterm():
        state, current = _state(out)
        now = current.get("id") if state == "ours" else None
        expected = _SEEN.get(out, "<unchecked>")
        clean = state in ("absent", "empty")  # nothing there that anyone could lose
        same = state == "ours" and now == expected and current["kind"] == kind
        if not (clean or same):
            dest = _claim_sibling(out)
            os.rename(tmp, dest)  # replaces the empty folder just claimed
            return dest
        if state == "absent":
            os.rename(tmp, out)
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-{os.getpid()}-", dir=out.parent))
            os.rmdir(old)
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        _SEEN[out] = marker["id"]
        _RESERVED.discard(out)
    return out


class Terminated(SystemExit):
    """Raised by the SIGTERM handler of :func:`staged` so cleanup code runs; exits with 128 + 15."""


@contextmanager
def on_sigterm_exit() -> Iterator[None]:
    """Turn SIGTERM into an exception (:class:`Terminated`) while inside, so ``finally`` blocks run.

    Only in the main thread (Python delivers signals there); elsewhere it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def staged(out) -> Iterator[Path]:
    """``with staged(out) as tmp:`` write into ``tmp``, then call ``publish(tmp, out, kind=...)`` inside.

    On any exception, or SIGTERM, the temporary folder is removed (and an empty folder reserved by
    :func:`unique_default` for ``out`` too), so a failed or stopped run leaves nothing behind.
    """
    res = _resolve(out)
    with on_sigterm_exit():
        tmp = staging(res)
        try:
            yield tmp
        except BaseException:
            if res in _RESERVED:
                try:
                    res.rmdir()
                except OSError:
                    pass
                _RESERVED.discard(res)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # a no-op once published (tmp was renamed)


def unique_default(base) -> Path:
    """Reserve a default output folder: ``base`` itself, else ``base-2``, ``base-3``, ...

    Each candidate is created with ``mkdir`` (atomic), so two runs started in the same second get two
    folders. The folder is left empty for :func:`publish` to replace; :func:`staged` removes it again if
    the run fails.
    """
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    cand, i = base, 1
    while True:
        try:
            cand.mkdir()
        except FileExistsError:
            i += 1
            cand = base.with_name(f"{base.name}-{i}")
            continue
        _RESERVED.add(_resolve(cand))
        return cand
