"""A sweep over several processes (``collapsim sweep --coordinator``): which chunks this process computes,
how each process shows that it is alive, and how process 0 gathers the others' chunk files.

Shared folder. Every process writes its chunk files into the same partial folder (``.OUT.sweep-partial``),
which must therefore be on a filesystem that every process sees (the same ``--out`` path on every
machine); process 0 waits until every chunk file is there and readable, then writes the output folder.
Nothing comes from JAX's runtime: ``collapsim sweep --coordinator`` only checks with it that every
process started, then leaves it (:func:`collapsim.commands.sweep._initialize`), and tells this module which
process this is (:func:`joined_as`).

Heartbeats. Each process rewrites ``process-R.heartbeat`` in the partial folder every :data:`HEARTBEAT_S`
seconds from a thread of its own (a chunk can take hours, and the thread keeps beating while XLA computes),
and writes ``failed: <why>`` there when it stops on an error. The same thread watches the heartbeats of
the processes this one still needs (those with a chunk file missing, and process 0, which gathers), on
this process's own clock, so machines whose clocks disagree do no harm. A partner is lost when its
heartbeat turns to ``failed`` or has not changed for :data:`DEAD_AFTER_S` seconds (killed, its machine
gone, or a partial folder that is not shared: then no heartbeat ever arrives). A lost partner ends this
process with one line on stderr and exit code 2 (:func:`_give_up`), whatever it is doing; the chunk files
on disk are kept, so running every process again resumes the sweep.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from collapsim.errors import ConfigError
from collapsim.sweeps.chunks import _chunk_path, read_chunk_file

#: Seconds between two heartbeats of one process.
HEARTBEAT_S = 5.0
#: Seconds a heartbeat may stay unchanged before its process counts as lost: 24 heartbeats, room for a slow
#: shared filesystem, a busy machine, and processes that reach the sweep a little apart after planning
#: the same grid; short enough that the others stop about two minutes after a process dies.
DEAD_AFTER_S = 120.0
#: Seconds between two looks of process 0 for the chunk files it waits for.
POLL_S = 1.0


class PartnerLost(ConfigError):
    """Another process of a multi-process sweep stopped (one line: which, and what to do)."""


_joined: Optional[tuple[int, int]] = None  # set by the command's --process-id and --num-processes


def joined_as(rank: int, size: int) -> None:
    """Record that this process is process ``rank`` of ``size`` (``collapsim sweep --coordinator``, once
    every process has joined)."""
    global _joined
    _joined = (rank, size)


def _process() -> tuple[int, int]:
    """(this process's index, process count): as joined by the command, else JAX's, which is (0, 1)
    unless the caller ran ``jax.distributed.initialize`` (and keeps JAX's runtime, with its own health
    check, running)."""
    if _joined is not None:
        return _joined
    import jax

    return jax.process_index(), jax.process_count()


def heartbeat_path(folder: Path, rank: int) -> Path:
    return folder / f"process-{rank}.heartbeat"


def _read(path: Path) -> Optional[str]:
    """A heartbeat's text, or None when it is absent or cannot be read right now."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _write(path: Path, text: str) -> None:
    """Write a heartbeat; a failure is ignored (a partial folder removed by process 0 at the end, or a
    filesystem hiccup: the next heartbeat tries again, and a process that can never write is lost to the
    others, which is the truth)."""
    try:
        path.write_text(text)
    except OSError:
        pass


def _give_up(message: str) -> None:
    """End this process with ``collapsim: error: MESSAGE`` and exit code 2.

    Why ``os._exit`` from the heartbeat thread: the main thread may be inside a compiled call that Python
    cannot interrupt (a chunk can take hours). Chunk files are written whole (``os.replace``), so nothing on
    disk is left half done, and a temporary file of a chunk cut short is removed by the next run."""
    sys.stderr.write(f"collapsim: error: {' '.join(message.split())}\n")
    sys.stderr.flush()
    os._exit(2)


class Partners:
    """This process's heartbeat and its watch over the others, for one multi-process sweep.

    ``chunks``: every chunk of the sweep (chunk i belongs to process i mod ``size``). Use as a context
    manager around the computing and gathering; with ``size == 1`` it does nothing (no thread, no file).
    ``on_lost(message)`` is called from the heartbeat thread when a partner is lost (None: the module's
    :func:`_give_up`); the main thread's :meth:`check` raises :class:`PartnerLost` with the same message.
    """

    def __init__(self, folder: Path, chunks: list, rank: int, size: int,
                 on_lost: Optional[Callable[[str], None]] = None):
        self.folder, self.chunks, self.rank, self.size = folder, chunks, rank, size
        self.on_lost = on_lost
        self.token = f"{socket.gethostname()} pid {os.getpid()} {time.time_ns()}"
        self.seen: dict = {}  # process -> (its heartbeat's text, when this process first saw that text)
        self.lost: Optional[str] = None
        self.beats = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # ---- this process's heartbeat

    def beat(self) -> None:
        self.beats += 1
        _write(heartbeat_path(self.folder, self.rank), f"alive {self.token} beat {self.beats}\n")

    def __enter__(self) -> "Partners":
        if self.size > 1:
            self.beat()
            self.watch()  # the first look: what each partner's heartbeat says now (no verdict yet)
            self._thread = threading.Thread(target=self._run, name="collapsim-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind, err, tb) -> bool:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            if kind is not None and not issubclass(kind, PartnerLost):
                why = " ".join(str(err).split()) or kind.__name__
                _write(heartbeat_path(self.folder, self.rank), f"failed: {why} ({self.token})\n")
        return False

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()
            if self.watch():
                (self.on_lost or _give_up)(self.lost)
                return

    # ---- the watch over the others

    def needed(self) -> list[int]:
        """The other processes this one still depends on: those with a chunk file not yet in the folder,
        and process 0 (it gathers)."""
        try:
            present = {p.name for p in self.folder.iterdir()}
        except OSError:
            present = set()
        owners = {c.index % self.size for c in self.chunks if _chunk_path(self.folder, c.index).name not in present}
        if self.rank != 0:
            owners.add(0)
        owners.discard(self.rank)
        return sorted(owners)

    def watch(self) -> bool:
        """Look at every needed partner's heartbeat once; records the first lost one in ``self.lost``.

        A text seen for the first time starts its clock and gives no verdict (it may be left over from an
        earlier run of the same sweep, which this run's process overwrites within a heartbeat). Returns
        whether a partner is lost."""
        now = time.monotonic()
        for r in self.needed():
            text = _read(heartbeat_path(self.folder, r))
            old = self.seen.get(r)
            if old is None or old[0] != text:
                self.seen[r] = (text, now)
                if old is not None and text is not None and text.startswith("failed:"):
                    self.lost = self._message(r, text)
            elif now - old[1] > DEAD_AFTER_S:
                self.lost = self._message(r, text)
            if self.lost is not None:
                return True
        return False

    def _message(self, r: int, text: Optional[str]) -> str:
        what = f"process {r} of the {self.size} in this sweep"
        if text is not None and text.startswith("failed:"):
            why = text[len("failed:"):].rsplit("(", 1)[0].strip()
            return f"{what} stopped ({why}); run every process again to resume (finished chunks are kept)"
        heard = "wrote no heartbeat" if text is None else "did not renew its heartbeat"
        return (f"{what} {heard} in {heartbeat_path(self.folder, r)} for {DEAD_AFTER_S:.0f} s: it has stopped, or "
                f"{self.folder} is not on a filesystem every process shares; run every process again to resume "
                "(finished chunks are kept)")

    def check(self) -> None:
        """Raise :class:`PartnerLost` if the heartbeat thread found a partner lost (main thread)."""
        if self.lost is not None:
            raise PartnerLost(self.lost)

    # ---- process 0

    def gather(self, fingerprint: str, sleep: Callable[[float], None] = time.sleep) -> None:
        """Process 0: wait until every chunk file is in the folder and readable as this sweep's; the
        heartbeat thread ends the wait if a process it waits for is lost."""
        waiting = {c.index for c in self.chunks}
        while True:
            waiting = {i for i in waiting if read_chunk_file(self.folder, i, fingerprint) is None}
            if not waiting:
                return
            self.check()
            sleep(POLL_S)
