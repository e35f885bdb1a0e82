"""The fuzz findings of issue 26 about ``collapsim run``, config files and ``bench``, kept in the suite: each bad
input exits 2 with one line on stderr, no traceback, and nothing written where the output would go, before
any simulation (the sizes are small, so a case that slipped through would still finish quickly and fail)."""

import errno
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from collapsim.files import outdir
from collapsim.commands.cli import main
from collapsim.runs.spec import RunSpec

#: A small valid run config; each case below spoils one thing in it.
RUN = {"family": "categorical", "family_options": {"vocab": 5}, "params": {}, "policy": "replace", "alpha": "none",
       "samples": 10, "generations": 2, "seeds": 4, "seed": 0}
SWEEP = {**RUN, "policy": "mix", "alpha": "0.1",
         "sweep": {"axes": [["alpha", [0.1, 0.2]]], "summary": "final:entropy", "until_collapse": False, "cap": 0}}
SMALL = ["--generations", "2", "--seeds", "4"]


def _with(base, section=None, **changes):
    """``base`` with ``changes`` applied at the top level or inside ``section`` (a dict key of base)."""
    out = json.loads(json.dumps(base))
    (out[section] if section else out).update(changes)
    return out


# (id, command before the config path or the arguments, config content (a JSON text or object; None: no file),
#  words the one-line message must hold)
CONFIG_CASES = [
    ("run config null", "run", "null", "not a JSON object"),
    ("run config 42", "run", "42", "not a JSON object"),
    ("run config list", "run", "[1, 2]", "not a JSON object"),
    ("family a list", "run", _with(RUN, family=["categorical"]), "unknown family"),
    ("family_options a list", "run", _with(RUN, family_options=[5]), "family_options must be a JSON object"),
    ("family_options a string", "run", _with(RUN, family_options="vocab"), "family_options must be a JSON object"),
    ("vocab the string 5", "run", _with(RUN, "family_options", vocab="5"), "--vocab must be a whole number >= 1, got '5'"),
    ("vocab 5.5", "run", _with(RUN, "family_options", vocab=5.5), "--vocab must be a whole number >= 1, got 5.5"),
    ("top_k null", "run", _with(RUN, "family_options", top_k=None), "--top-k must be a whole number >= 0, got null"),
    ("params a list", "run", _with(RUN, params=[1]), "params must be a JSON object"),
    ("temperature hot", "run", _with(RUN, "params", temperature="hot"), "--temperature must be a positive finite number, got 'hot'"),
    ("temperature null", "run", _with(RUN, "params", temperature=None), "--temperature must be a positive finite number, got null"),
    ("temperature a list", "run", _with(RUN, "params", temperature=[1]), "--temperature must be a positive finite number, got [1]"),
    ("5001-digit integer", "run", json.dumps(RUN).replace('"seeds": 4', '"seeds": ' + "9" * 5001), "integer too long"),
    ("4000-digit integer", "run", json.dumps(RUN).replace('"seeds": 4', '"seeds": ' + "9" * 4000), "--seeds must fit a 64-bit"),
    ("seed a string", "run", _with(RUN, seed="7"), "--seed must be a whole number in [0, 4294967295] (32-bit), got '7'"),
    ("alpha null", "run", _with(RUN, policy="mix", alpha=None), "--alpha must be a schedule"),
    ("option in the wrong section", "run", _with(RUN, "params", vocab=5), "--vocab belongs in family_options"),
    ("sweep config a list", "sweep", "[1, 2]", "not a collapsim sweep config"),
    ("sweep alpha axis text", "sweep", _with(SWEEP, "sweep", axes=[["alpha", ["a", "b"]]]),
     "--grid alpha must be a finite number in [0, 1], got 'a'"),
    ("sweep alpha axis null", "sweep", _with(SWEEP, "sweep", axes=[["alpha", [None, 0.5]]]),
     "--grid alpha must be a finite number in [0, 1], got null"),
    ("sweep vocab axis text", "sweep", _with(SWEEP, "sweep", axes=[["vocab", ["5", "6"]]]),
     "--grid vocab must be a whole number >= 1, got '5'"),
    ("sweep temperature nan", "sweep", _with(SWEEP, "params", temperature="nan"),
     "--temperature must be a positive finite number, got 'nan'"),
    ("sweep temperature axis NaN", "sweep", json.dumps(_with(SWEEP, "sweep", axes=[["temperature", [float("nan"), 1.0]]])),
     "--grid temperature must be a positive finite number, got nan"),
    ("sweep axes not pairs", "sweep", _with(SWEEP, "sweep", axes=[["alpha"]]), "list of [NAME, [VALUE, ...]] pairs"),
    ("sweep cap text", "sweep", _with(SWEEP, "sweep", cap="3"), "--cap must be a whole number >= 0, got '3'"),
]


def _refused(res, out, words):
    """Exit 2, one line naming the problem, no traceback, nothing at the output."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert isinstance(res.exception, SystemExit), res.exception  # anything else is a traceback
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collapsim: error: "), res.stderr
    assert words in lines[0], lines[0]
    assert not os.path.lexists(out), f"{out} was written"
    return lines[0]


@pytest.mark.parametrize("command,content,words", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_file_is_refused_in_one_line(tmp_path, command, content, words):
    path = tmp_path / "config.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, [command, "--config", str(path), "--out", str(out)])
    _refused(res, out, words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_config_and_command_line_give_the_same_message(tmp_path):
    """One rule per option: `--vocab 0` and a config holding vocab 0 are refused with the same line."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_with(RUN, "family_options", vocab=0)))
    from_config = _refused(CliRunner().invoke(main, ["run", "--config", str(path), "--out", str(tmp_path / "a")]),
                           tmp_path / "a", "--vocab")
    from_cli = _refused(CliRunner().invoke(main, ["run", "categorical", "--vocab", "0", *SMALL, "--out", str(tmp_path / "b")]),
                        tmp_path / "b", "--vocab")
    assert from_config == from_cli == "collapsim: error: --vocab must be a whole number >= 1, got 0"


def test_a_config_value_outside_float32_is_refused_like_the_option(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_with(RUN, family="gaussian", family_options={"variance": 1e39})))
    _refused(CliRunner().invoke(main, ["run", "--config", str(path), "--out", str(tmp_path / "r")]), tmp_path / "r",
             "--variance 1e+39 is outside float32's range")


def test_a_whole_valued_float_in_a_config_is_read_as_an_integer():
    """vocab 5.0 is the integer 5 (JSON writers may spell it so), and config.json records the spec as read."""
    spec = RunSpec.from_config(_with(RUN, "family_options", vocab=5.0))
    assert spec.family_options["vocab"] == 5 and isinstance(spec.family_options["vocab"], int)
    assert json.loads(spec.to_json())["family_options"]["vocab"] == 5


# (id, command-line arguments (--out is added), words the one-line message must hold)
CLI_CASES = [
    # Sizes bounded by the memory estimate, which names the size that was changed.
    ("regression d x d", ["run", "regression", "--dim", "50000"], "--dim 50000 needs ~"),
    ("gmm components above n", ["run", "gmm", "--components", "1000", "--samples", "20", *SMALL],
     "--components 1000 is more than the 20 samples"),
    ("gmm hold-out", ["run", "gmm", "--holdout", "1000000000"], "--holdout 1000000000 needs ~"),
    # Values float32 cannot hold, refused before simulating (they became inf and failed after the run).
    ("variance 1e39", ["run", "gaussian", "--variance", "1e39", *SMALL], "--variance 1e+39 is outside float32's range"),
    ("variance 1e308", ["run", "gaussian", "--variance", "1e308", *SMALL], "--variance 1e+308 is outside float32's range"),
    ("variance 1e-300", ["run", "gaussian", "--variance", "1e-300", *SMALL], "at any --precision"),
    ("kde scale 1e39", ["run", "kde", "--scale", "1e39", *SMALL], "--scale 1e+39 is outside float32's range"),
    ("regression noise 1e39", ["run", "regression", "--noise", "1e39", *SMALL], "--noise 1e+39 is outside float32's range"),
    ("gmm separation nan", ["run", "gmm", "--separation", "nan", *SMALL], "--separation must be a finite number >= 0, got nan"),
    ("gmm separation inf", ["run", "gmm", "--separation", "inf", *SMALL], "--separation must be a finite number >= 0, got inf"),
    # Accepted silently or inconsistently before.
    ("alpha empty item", ["run", "gaussian", "--policy", "mix", "--alpha", "0.1,,0.2", *SMALL],
     "alpha schedule '0.1,,0.2' has an empty item (item 2)"),
    ("alpha trailing comma", ["run", "gaussian", "--policy", "mix", "--alpha", "0.1,", *SMALL], "has an empty item"),
    ("gmm threshold 2", ["run", "gmm", "--threshold", "2", *SMALL], "--threshold must be a finite number in [0, 1), got 2.0"),
    ("gmm threshold 1", ["run", "gmm", "--threshold", "1", *SMALL], "--threshold must be a finite number in [0, 1)"),
]

# bench commands write no folder; their refusals must come before any progress line.
BENCH_CASES = [
    ("loop-seconds nan", ["bench", "categorical", "--grid", "--loop-seconds", "nan"],
     "--loop-seconds must be a positive finite number, got nan"),
    ("loop-seconds 0", ["bench", "categorical", "--grid", "--loop-seconds", "0"], "--loop-seconds must be a positive"),
    ("gaussian loop-seconds inf", ["bench", "gaussian", "--grid", "--loop-seconds", "inf"], "got inf"),
    ("bench alpha nan", ["bench", "categorical", "--alpha", "nan", "--chains", "4", "--generations", "2", "--no-theory"],
     "--alpha must be a finite number in [0, 1], got nan"),
]


@pytest.mark.parametrize("args,words", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_is_refused_in_one_line(tmp_path, args, words):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, [*args, "--out", str(out)])
    _refused(res, out, words)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,words", [c[1:] for c in BENCH_CASES], ids=[c[0] for c in BENCH_CASES])
def test_bad_bench_option_is_refused_before_any_output(tmp_path, args, words):
    res = CliRunner().invoke(main, args)
    _refused(res, tmp_path / "nothing", words)
    assert res.stdout == ""  # _refused checked stderr is the one error line: no "... compiling" first


# --out problems, found before simulating (they used to fail after it, at the publishing rename).
def _name_max(folder) -> int:
    return os.pathconf(folder, "PC_NAME_MAX")


@pytest.mark.parametrize("length,words", [
    (300, "the folder name is 300 characters, too long here"),
    # legal itself, but .NAME.checkpoint.npz.tmp-PID.npz beside it is not (it failed after simulating)
    ("siblings", "too long here: collapsim writes hidden files named .NAME plus up to 31 characters"),
])
def test_out_name_too_long(tmp_path, length, words):
    if length == "siblings":
        length = _name_max(tmp_path) - outdir.SIBLING_EXTRA
    out = tmp_path / ("r" * length)
    res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--driver", "host", "--out", str(out)])
    _refused(res, out, words)
    assert list(tmp_path.iterdir()) == []


def test_out_name_of_the_longest_legal_length_runs(tmp_path):
    out = tmp_path / ("r" * (_name_max(tmp_path) - 1 - outdir.SIBLING_EXTRA))
    res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--samples", "4", "--driver", "host", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_out_in_a_place_that_refuses_files(tmp_path, monkeypatch):
    """A read-only location, as the probe file meets it (root writes through permission bits)."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outdir.tempfile, "mkstemp", read_only)
    out = tmp_path / "ro" / "run"
    res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--out", str(out)])
    _refused(res, out, "not writable: Read-only file system")
    assert list(tmp_path.iterdir()) == []


def test_out_at_a_mount_point(tmp_path, monkeypatch):
    """An empty mount point passed every check, then the publishing rename failed with EBUSY."""
    out = tmp_path / "mnt"
    out.mkdir()
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: os.path.abspath(p) == str(out) or real(p))
    res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--out", str(out)])
    assert res.exit_code == 2 and "is a mount point" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [out] and list(out.iterdir()) == []


def test_out_at_a_real_read_only_mount(tmp_path):
    """The fuzz's case itself where this machine lets the test mount (root with the right to mount)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "none", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a file system here")
    try:
        for out, words in ((mnt, "is a mount point"), (mnt / "run", "not writable: Read-only file system")):
            res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--out", str(out)])
            assert res.exit_code == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
        assert list(tmp_path.iterdir()) == [mnt]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_killed_checkpoint_write_leaves_no_temporary_after_the_rerun(tmp_path):
    """A kill during a host-driver checkpoint write left .R.checkpoint.npz.tmp-PID.npz for good; the rerun
    removes a dead writer's temporary and keeps a live one's (another run may be writing it)."""
    dead = subprocess.Popen(["sleep", "0"])
    dead.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        stale = tmp_path / f".R.checkpoint.npz.tmp-{dead.pid}.npz"
        busy = tmp_path / f".R.checkpoint.npz.tmp-{live.pid}.npz"
        stale.write_bytes(b"PK\x03\x04 half a zip")
        busy.write_bytes(b"PK\x03\x04 being written")
        res = CliRunner().invoke(main, ["run", "gaussian", *SMALL, "--samples", "4", "--driver", "host",
                                        "--out", str(tmp_path / "R")])
        assert res.exit_code == 0, res.output
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["R", busy.name])
    finally:
        live.kill()
        live.wait()
