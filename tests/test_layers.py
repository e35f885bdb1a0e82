"""The layer contract (``[tool.importlinter]`` in pyproject.toml): no module imports from a layer above its
own, checked by import-linter over the source tree; and the check has teeth: the same contract over a copy of
the package with one upward import added fails, naming it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint(src: Path, cwd: Path) -> subprocess.CompletedProcess:
    """import-linter's command over the package under ``src``, with the repository's pyproject.toml."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([sys.executable, "-c", code, str(ROOT / "pyproject.toml")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_import_goes_down_the_layers(tmp_path):
    res = _lint(ROOT / "src", tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "collapsim layers KEPT" in res.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "collapsim", src / "collapsim", ignore=shutil.ignore_patterns("__pycache__"))
    step = src / "collapsim" / "engine" / "step.py"
    step.write_text(step.read_text() + "\n\ndef _upward():\n    from collapsim.runs.registry import entry  # the engine reaching up\n\n    return entry\n")
    res = _lint(src, tmp_path)
    assert res.returncode != 0
    assert "collapsim layers BROKEN" in res.stdout
    assert "collapsim.engine.step -> collapsim.runs.registry" in res.stdout, res.stdout[-3000:]


def test_claims_sit_between_commands_and_output():
    """collapsim.claims runs families, theory and replay and is run by the reproduce command: its layer is
    below commands and above output (it uses the lower layers, nothing above it)."""
    import tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    assert layers.index("commands") < layers.index("claims") < layers.index("output"), layers
