"""The output-folder rule (collapsim.files.outdir): what is refused, what is replaced, and that no kill, race or
failure loses a folder's data."""

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from collapsim.files import outdir
from collapsim.errors import ConfigError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _write(out, kind="run", files=None, protect=()):
    """check_out + staged + publish, the way a command writes its folder; returns the published path."""
    out = outdir.check_out(out, kind=kind, protect=protect)
    with outdir.staged(out) as tmp:
        for name, text in (files or {"config.json": "{}"}).items():
            (tmp / name).write_text(text)
        return outdir.publish(tmp, out, kind=kind)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --- refusals -------------------------------------------------------------------------------------------

def _project(tmp_path):
    """The folder the old rule (config.json present = run folder) wiped."""
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "src").mkdir()
    (proj / "config.json").write_text("{}")
    (proj / "data" / "results.csv").write_text("a,b\n1,2\n")
    (proj / "src" / "main.py").write_text("print(1)\n")
    return proj


def _case(tmp_path, name):
    if name == "project folder with config.json":
        return _project(tmp_path), (), "did not write"
    if name == "a file":
        (tmp_path / "f.txt").write_text("x")
        return tmp_path / "f.txt", (), "is a file"
    if name == "below a file":
        (tmp_path / "f.txt").write_text("x")
        return tmp_path / "f.txt" / "run", (), "which is a file"
    if name == "under /proc":
        return Path("/proc/collapsim-run"), (), "under /proc"
    if name == "under /sys":
        return Path("/sys/kernel/collapsim"), (), "under /sys"
    if name == "symlink":
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        return tmp_path / "link", (), "symbolic link"
    if name == "other kind":
        _write(tmp_path / "ck", kind="checkpoint")
        return tmp_path / "ck", (), "not a run folder"
    if name == "our folder plus a user's file":
        _write(tmp_path / "r")
        (tmp_path / "r" / "notes.txt").write_text("mine")
        return tmp_path / "r", (), "'notes.txt'"
    if name == "equals protected":
        (tmp_path / "in").mkdir()
        return tmp_path / "in", (tmp_path / "in",), "is the input"
    if name == "inside protected":
        (tmp_path / "in").mkdir()
        return tmp_path / "in" / "sub", (tmp_path / "in",), "lies inside the input"
    if name == "contains protected":
        (tmp_path / "in" / "ck").mkdir(parents=True)
        return tmp_path / "in", (tmp_path / "in" / "ck",), "contains the input"
    raise AssertionError(name)


REFUSALS = ["project folder with config.json", "a file", "below a file", "under /proc", "under /sys", "symlink",
            "other kind", "our folder plus a user's file", "equals protected", "inside protected",
            "contains protected"]


@pytest.mark.parametrize("name", REFUSALS)
def test_refused_before_any_work_and_nothing_touched(tmp_path, name):
    out, protect, words = _case(tmp_path, name)
    before = _tree(tmp_path)
    with pytest.raises(ConfigError, match=words) as e:
        outdir.check_out(out, kind="run", protect=protect)
    assert "\n" not in str(e.value)
    assert _tree(tmp_path) == before


def test_unwritable_place_is_refused(tmp_path, monkeypatch):
    # Root may write anywhere, so make the probe file fail the way a read-only mount does.
    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outdir.tempfile, "mkstemp", denied)
    with pytest.raises(ConfigError, match="not writable"):
        outdir.check_out(tmp_path / "a" / "run", kind="run")
    assert not (tmp_path / "a").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only-permission folder")
def test_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match="not writable"):
        outdir.check_out(ro / "run", kind="run")


def test_accepted_destinations(tmp_path):
    assert outdir.check_out(tmp_path / "new" / "deeper", kind="run") == (tmp_path / "new" / "deeper").resolve()
    (tmp_path / "empty").mkdir()
    outdir.check_out(tmp_path / "empty", kind="run")
    _write(tmp_path / "r")
    outdir.check_out(tmp_path / "r", kind="run")  # our own earlier run folder: will be replaced


# --- publishing -----------------------------------------------------------------------------------------

def test_rerun_replaces_and_leaves_no_litter(tmp_path):
    out = tmp_path / "r"
    assert _write(out, files={"a.txt": "1", "b.txt": "1"}) == out.resolve()
    assert _write(out, files={"a.txt": "2"}) == out.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert sorted(p.name for p in out.iterdir()) == [outdir.MARKER, "a.txt"]
    assert (out / "a.txt").read_text() == "2"
    m = json.loads((out / outdir.MARKER).read_text())
    assert m["kind"] == "run" and m["files"] == ["a.txt"]


def test_failure_while_writing_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    out = tmp_path / "r"
    _write(out, files={"a.txt": "old"})
    with pytest.raises(RuntimeError):
        outdir.check_out(out, kind="run")
        with outdir.staged(out) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert (out / "a.txt").read_text() == "old"


def test_kill_between_the_two_renames_is_recovered(tmp_path):
    # State after a SIGKILL between "rename old aside" and "rename new into place": only the hidden copy.
    out = tmp_path / "r"
    _write(out, files={"a.txt": "precious"})
    aside = tmp_path / f".r.old-{_dead_pid()}-abc"
    os.rename(out, aside)
    outdir.check_out(out, kind="run")
    assert (out / "a.txt").read_text() == "precious" and not aside.exists()


def test_writer_that_won_meanwhile_is_not_overwritten(tmp_path):
    out = tmp_path / "r"
    outdir.check_out(out, kind="run")
    # Another process publishes into the same --out while this one works.
    out.mkdir()
    (out / "a.txt").write_text("theirs")
    (out / outdir.MARKER).write_text(json.dumps({"kind": "run", "id": "other", "files": ["a.txt"]}))
    with outdir.staged(out) as tmp:
        (tmp / "a.txt").write_text("ours")
        final = outdir.publish(tmp, out, kind="run")
    assert final == (tmp_path / "r-2").resolve()
    assert (out / "a.txt").read_text() == "theirs" and (final / "a.txt").read_text() == "ours"


def _racer(out, text, barrier, q):
    out = outdir.check_out(out, kind="run")
    barrier.wait()
    with outdir.staged(out) as tmp:
        (tmp / "who.txt").write_text(text)
        q.put(str(outdir.publish(tmp, out, kind="run")))


def test_concurrent_writers_all_keep_their_data(tmp_path):
    ctx = mp.get_context("spawn")  # not fork: other tests in this process may have started JAX's threads
    barrier, q = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(tmp_path / "r", f"w{i}", barrier, q)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    finals = sorted(q.get(timeout=5) for _ in procs)
    assert len(set(finals)) == 4  # each run says where its data went, and no two went to the same place
    assert sorted((Path(f) / "who.txt").read_text() for f in finals) == ["w0", "w1", "w2", "w3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "r-2", "r-3", "r-4"]


# --- temporary folders, signals -------------------------------------------------------------------------

def test_staging_removes_dead_processes_temp_folders_only(tmp_path):
    out = tmp_path / "r"
    dead = tmp_path / f".r.tmp-{_dead_pid()}-x1"
    alive = tmp_path / f".r.tmp-{os.getppid()}-x2"
    other = tmp_path / f".q.tmp-{_dead_pid()}-x3"
    for d in (dead, alive, other):
        d.mkdir()
    tmp = outdir.staging(out)
    assert tmp.name.startswith(f".r.tmp-{os.getpid()}-") and tmp.is_dir()
    assert not dead.exists() and alive.exists() and other.exists()


_WRITER = textwrap.dedent("""
    import sys, time
    from collapsim.files import outdir
    out = outdir.check_out(sys.argv[1], kind="run")
    with outdir.staged(out) as tmp:
        (tmp / "a.txt").write_text("partial")
        print("ready", flush=True)
        time.sleep(60)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_writer_leaves_nothing(tmp_path, sig):
    out = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen([sys.executable, "-c", _WRITER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "ready"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary folder
    p.send_signal(sig)
    p.wait(30)
    if sig == signal.SIGTERM:
        assert p.returncode == 128 + signal.SIGTERM
        assert list(tmp_path.iterdir()) == []
    else:
        outdir.staging(out)  # the next writer cleans up after a SIGKILL
        assert [q.name for q in tmp_path.iterdir()][0].startswith(f".r.tmp-{os.getpid()}-")


# --- default names --------------------------------------------------------------------------------------

def test_unique_default_never_collides(tmp_path):
    base = tmp_path / "runs" / "gaussian-20260101-000000"
    got = []

    def take():
        got.append(outdir.unique_default(base))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 8 and base in got and all(p.is_dir() for p in got)


def test_reserved_default_is_removed_when_the_run_fails(tmp_path):
    out = outdir.unique_default(tmp_path / "run")
    outdir.check_out(out, kind="run")
    with pytest.raises(RuntimeError):
        with outdir.staged(out):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    out = outdir.unique_default(tmp_path / "run")
    assert _write(out) == out.resolve() and (out / "config.json").exists()
