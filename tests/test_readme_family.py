"""The README's "add a family" example runs as written and agrees with its theory (within 4 standard errors)."""

import re
from pathlib import Path

import numpy as np
import pytest

from collapsim.engine import LoopConfig, run_host, run_loop
from collapsim.engine.policies import POLICIES
from collapsim.runs.summary import summarize


def _example() -> dict:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"\*\*Add a family\*\*.*?```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    return scope


def test_readme_family_matches_its_theory():
    scope = _example()
    s = summarize(scope["out"]["variance"])
    theory = scope["theory"]
    assert s["mean"].shape == theory.shape
    z = (s["mean"][1:] - theory[1:]) / s["stderr"][1:]
    assert np.all(np.abs(z) <= 4), f"max |z| {np.abs(z).max():.2f}"


@pytest.mark.slow
def test_readme_family_runs_every_policy_and_both_drivers():
    family = _example()["bernoulli"]()
    params = {"p": np.float32(0.3)}
    for policy in POLICIES:
        cfg = LoopConfig(policy, 10, 8)
        a = run_loop(family, cfg, params, np.full(8, 0.2), 6, seed=1)
        b = run_host(family, cfg, params, np.full(8, 0.2), 6, seed=1)
        for m in a:
            assert np.all(np.isfinite(a[m])) and np.array_equal(a[m], b[m]), (policy, m)
