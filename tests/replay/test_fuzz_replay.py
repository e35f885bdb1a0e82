"""Bad or surprising inputs to `collapsim replay` (issue 26): each is refused in one line with exit 2 and
touches no file, or works as a researcher would expect.

Certificates are written here from the solver's strategies (the game without replay has no `check` option),
so the game each one claims is known independently of the code under test.
"""

import json

import pytest
from click.testing import CliRunner

from collapsim.commands.cli import main
from collapsim.replay import games
from collapsim.replay.certificate import to_json
from collapsim.replay.solver import solve


def run(*args):
    return CliRunner().invoke(main, ["replay", *args])


def one_line_error(res, *fragments):
    """Exit 2, one non-empty stderr line starting with the CLI's prefix and holding every fragment."""
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("collapsim: error:"), lines
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Certificates for the four-language class (not properly generatable with replay, generatable without):
    the solver's generator certificate of the game without replay, the same with no 'replay' key, and the
    adversary certificate of the game with replay."""
    folder = tmp_path_factory.mktemp("certs")
    hc = games.four_language_class()
    plain, with_replay = solve(hc, replay=False), solve(hc, replay=True)
    assert (plain.player, with_replay.player) == ("generator", "adversary")  # the premise of the cases below
    out = {}
    for name, obj in (("no-replay", to_json(hc, plain.player, False, plain.strategy)),
                      ("replay", to_json(hc, with_replay.player, True, with_replay.strategy))):
        out[name] = folder / f"{name}.json"
        out[name].write_text(json.dumps(obj))
    unclaimed = to_json(hc, plain.player, False, plain.strategy)
    del unclaimed["replay"]
    out["unclaimed"] = folder / "unclaimed.json"
    out["unclaimed"].write_text(json.dumps(unclaimed))
    return out


@pytest.mark.parametrize("cert, flags, claimed, checked", [
    ("no-replay", [], "without replay", "with replay"),
    ("replay", ["--no-replay"], "with replay", "without replay"),
    ("no-replay", ["--json"], "without replay", "with replay"),
], ids=["generator-for-plain-checked-with-replay", "adversary-for-replay-checked-without", "json"])
def test_certificate_for_the_other_game_is_refused(certs, cert, flags, claimed, checked):
    # The case first: a generator certificate for the game without replay used to be "accepted" for a
    # class that fails with replay, the game the user means by default.
    line = one_line_error(run("verify", "four-language", str(certs[cert]), *flags))
    assert f"for the game {claimed}" in line and f"game checked is the game {checked}" in line
    assert not run("verify", "four-language", str(certs[cert]), *flags).stdout


@pytest.mark.parametrize("cert, flags, code, game", [
    ("no-replay", ["--no-replay"], 0, "without replay"),
    ("replay", [], 0, "with replay"),
    ("replay", ["--replay"], 0, "with replay"),
    # No claim: checked in the game named, where this strategy (the generator's without replay) loses.
    ("unclaimed", [], 1, "with replay"),
    ("unclaimed", ["--no-replay"], 0, "without replay"),
])
def test_verify_checks_the_game_named_and_says_which(certs, cert, flags, code, game):
    res = run("verify", "four-language", str(certs[cert]), *flags)
    assert res.exit_code == code, res.output
    verdict = res.stdout.strip().splitlines()
    assert len(verdict) == 1 and f"in the game {game}:" in verdict[0]
    assert ("accepted" if code == 0 else "REJECTED") in verdict[0]
    out = json.loads(run("verify", "four-language", str(certs[cert]), *flags, "--json").stdout)
    assert out["game"] == game and out["replay"] is (game == "with replay") and out["accepted"] is (code == 0)


# ------------------------------------------------------------------------------------------------------------
# replay check --certificate-out: no existing file is replaced unless asked, the class file never is
# ------------------------------------------------------------------------------------------------------------

CHAIN = '{"languages": {"small": [[5, null]], "big": [[0, null]]}}'


def _snapshot(folder):
    """Every path under ``folder`` with its bytes (None for folders): what "nothing written" compares."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("target, flags, fragments", [
    ("notes.txt", [], ["notes.txt exists", "--force"]),
    ("old-cert.json", [], ["old-cert.json exists", "--force"]),
    ("chain.json", [], ["is the input"]),
    ("chain.json", ["--force"], ["is the input"]),
    ("sub", [], ["is a folder"]),
    ("sub", ["--force"], ["is a folder"]),
    ("missing/cert.json", [], ["cannot write", "does not exist"]),
    ("notes.txt/cert.json", ["--force"], ["which is a file"]),
], ids=["foreign-file", "earlier-certificate", "class-file", "class-file-forced", "folder", "folder-forced",
        "missing-folder", "below-a-file"])
def test_certificate_out_refusals_write_nothing(tmp_path, target, flags, fragments):
    (tmp_path / "chain.json").write_text(CHAIN)
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "sub").mkdir()
    earlier = run("check", str(tmp_path / "chain.json"), "--certificate-out", str(tmp_path / "old-cert.json"))
    assert earlier.exit_code == 0, earlier.output
    before = _snapshot(tmp_path)
    res = run("check", str(tmp_path / "chain.json"), "--certificate-out", str(tmp_path / target), *flags)
    one_line_error(res, *fragments)
    assert not res.stdout  # refused before any work: no verdict printed
    assert _snapshot(tmp_path) == before


def test_force_replaces_an_existing_file_with_a_certificate_that_verifies(tmp_path):
    (tmp_path / "chain.json").write_text(CHAIN)
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    res = run("check", str(tmp_path / "chain.json"), "--certificate-out", str(out), "--force")
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["player"] == "generator"
    assert run("verify", str(tmp_path / "chain.json"), str(out)).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.json", "notes.txt"]  # no temporary left


def test_shipped_example_is_protected_too(tmp_path):
    from collapsim.commands.replay import _shipped

    shipped = _shipped("chain")
    before = open(shipped, "rb").read()
    one_line_error(run("check", "chain", "--certificate-out", shipped, "--force"), "is the input")
    assert open(shipped, "rb").read() == before


@pytest.mark.parametrize("force", [False, True])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, force):
    # The disk fills up (or the process is stopped) between writing the temporary and moving it into place.
    import collapsim.files.outfile as outfile

    (tmp_path / "chain.json").write_text(CHAIN)
    out = tmp_path / "cert.json"
    if force:
        out.write_text("older\n")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outfile.os, "replace", full_disk)
    monkeypatch.setattr(outfile.os, "link", full_disk)
    before = _snapshot(tmp_path)
    one_line_error(run("check", str(tmp_path / "chain.json"), "--certificate-out", str(out),
                       *(["--force"] if force else [])), "cannot write", "No space left")
    assert _snapshot(tmp_path) == before


def test_a_file_created_meanwhile_is_not_replaced(tmp_path, monkeypatch):
    # Another process creates the file after the check and before the write: without --force it stays.
    import collapsim.replay.solver as solver

    (tmp_path / "chain.json").write_text(CHAIN)
    out = tmp_path / "cert.json"
    real = solver.solve

    def solve_then_race(*args, **kwargs):
        out.write_text("someone else's\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(solver, "solve", solve_then_race)
    one_line_error(run("check", str(tmp_path / "chain.json"), "--certificate-out", str(out)), "meanwhile")
    assert out.read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.json", "chain.json"]
