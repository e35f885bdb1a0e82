"""Bad or surprising inputs to `collapsim replay` (issue 26): each is refused in one line with exit 2 and
touches no file, or works as a researcher would expect.

Certificates are written here from the solver's strategies (the game without replay has no `check` option),
so the game each one claims is known independently of the code under test.
"""

import json

import pytest
from click.testing import CliRunner

from collapsim.cli import main
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
