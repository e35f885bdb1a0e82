import pytest

from collapsim.errors import ConfigError
from collapsim.output.runfolder import write_run

SUMMARY = {"m": {"mean": [1.0, 0.5], "stderr": [0.0, 0.1], "lo": [1.0, 0.2], "hi": [1.0, 0.8], "theory": None}}


def test_failure_while_drawing_leaves_nothing(tmp_path):
    def broken(path):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_run(tmp_path / "run", {"a": 1}, SUMMARY, broken)
    assert list(tmp_path.iterdir()) == []


def test_rerun_replaces_an_earlier_run_folder(tmp_path):
    out = tmp_path / "run"
    write_run(out, {"a": 1}, SUMMARY, lambda p: p.write_bytes(b"png"))
    write_run(out, {"a": 2}, SUMMARY, lambda p: p.write_bytes(b"png2"))
    assert '"a": 2' in (out / "config.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_non_run_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError):
        write_run(tmp_path, {}, SUMMARY, lambda p: None)
