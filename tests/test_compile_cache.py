"""The persistent compilation cache of the ``collapsim`` command (collapsim.commands.compile_cache)."""

import os
import subprocess
import sys

import pytest

from collapsim.commands.compile_cache import OPT_OUT, use_compile_cache


def test_cache_folder_is_under_the_collapsim_cache_and_keeps_every_program(tmp_path):
    env = {"COLLAPSIM_CACHE": str(tmp_path / "c")}
    assert use_compile_cache(env) == tmp_path / "c" / "jax"
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "c" / "jax")
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
    assert (tmp_path / "c" / "jax").is_dir()


def test_opt_out_and_the_users_own_cache_folder_are_left_alone(tmp_path):
    for off in ("1", "yes"):
        env = {"COLLAPSIM_CACHE": str(tmp_path / "c"), OPT_OUT: off}
        assert use_compile_cache(env) is None
        assert "JAX_COMPILATION_CACHE_DIR" not in env
    assert not (tmp_path / "c").exists()
    env = {"COLLAPSIM_CACHE": str(tmp_path / "c"), OPT_OUT: "0", "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "mine")}
    assert use_compile_cache(env) == tmp_path / "mine"
    assert "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in env  # the user's settings, not ours


def test_an_unwritable_cache_folder_turns_the_cache_off_silently(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {"COLLAPSIM_CACHE": str(blocker)}
    assert use_compile_cache(env) is None
    assert "JAX_COMPILATION_CACHE_DIR" not in env


def _environ(cache, *extra):
    env = {k: v for k, v in os.environ.items() if k not in (OPT_OUT, "JAX_COMPILATION_CACHE_DIR")}
    env.update({"COLLAPSIM_CACHE": str(cache)}, **dict(extra))
    return env


#: A process that sets the cache up as the launcher does, then compiles and runs one small program.
_PROGRAM = """
from collapsim.commands.compile_cache import use_compile_cache
use_compile_cache()
import jax, jax.numpy as jnp
f = jax.jit(lambda k: jnp.cumsum(jax.random.normal(k, (64,))) @ jnp.linspace(0.0, 1.0, 64))
print(repr(float(f(jax.random.key(3)))))
"""


def _program(cache, *extra):
    res = subprocess.run([sys.executable, "-c", _PROGRAM], env=_environ(cache, *extra), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "cache" not in res.stderr.lower(), res.stderr  # no warning about the cache
    return res.stdout


def test_a_second_process_finds_the_program_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"
    first = _program(cache)
    written = _entries(cache / "jax")
    assert any(name.startswith("jit__lambda") for name in written), written
    second = _program(cache)
    assert _entries(cache / "jax") == written, "the second process compiled nothing new: every program was found"
    assert first == second, "the program read back computes what the freshly compiled one did"


def _run(tmp_path, name, cache, *extra_env):
    env = _environ(cache, *extra_env)
    out = tmp_path / name
    res = subprocess.run([sys.executable, "-m", "collapsim", "run", "gaussian", "--dim", "2", "--samples", "5",
                          "--generations", "3", "--seeds", "8", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "cache" not in res.stderr.lower(), res.stderr  # no warning about the cache
    return (out / "metrics.csv").read_bytes()


def _entries(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


@pytest.mark.slow  # three `collapsim run` processes; the default suite runs the one-program test above
def test_a_second_run_reads_the_programs_the_first_wrote_with_the_same_numbers(tmp_path):
    cache = tmp_path / "cache"
    first = _run(tmp_path, "first", cache)
    written = _entries(cache / "jax")
    assert written, "the first run wrote its compiled programs"
    second = _run(tmp_path, "second", cache)
    assert _entries(cache / "jax") == written, "the second run compiled nothing new: every program was found"
    off = _run(tmp_path, "off", tmp_path / "unused", (OPT_OUT, "1"))
    assert not (tmp_path / "unused").exists(), "opted out: no cache folder"
    assert first == second == off
