"""The zenil-anchoring claim's simulation (what experiments/entropy_anchoring.py runs), small and in-process:
figure written, Monte Carlo on the exact theory, the anchored and vanishing schedules where theory puts them."""

import numpy as np
import pytest

from collapsim.claims.zenil_anchoring import SCHEDULES, final_z, simulate
from collapsim.theory.categorical import stationary

# One module fixture of 300 chains x 60 generations x 6 schedules (about 20 s): in the slow set, which CI runs.
pytestmark = pytest.mark.slow

T = 60


@pytest.fixture(scope="module")
def results():
    return simulate(T, 300)


def test_the_script_writes_a_png(tmp_path, monkeypatch):
    from collapsim.claims import zenil_anchoring
    from experiments.entropy_anchoring import main

    monkeypatch.setitem(zenil_anchoring.SETTING, True, (20, 50))
    fig = tmp_path / "entropy_anchoring.png"
    main(["--quick", "--out", str(fig)])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_schedule_ends_within_4_stderr_of_exact_theory(results):
    for label, s in ((label, results[label]) for label, _ in SCHEDULES):
        for metric in ("entropy", "support"):
            assert s["mc"][metric]["mean"].shape == s["exact"][metric].shape == (T + 1,)
    z = final_z(results)
    assert len(z) == 2 * len(SCHEDULES) and max(abs(v) for v in z.values()) <= 4, z


def test_vanishing_anchor_ends_below_a_constant_one(results):
    const = results["const 0.1"]["exact"]["entropy"][-1]
    for label in ("geom 0.3*0.95^(t-1)", "zero (replace)"):
        assert results[label]["exact"]["entropy"][-1] < const, label
    ends = [results[label]["exact"]["entropy"][-1] for label, _ in SCHEDULES]
    assert results["zero (replace)"]["exact"]["entropy"][-1] == min(ends)  # pure replacement is the lowest


def test_constant_schedules_approach_the_exact_stationary_level(results):
    for label, a in (("const 0.1", 0.1), ("const 0.02", 0.02)):
        s = results[label]
        stat = stationary(results["truth"], 200, a)
        for metric in ("entropy", "support"):
            assert s["stationary"][metric] == pytest.approx(stat[metric], rel=1e-12)
            gap = np.abs(s["exact"][metric] - stat[metric])
            assert gap[-1] < gap[T // 2] < gap[1], (label, metric, gap[[1, T // 2, -1]])
    s = results["const 0.1"]  # alpha = 0.1 forgets its start within T = 60 generations
    assert abs(s["exact"]["entropy"][-1] - s["stationary"]["entropy"]) < 1e-4
    assert abs(s["exact"]["support"][-1] - s["stationary"]["support"]) < 1e-3
