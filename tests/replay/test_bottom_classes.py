"""Bottom-member and near-bottom classes at the `replay check` limits (12 languages, 20 cells): the verdict, the
checker's acceptance and the certificate's size.  Speed is measured by `collapsim bench replay`, not here."""

from functools import lru_cache

import pytest

from collapsim.replay.checker import check
from collapsim.replay.random_classes import random_class
from collapsim.replay.solver import solve

# The old solver's certificates for such classes had 20,000-300,000 rules (one per fitting forced set); the
# quick wins cover the forcible cells before resting, and the bench measured at most ~800 at 12 x 20.
MAX_RULES = 2000


class _Recording(dict):
    """A strategy that remembers which rules the checker looked up."""

    def __init__(self, *args):
        super().__init__(*args)
        self.used = set()

    def __contains__(self, key):
        self.used.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("kind,density", [("bottom", 0.5), ("bottom", 0.9), ("near1", 0.7), ("near2", 0.5),
                                          ("near2", 0.9)])
def test_bottom_and_near_bottom_classes_at_the_limits(kind, density):
    hc = random_class(kind, seed=1, languages=12, cells=20, density=density)
    assert (len(hc.masks), hc.n_cells) == (12, 20)
    bottom = hc.masks[hc.names.index("bottom")]
    missing = sum(bottom & ~K != 0 for K in hc.masks)
    assert missing == (0 if kind == "bottom" else int(kind[4:]))
    sol = solve(hc, replay=True)
    if kind == "bottom":
        assert sol.generatable  # a known fact: output the bottom member forever
    strategy = _Recording(sol.strategy)
    v = check(hc, sol.player, strategy, True)
    assert v.ok, v.reason  # an accepted generator certificate proves the verdict independently
    # Size: no rule for a position the strategy does not reach (the checker looked up every one), and short.
    assert strategy.used >= set(sol.strategy)
    assert len(sol.strategy) <= MAX_RULES and v.positions <= MAX_RULES


def _brute_force(masks, n):
    """The recursion of the game with replay (E, GEN, ADV over phases), without any shortcut."""
    fits = lambda F: any(F & ~K == 0 for K in masks)  # noqa: E731

    def exits(F, U):
        return [F | 1 << x for x in range(n) if not (F | U) >> x & 1 and fits(F | 1 << x)]

    def good(F, U):
        inter = -1
        for K in masks:
            if F & ~K == 0 and K & ~(F | U) == 0:
                inter &= K
        return any(h & ~inter == 0 and h & ~U == 0 for h in masks)

    @lru_cache(maxsize=None)
    def gen(F, U):
        return (good(F, U) and all(gen(F2, U) for F2 in exits(F, U))) or any(
            U | h != U and all(gen(F2, U | h) for F2 in exits(F, U | h)) and gen(F, U | h) for h in masks)

    return all(gen(F, 0) for F in exits(0, 0))


def test_quick_wins_agree_with_the_plain_recursion_on_small_classes():
    verdicts = []
    for kind in ("near1", "near2", "random"):
        for density in (0.5, 0.9):
            for seed in range(4):
                hc = random_class(kind, seed, languages=6, cells=9, density=density)
                sol = solve(hc, replay=True)
                assert sol.generatable == _brute_force(hc.masks, hc.n_cells), (kind, density, seed)
                assert check(hc, sol.player, sol.strategy, True).ok
                verdicts.append(sol.generatable)
    assert True in verdicts and False in verdicts  # both answers were exercised


def test_bench_replay_prints_a_row_per_class():
    from click.testing import CliRunner

    from collapsim.commands.bench.replay import bench_replay_cmd  # not the whole CLI: that imports JAX

    res = CliRunner().invoke(bench_replay_cmd, ["--kinds", "bottom,random", "--densities", "0.9",
                                    "--seeds", "2", "--languages", "6", "--cells", "8"])
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.stdout.splitlines() if line.startswith(("bottom ", "random "))]
    assert len(rows) == 4 and all(r[-1] == "accepted" for r in rows)
    assert [r[3] for r in rows[:2]] == ["yes", "yes"]  # a bottom member is always generatable
    bad = CliRunner().invoke(bench_replay_cmd, ["--kinds", "top"])
    assert bad.exit_code == 2 and "unknown kind" in bad.output
