"""Exhaustive search: orbit counting cross-checked by brute force, and the answers it gives."""

import itertools

import pytest

from collapsim.replay.classes import loads_class
from collapsim.replay.games import four_language_class
from collapsim.replay.search import canonical_shapes, run_search, shape_of
from collapsim.replay.solver import solve


def _brute_force_orbits(k, max_cells):
    """Count classes of k distinct infinite languages with at most ``max_cells`` membership cells, by another
    route: every k-subset of the infinite subsets of a fixed universe [ray, points..., ray] (enough points to
    realise every pattern set), membership patterns read off, then the smallest sorted pattern tuple over all
    renamings as the orbit's name."""
    n = max_cells + 1  # two rays and max_cells - 1 points realise any set of <= max_cells patterns
    infinite = [m for m in range(1, 1 << n) if m & 1 or m >> (n - 1) & 1]
    forms = set()
    for cls in itertools.combinations(infinite, k):
        pats = {sum(1 << i for i, m in enumerate(cls) if m >> c & 1) for c in range(n)} - {0}
        if len(pats) > max_cells:
            continue
        forms.add(min(tuple(sorted(sum(1 << p[i] for i in range(k) if s >> i & 1) for s in pats))
                      for p in itertools.permutations(range(k))))
    return len(forms)


@pytest.mark.parametrize("k, cells", [(1, 3), (2, 3), (3, 4), (2, 4), (3, 5), (4, 4)])
def test_orbit_count_matches_brute_force(k, cells):
    assert len(canonical_shapes(k, cells)) == _brute_force_orbits(k, cells)


@pytest.fixture(scope="module")
def report():
    return run_search(4, 15)  # every class of at most 4 infinite languages


def test_one_and_two_languages_never_fail(report):
    # Two languages: output A; if a cell of B minus A is ever forced, only B is left, so output B (if A is inside
    # B, output A forever).  Either way the output is eventually inside the target.
    assert all(not r.failing for r in report.sizes if r.k <= 2)
    assert all(r.decided == r.succeeding + len(r.failing) for r in report.sizes)
    assert all(sum(d for d, _ in r.by_cells.values()) == r.decided for r in report.sizes)


def test_a_three_language_class_fails_and_it_is_the_hand_checked_one(report):
    # Z minus {0}, {z <= 1}, {z >= 0}: show 1; whatever the answer X, force the one cell X misses; the two
    # languages still legal (everything else is a replay of X) meet in a set that contains no language.
    hc = loads_class('{"languages": {"a": [[null, -1], [1, null]], "b": [[null, 1]], "c": [[0, null]]}}')
    assert not solve(hc).generatable
    three = next(r for r in report.sizes if r.k == 3)
    assert three.failing == [shape_of(hc)]  # the only failing class of three languages
    # The same class written as {Z \ {0}, Z \ {1}, Z \ {2}}: same membership patterns up to renaming.
    again = loads_class('{"languages": {"p": [[null, -1], [1, null]], "q": [[null, 0], [2, null]], '
                        '"r": [[null, 1], [3, null]]}}')
    assert shape_of(again) == shape_of(hc)
    assert report.smallest_failing() == [shape_of(hc)] and report.fewest_cells_failing() == [shape_of(hc)]


def test_four_language_class_is_found_failing(report):
    four = next(r for r in report.sizes if r.k == 4)
    assert shape_of(four_language_class()) in four.failing
    assert four.by_cells[7][1] >= 1  # the four-language class has 7 cells


def test_search_shapes_realise_their_patterns():
    for sh in canonical_shapes(4, 5):
        hc = sh.to_class()
        assert shape_of(hc) == sh and hc.n_cells == sh.n_cells
        assert not hc.finite_languages()  # every language holds a ray
