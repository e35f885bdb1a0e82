"""`collapsim replay check | play | search` end to end, including one-line errors."""

import json

import pytest
from click.testing import CliRunner

from collapsim.cli import main


def run(*args):
    return CliRunner().invoke(main, ["replay", *args])


def test_check_json_keys_and_answer():
    res = run("check", "four-language", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["properly_generatable_with_replay"] is False
    assert out["properly_generatable_without_replay"] is True
    assert out["closure_dimension"] == 3
    cert = out["certificate"]
    assert cert["player"] == "adversary" and cert["checker"]["accepted"] is True
    assert cert["rules"][0] == {"forced": [], "outputs_cover": [], "show": "0"}


def test_check_readable_on_a_shipped_chain(tmp_path):
    res = run("check", "chain")
    assert res.exit_code == 0, res.output
    assert "with replay: yes" in res.stdout and "accepted" in res.stdout


def test_play_shows_km_failing_under_replay():
    res = run("play", "separation", "--generator", "km", "--adversary", "replay-everything", "--target", "h_inf",
              "--rounds", "20", "--json")
    assert res.exit_code == 0, res.output
    t = json.loads(res.stdout)["targets"]["h_inf"]
    assert t["stream_legal"] and len([r for r in t["wrong_rounds"] if r > 10]) >= 5


def test_play_burn_in_text():
    res = run("play", "four-language", "--generator", "closure", "--burn-in", "auto", "--target", "h2+",
              "--rounds", "20")
    assert res.exit_code == 0, res.output
    assert "after the burn-in threshold" in res.stdout and "no wrong rounds" in res.stdout


def test_search_small():
    res = run("search", "--max-size", "3", "--max-cells", "4", "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [s["size"] for s in out["sizes"]] == [1, 2, 3]
    assert all(s["decided"] == s["failing"] + s["succeeding"] for s in out["sizes"])


@pytest.mark.parametrize("args, fragment", [
    (["check", "/nonexistent.json"], "cannot read"),
    (["play", "four-language", "--generator", "nope"], "nope"),
    (["play", "four-language", "--adversary", "nope"], "nope"),
    (["play", "four-language", "--target", "h9"], "unknown target"),
    (["play", "four-language", "--generator", "certificate"], "not properly generatable"),
    (["play", "chain", "--adversary", "trap", "--generator", "mch"], "trap adversary needs"),
    (["play", "four-language", "--burn-in", "x"], "--burn-in"),
])
def test_errors_are_one_line(args, fragment):
    res = run(*args)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:") and fragment in lines[0]


def test_malformed_and_duplicate_json_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"languages": {"a": [[0, null]], "a": [[1, null]]}}')
    res = run("check", str(bad))
    assert res.exit_code == 2 and "appears twice" in res.stderr
    bad.write_text('{"languages": ')
    res = run("check", str(bad))
    assert res.exit_code == 2 and "not valid JSON" in res.stderr
