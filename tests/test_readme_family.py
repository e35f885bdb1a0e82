"""The README's "add a family" runs as written: its two files load as the modules they name, the family's
ENTRY builds a Loop from a RunSpec, and a run through the run layer (as ``collapsim run`` does it) agrees
with the family's own theory within 4 standard errors."""

import importlib
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from collapsim.engine import LoopConfig, run_host, run_loop
from collapsim.engine.policies import POLICIES
from collapsim.families.entry import Entry, Loop
from collapsim.runs import registry
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.spec import RunSpec
from collapsim.runs.summary import summarize

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> dict:
    """path -> source of each ```python block of the "Add a family" part, named by its first line
    (``# src/collapsim/...py``)."""
    text = README.read_text()
    part = re.search(r"\*\*Add a family\*\*(.*?)\n## ", text, re.S).group(1)
    blocks = {}
    for code in re.findall(r"```python\n(.*?)```", part, re.S):
        path = re.match(r"# (src/collapsim/\S+\.py)\n", code).group(1)
        blocks[path] = code
    return blocks


@pytest.fixture
def readme_family(monkeypatch):
    """The README's family, loaded as its modules (the theory first, as the layers go) and registered in
    the run layer as the line in ``FAMILIES`` would register it; everything undone afterwards."""
    blocks = _blocks()
    order = sorted(blocks, key=lambda path: "/families/" in path)
    for path in order:
        name = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
        module = types.ModuleType(name)
        module.__file__ = path
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(blocks[path], f"README.md ({path})", "exec"), module.__dict__)
    assert order == ["src/collapsim/theory/bernoulli.py", "src/collapsim/families/bernoulli.py"], order
    entry = importlib.import_module("collapsim.families.bernoulli").ENTRY  # as the registry reads it
    monkeypatch.setitem(registry.ENTRIES, entry.name, entry)
    return entry


def test_readme_shows_two_files():
    assert sorted(_blocks()) == ["src/collapsim/families/bernoulli.py", "src/collapsim/theory/bernoulli.py"]


@pytest.mark.parametrize("policy,alpha", [("replace", "none"), ("mix", "0.3")])
def test_readme_family_matches_its_theory(readme_family, policy, alpha):
    assert isinstance(readme_family, Entry)
    spec, e, loop = resolve(RunSpec("bernoulli", policy=policy, alpha=alpha, samples=20, generations=50, seeds=4000))
    assert e is readme_family and isinstance(loop, Loop) and spec.params["p"] == 0.3  # the option's default
    per_chain = simulate(spec, loop)
    prediction = e.predict(spec, loop)
    assert set(prediction.curves) == {"p", "variance"}
    for metric, theory in prediction.curves.items():
        s = summarize(per_chain[metric])
        assert s["mean"].shape == theory.shape == (51,)
        z = (s["mean"][1:] - theory[1:]) / s["stderr"][1:]
        assert np.all(np.abs(z) <= 4), f"{metric}: max |z| {np.abs(z).max():.2f}"
    # The theory is not a constant: replace collapses, real data (mix) holds the variance near the truth's.
    last = prediction.curves["variance"][-1] / (0.3 * 0.7)
    assert last < 0.1 if policy == "replace" else last > 0.5


def test_readme_family_refuses_a_shortcut_and_a_bad_p(readme_family):
    from collapsim.errors import ConfigError

    with pytest.raises(ConfigError, match="shortcut"):
        resolve(RunSpec("bernoulli", method="shortcut", samples=5, generations=3, seeds=4))
    with pytest.raises(ConfigError, match="--p"):
        resolve(RunSpec("bernoulli", params={"p": 1.5}, samples=5, generations=3, seeds=4))


@pytest.mark.slow
def test_readme_family_runs_every_policy_and_both_drivers(readme_family):
    family = sys.modules["collapsim.families.bernoulli"].bernoulli()
    params = {"p": np.float32(0.3)}
    for policy in POLICIES:
        cfg = LoopConfig(policy, 10, 8)
        a = run_loop(family, cfg, params, np.full(8, 0.2), 6, seed=1)
        b = run_host(family, cfg, params, np.full(8, 0.2), 6, seed=1)
        for m in a:
            assert np.all(np.isfinite(a[m])) and np.array_equal(a[m], b[m]), (policy, m)
