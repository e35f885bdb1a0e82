"""Exhaustive search: orbit counting cross-checked by brute force, and the answers it gives."""

import itertools

import pytest

from collapsim.replay.classes import loads_class
from collapsim.replay.games import four_language_class
from collapsim.replay.search import canonical_shapes, run_search, shape_of
from collapsim.replay.solver import solve


def _brute_force_orbits(k, points):
    """Count classes of k distinct infinite languages on [ray, points..., ray] up to the same symmetries, by a
    different route: all subsets of a fixed universe, then normalise (drop empty points, merge equal points)."""
    n = points + 2
    infinite = [m for m in range(1, 1 << n) if m & 1 or m >> (n - 1) & 1]
    forms = set()
    for cls in itertools.combinations(infinite, k):
        sig = [sum(1 << i for i, m in enumerate(cls) if m >> c & 1) for c in range(n)]
        best = None
        for perm in itertools.permutations(range(k)):
            mp = [sum(1 << perm[i] for i in range(k) if s >> i & 1) for s in sig]
            form = (tuple(sorted((mp[0], mp[-1]))), tuple(sorted({s for s in mp[1:-1] if s})))
            best = form if best is None or form < best else best
        forms.add(best)
    return len(forms)


@pytest.mark.parametrize("k, points", [(1, 3), (2, 3), (3, 3), (2, 4)])
def test_orbit_count_matches_brute_force(k, points):
    assert len(canonical_shapes(k, points)) == _brute_force_orbits(k, points)


@pytest.fixture(scope="module")
def report():
    return run_search(4, 7)


def test_one_and_two_languages_never_fail(report):
    # Two languages: output A; if a cell of B minus A is ever forced, only B is left, so output B (if A is inside
    # B, output A forever).  Either way the output is eventually inside the target.
    assert all(not r.failing for r in report.sizes if r.k <= 2)
    assert all(r.decided == r.succeeding + len(r.failing) for r in report.sizes)


def test_a_three_language_class_fails_and_it_is_the_hand_checked_one(report):
    # Z minus {0}, {z <= 1}, {z >= 0}: show 1; whatever the answer X, force the one cell X misses; the two
    # languages still legal (everything else is a replay of X) meet in a set that contains no language.
    hc = loads_class('{"languages": {"a": [[null, -1], [1, null]], "b": [[null, 1]], "c": [[0, null]]}}')
    assert not solve(hc).generatable
    three = next(r for r in report.sizes if r.k == 3)
    assert shape_of(hc) in three.failing
    assert min(s.n_cells for s in three.failing) == 4


def test_four_language_class_is_found_failing(report):
    four = next(r for r in report.sizes if r.k == 4)
    assert shape_of(four_language_class()) in four.failing
