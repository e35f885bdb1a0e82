from click.testing import CliRunner

from collapsim.commands.cli import main


def test_help_lists_command_groups():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for group in ("run", "bench", "replay", "llm"):
        assert group in res.output
