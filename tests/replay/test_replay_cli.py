"""`collapsim replay check | play | search` end to end, including one-line errors."""

import json
import time

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main


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


ISSUE_CLASS = {"universe": "integers", "languages": {"core": [[10, None]], "x": [[10, None], [-4, -4]],
                                                     "y": [[10, None], [2, 3]], "z": [[None, -20], [10, None]]}}


def _one_line_error(res, fragment):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:") and fragment in lines[0], lines


def test_issue_class_is_decided_with_a_certificate_that_verifies(tmp_path):
    cls = tmp_path / "issue.json"
    cls.write_text(json.dumps(ISSUE_CLASS))
    cert = tmp_path / "cert.json"
    t0 = time.perf_counter()
    res = run("check", str(cls), "--certificate-out", str(cert))
    assert time.perf_counter() - t0 < 1.0
    assert res.exit_code == 0, res.output
    assert "4 languages, 4 cells" in res.stdout and "with replay: yes" in res.stdout
    assert "independent checker: accepted" in res.stdout
    written = json.loads(cert.read_text())
    assert written["player"] == "generator" and {r["output"] for r in written["rules"]} == {"core"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    res = run("verify", str(cls), str(cert))
    assert res.exit_code == 0 and "accepted" in res.stdout and "positions visited" in res.stdout


def test_verify_rejects_the_issue_tampering_with_exit_1(tmp_path):
    cert = tmp_path / "c3.json"
    assert run("check", "three_language", "--certificate-out", str(cert)).exit_code == 0
    obj = json.loads(cert.read_text())
    (rule,) = [r for r in obj["rules"] if r["forced"] == ["1", ">=2"] and r["outputs_cover"] == ["<=-1", "0", "1"]]
    assert "stay" in rule
    del rule["stay"]
    rule["show"] = "0"
    cert.write_text(json.dumps(obj))
    res = run("verify", "three_language", str(cert))
    assert res.exit_code == 1, res.output
    assert "REJECTED" in res.stdout and "'show 0'" in res.stdout and "forced {1, >=2}" in res.stdout


def test_verify_reads_a_certificate_written_by_another_tool(tmp_path):
    # Cells named by elements of them, keys in another order, no informational keys: still checked.
    cls = tmp_path / "chain.json"
    cls.write_text('{"languages": {"small": [[5, null]], "big": [[0, null]]}}')
    # Cells: 0..4 (big only) and >=5 (both).  Rules name cells by elements, different ones each time.
    rules = [{"output": "big", "forced": [0], "outputs_cover": []},
             {"output": "small", "forced": [7], "outputs_cover": []},
             {"output": "big", "forced": [3], "outputs_cover": [0, 9]},
             {"output": "small", "forced": [">=5"], "outputs_cover": [100]},
             {"output": "big", "forced": [1, 9], "outputs_cover": [5]},
             {"output": "big", "forced": ["0..4", 9], "outputs_cover": [4, 100]}]
    cert = tmp_path / "other.json"
    cert.write_text(json.dumps({"player": "generator", "rules": rules}))
    res = run("verify", str(cls), str(cert), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["accepted"] is True
    # Answering 'big' after only >=5 was shown: the adversary stays inside >=5 and small is the target.
    bad = rules[:3] + [dict(rules[3], output="big"), {"output": "big", "forced": [7], "outputs_cover": [0, 7]}]
    bad += rules[4:]
    cert.write_text(json.dumps({"player": "generator", "rules": bad}))
    res = run("verify", str(cls), str(cert))
    assert res.exit_code == 1 and "adversary wins" in res.stdout


@pytest.mark.parametrize("content, code, fragment", [
    (b'{"player": "generator", "rules": [{"forced": ["nowhere"], "outputs_cover": [], "output": "core"}]}', 1,
     "names no cell"),
    (b'{"player": "generator", "rules": [{"forced": [-5], "outputs_cover": [], "output": "core"}]}', 1,
     "lies in no language"),
    (b'{"player": "generator", "rules": [{"forced": [], "outputs_cover": [], "output": "nobody"}]}', 1,
     "not a language"),
    (b'{"player": "generator", "rules": []}', 1, "no rule"),
    (b'{"player": "referee", "rules": []}', 2, "'player'"),
    (b'{"player": "generator", "rules": {}}', 2, "'rules'"),
    (b'{"player": "adversary", "rules": [{"forced": [], "outputs_cover": [], "output": "x"}]}', 2, "'show'"),
    (b'\xc3\x28', 2, "not UTF-8"),
    (b'[' * 100_000, 2, "nested too deeply"),
    (b'{"player": ', 2, "not valid JSON"),
], ids=["unknown-cell", "empty-element", "unknown-language", "empty", "player", "rules-type", "adversary-output",
        "encoding", "nesting", "truncated"])
def test_verify_exit_codes(tmp_path, content, code, fragment):
    cls = tmp_path / "issue.json"
    cls.write_text(json.dumps(ISSUE_CLASS))
    cert = tmp_path / "cert.json"
    cert.write_bytes(content)
    res = run("verify", str(cls), str(cert))
    if code == 2:
        _one_line_error(res, fragment)
    else:
        assert res.exit_code == 1 and "REJECTED" in res.stdout and fragment in res.stdout, res.output


def test_certificate_out_failure_leaves_nothing(tmp_path):
    target = tmp_path / "missing-dir" / "cert.json"
    _one_line_error(run("check", "four-language", "--certificate-out", str(target)), "cannot write")
    assert not target.parent.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data, fragment", [
    (b'\xff\xfe\x00{', "not UTF-8"),
    (b"[" * 60_000 + b"]" * 60_000, "nested too deeply"),
    (json.dumps({"languages": {"a": list(range(0, 250_000, 2))}}).encode(), "at most"),
    (b'{"languages": {"a": [' + b"1" * 6000 + b']}}', "not a usable JSON"),
], ids=["encoding", "nesting", "huge-array", "huge-number"])
def test_malformed_class_files_are_one_line(tmp_path, data, fragment):
    p = tmp_path / "bad.json"
    p.write_bytes(data)
    for cmd in (["check", str(p)], ["play", str(p)], ["verify", str(p), str(p)]):
        _one_line_error(run(*cmd), fragment)


def test_check_limits_count_membership_cells(tmp_path):
    # 13 languages are beyond the solver whatever their cells; the message counts languages and cells.
    p = tmp_path / "many.json"
    p.write_text(json.dumps({"languages": {f"l{i}": [[i, None]] for i in range(13)}}))
    _one_line_error(run("check", str(p)), "13 languages over 13 cells")


@pytest.mark.parametrize("rounds", [19, 25, 61])
def test_closure_burn_in_runs_on_long_separation_games(rounds):
    res = run("play", "separation", "--generator", "closure", "--burn-in", "auto", "--rounds", str(rounds), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["stream"]) == rounds and out["burn_in_threshold"] >= 2


def test_without_replay_is_solved_on_small_classes_and_stated_on_big_ones(tmp_path):
    small = json.loads(run("check", "four-language", "--json").stdout)
    assert small["without_replay_computed"] is True and small["properly_generatable_without_replay"] is True
    # 16 cells: 6 languages, one point for each pair of them (15 membership patterns), and a shared ray.
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    p = tmp_path / "pairs.json"
    p.write_text(json.dumps({"languages": {f"s{i}": [[z, z] for z, pr in enumerate(pairs) if i in pr] + [[200, None]]
                                           for i in range(6)}}))
    res = run("check", str(p), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["without_replay_computed"] is False and out["properly_generatable_without_replay"] is True
    assert out["certificate"]["checker"]["accepted"] is True
