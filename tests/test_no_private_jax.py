"""collapsim uses JAX's public API only: no module under src/ reaches into ``jax._src`` (JAX moves or
removes its private modules between releases without notice)."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# `jax._src`, `jax . _src`, `from jax import _src`, `getattr(jax, "_src")`...
PRIVATE = re.compile(r"""jax\s*\.\s*_src|from\s+jax\s+import\s+(\(\s*)?([\w\s,]*,\s*)?_src\b|jax\s*,\s*["']_src["']""")


def private_uses(root: Path) -> list[str]:
    """``path:line: text`` for every line of every file under ``root`` that names JAX's private package."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".pyi", ".md", ".txt", ".toml", ".cfg"):
            for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if PRIVATE.search(line):
                    found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def test_no_module_under_src_uses_jax_private_api():
    assert SRC.is_dir()
    assert private_uses(SRC) == []


def test_the_check_sees_every_spelling(tmp_path):
    lines = ["from jax._src import xla_bridge", "import jax._src.distributed as d", "from jax import _src",
             "from jax import numpy, _src", "x = getattr(jax, '_src')", "jax . _src . config"]
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("\n".join(["import jax", *lines, "from jax import numpy as jnp"]) + "\n")
    assert [f.split(": ", 1)[1] for f in private_uses(tmp_path)] == lines
