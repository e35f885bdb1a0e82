"""A multi-process sweep without JAX's runtime: process 0 gathers the chunk files the others write into the
shared partial folder, and stops in one line when a partner is lost (its heartbeat stale, absent or
'failed'), within the watch's timeout instead of waiting. The "other process" is a thread of the test that
writes what a real one would (heartbeats, chunk files copied from a one-process run)."""

import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from collapsim.runs.spec import RunSpec
from collapsim.sweeps import chunks as sweep_chunks
from collapsim.sweeps import exchange
from collapsim.sweeps import run as sweep_run
from collapsim.sweeps import spec as sweep_spec

DEAD_AFTER_S = 0.6  # the test's timeout for a lost partner (the module's is a minute)
BEAT_S = 0.02


def _small_sweep():
    """test_fuzz_sweep's sweep (four chunks of one point each), so the suite compiles one program for both."""
    base = RunSpec("categorical", {"vocab": 8}, {}, "mix", "0.1", samples=10, generations=5, seeds=16, seed=3)
    return sweep_spec.SweepSpec(base, (sweep_spec.Axis("alpha", (0.0, 0.2, 0.4, 0.6)),), "final:entropy")


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The sweep run by one process: (its results, its partial folder holding chunk files 0..3)."""
    out = tmp_path_factory.mktemp("one") / "s"
    run = sweep_run.run_sweep(_small_sweep(), out, progress=False)
    folder = sweep_chunks.partial_dir(out)
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-00000.npz", "chunk-00001.npz", "chunk-00002.npz",
                                                       "chunk-00003.npz", "sweep.json"]  # no heartbeat alone
    return run, folder


@pytest.fixture
def two_processes(monkeypatch):
    """This process is process ``rank`` of 2 (set by the test); the watch's times are the test's; a lost
    partner is recorded instead of ending the test process."""
    lost = []
    monkeypatch.setattr(exchange, "HEARTBEAT_S", BEAT_S)
    monkeypatch.setattr(exchange, "DEAD_AFTER_S", DEAD_AFTER_S)
    monkeypatch.setattr(exchange, "POLL_S", 0.01)
    monkeypatch.setattr(exchange, "_give_up", lost.append)
    started, check = time.monotonic(), exchange.Partners.check

    def bounded_check(self):  # a watch that never gives up fails the test instead of hanging it
        assert time.monotonic() - started < 60, "process 0 is still waiting after 60 s"
        check(self)

    monkeypatch.setattr(exchange.Partners, "check", bounded_check)

    def be(rank):
        monkeypatch.setattr(sweep_run, "_process", lambda: (rank, 2))
        return lost

    return be


class Partner(threading.Thread):
    """The other process: beats ``beats`` times every BEAT_S (forever if None), copies the chunk files
    ``deliver`` from ``source`` into the partial folder after ``delay`` seconds, and finally writes
    ``last`` into its heartbeat (None: leaves it as it is)."""

    def __init__(self, folder, rank, source=None, deliver=(), delay=0.3, beats=None, last=None):
        super().__init__(daemon=True)
        self.folder, self.rank, self.source, self.deliver = folder, rank, source, deliver
        self.delay, self.beats, self.last = delay, beats, last
        self.stop, self.stopped_beating = threading.Event(), None

    def run(self):
        while not self.folder.exists():
            time.sleep(0.005)
        hb = exchange.heartbeat_path(self.folder, self.rank)
        start, n = time.monotonic(), 0
        while not self.stop.is_set() and (self.beats is None or n < self.beats):
            n += 1
            hb.write_text(f"alive partner beat {n}\n")
            if self.deliver and time.monotonic() - start > self.delay:
                for i in self.deliver:
                    name = f"chunk-{i:05d}.npz"
                    shutil.copy(self.source / name, self.folder / f".{name}.part")
                    os.replace(self.folder / f".{name}.part", self.folder / name)
                self.deliver = ()
            time.sleep(BEAT_S)
        self.stopped_beating = time.monotonic()
        if self.last is not None:
            hb.write_text(self.last)


def _assert_same(results, expected):
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def test_process_0_gathers_the_chunks_a_partner_writes_late(tmp_path, one_process, two_processes):
    """Process 0 computes chunks 0 and 2; the partner's 1 and 3 arrive 0.3 s into its life, while it beats;
    the results are the one-process results."""
    expected, source = one_process
    two_processes(0)
    out = tmp_path / "s"
    folder = sweep_chunks.partial_dir(out)
    partner = Partner(folder, 1, source, deliver=(1, 3))
    partner.start()
    try:
        run = sweep_run.run_sweep(_small_sweep(), out, progress=False)
    finally:
        partner.stop.set()
        partner.join()
    assert run["computed"] == 2 and run["skipped"] == 0
    _assert_same(run["results"], expected["results"])
    assert exchange.heartbeat_path(folder, 0).read_text().startswith("alive ")


def test_the_watch_judges_changes_not_first_sights(tmp_path, monkeypatch):
    """A heartbeat seen for the first time gives no verdict (it may be an earlier run's, 'failed' included);
    a change to 'failed' is a loss at once; an unchanged one after DEAD_AFTER_S; a process whose chunks
    are all on disk is not watched at all (it may have finished and gone)."""
    monkeypatch.setattr(exchange, "DEAD_AFTER_S", 0.05)
    chunks = [sweep_spec.Chunk(i, 0, (i,), 1) for i in range(4)]
    hb = exchange.heartbeat_path(tmp_path, 1)
    hb.write_text("failed: an earlier run's error (old token)\n")
    watch = exchange.Partners(tmp_path, chunks, 0, 2)
    assert watch.needed() == [1] and not watch.watch() and watch.lost is None
    hb.write_text("alive new token beat 1\n")
    assert not watch.watch()
    hb.write_text("failed: out of memory (new token)\n")
    assert watch.watch() and "process 1 of the 2 in this sweep stopped (out of memory)" in watch.lost
    with pytest.raises(exchange.PartnerLost):
        watch.check()

    hb.write_text("alive new token beat 2\n")
    watch = exchange.Partners(tmp_path, chunks, 0, 2)
    assert not watch.watch()
    time.sleep(0.06)
    assert watch.watch() and "did not renew its heartbeat" in watch.lost
    for i in (1, 3):
        (tmp_path / f"chunk-{i:05d}.npz").write_bytes(b"")
    watch = exchange.Partners(tmp_path, chunks, 0, 2)
    assert watch.needed() == [] and not watch.watch()
    time.sleep(0.06)
    assert not watch.watch()
    assert exchange.Partners(tmp_path, chunks, 1, 2).needed() == [0]  # process 0 gathers: always needed


def _wait_for_loss(out, partner):
    """Run process 0's sweep until the watch gives up; returns (the error, seconds from the partner's
    last heartbeat to the error)."""
    partner.start()
    try:
        with pytest.raises(exchange.PartnerLost) as err:
            sweep_run.run_sweep(_small_sweep(), out, progress=False)
        ended = time.monotonic()
    finally:
        partner.stop.set()
        partner.join()
    return err.value, ended - partner.stopped_beating


@pytest.mark.parametrize("beats, heard", [(5, "did not renew its heartbeat"), (0, "wrote no heartbeat")])
def test_a_partner_that_stops_ends_the_wait_within_the_timeout(tmp_path, one_process, two_processes, beats, heard):
    """A partner killed after a few heartbeats (or one never seen: a partial folder that is not shared)
    never delivers: process 0 ends within DEAD_AFTER_S (plus a heartbeat and a poll) with one line."""
    lost = two_processes(0)
    out = tmp_path / "s"
    folder = sweep_chunks.partial_dir(out)
    err, waited = _wait_for_loss(out, Partner(folder, 1, beats=beats))
    message = str(err)
    assert "\n" not in message and f"process 1 of the 2 in this sweep {heard}" in message, message
    assert f"{exchange.heartbeat_path(folder, 1)}" in message and "run every process again" in message
    assert lost == [message]  # the heartbeat thread reported it (the command's process ends there)
    assert waited < DEAD_AFTER_S + 1.0, waited
    if beats:
        assert waited >= DEAD_AFTER_S - 2 * BEAT_S, waited  # not before the timeout
    assert sorted(p.name for p in folder.glob("chunk-*.npz")) == ["chunk-00000.npz", "chunk-00002.npz"]


def test_a_partner_that_fails_stops_process_0_at_once(tmp_path, one_process, two_processes):
    lost = two_processes(0)
    out = tmp_path / "s"
    folder = sweep_chunks.partial_dir(out)
    err, waited = _wait_for_loss(out, Partner(folder, 1, beats=3, last="failed: non-finite metric (host pid 7 1)\n"))
    assert str(err) == ("process 1 of the 2 in this sweep stopped (non-finite metric); run every process again to "
                        "resume (finished chunks are kept)")
    assert lost == [str(err)]
    assert waited < DEAD_AFTER_S / 2, waited


def test_a_computing_process_stops_after_its_chunk_when_process_0_is_lost(tmp_path, one_process, two_processes):
    """Process 1 computes; process 0 (which would gather) beats twice and dies. The heartbeat thread reports
    the loss while a chunk is computed (the command's process would end right there); the chunk on disk is
    kept for the re-run."""
    lost = two_processes(1)
    out = tmp_path / "s"
    folder = sweep_chunks.partial_dir(out)
    partner = Partner(folder, 0, beats=2)
    partner.start()
    try:
        with pytest.raises(exchange.PartnerLost) as err:
            sweep_run.run_sweep(_small_sweep(), out, progress=False,
                                after_chunk=lambda i: time.sleep(3 * DEAD_AFTER_S))
    finally:
        partner.stop.set()
        partner.join()
    assert "process 0 of the 2 in this sweep did not renew its heartbeat" in str(err.value)
    assert lost == [str(err.value)]
    assert sorted(p.name for p in folder.glob("chunk-*.npz")) == ["chunk-00001.npz"]
    assert exchange.heartbeat_path(folder, 1).read_text().startswith("alive ")  # lost, not failed itself


def test_giving_up_is_one_line_and_exit_code_2():
    code = ("from collapsim.sweeps.exchange import _give_up\n"
            "_give_up('process 1 of the 2 in this sweep stopped\\n(boom)')\n"
            "print('not reached')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "collapsim: error: process 1 of the 2 in this sweep stopped (boom)\n"


def test_only_this_machines_dead_temporaries_are_removed(tmp_path):
    """The partial folder is shared between machines: another machine's process id means nothing here."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = sweep_chunks._host()
    names = {"mine_dead": f".chunk-00001.tmp-{dead.pid}@{here}.npz", "old_dead": f".chunk-00002.tmp-{dead.pid}.npz",
             "mine_alive": f".chunk-00003.tmp-{os.getpid()}@{here}.npz",
             "elsewhere": f".chunk-00004.tmp-{dead.pid}@not-{here}.npz"}
    for name in names.values():
        (tmp_path / name).write_bytes(b"")
    sweep_chunks._remove_dead_temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["mine_alive"], names["elsewhere"]])


def test_the_process_is_what_the_command_joined_as(monkeypatch):
    """`collapsim sweep --coordinator` leaves JAX's runtime after the join, so the sweep's rank and count
    are the command's --process-id and --num-processes, not JAX's (which is back to one process)."""
    monkeypatch.setattr(exchange, "_joined", None)
    assert exchange._process() == (0, 1)
    exchange.joined_as(2, 3)
    assert exchange._process() == (2, 3)
