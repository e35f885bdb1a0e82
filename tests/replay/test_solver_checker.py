"""The decision procedure and the independent checker, against facts from the paper (REFERENCES section 5)."""

import ast
import os
import random
import time

import pytest

from collapsim.replay.checker import check, check_adversary, check_generator
from collapsim.replay.classes import from_masks, loads_class
from collapsim.replay.games import four_language_class
from collapsim.replay.search import canonical_shapes
from collapsim.replay.solver import STAY, solve


def _cls(masks, points):
    return from_masks(list(masks), [True] + [False] * points + [True])


def test_four_language_class_fails_with_replay_and_checker_accepts():
    hc = four_language_class()
    sol = solve(hc, replay=True)
    assert not sol.generatable and sol.player == "adversary"
    assert check_adversary(hc, sol.strategy, True).ok
    # The certificate opens like the paper's adversary: show 0 (the cell in all four languages).
    assert str(hc.cells[sol.strategy[(0, 0)]]) == "0"


def _paper_adversary(hc):
    """Theorem 6.3/7.3 written as a certificate by hand (not by the solver).

    Show 0.  The first answer picks the side: after a minus-language the targets are h1+ and h2+, so show 1, 2
    and >=3 (each new one forced, the rest replays) and then cycle through everything shown or output; mirror
    after a plus-language.  Once a cell of one side is forced, F itself tells the side.
    """
    cell = {str(c): i for i, c in enumerate(hc.cells)}
    plus_cells = [cell[c] for c in ("1", "2", ">=3")]
    minus_cells = [cell[c] for c in ("-1", "-2", "<=-3")]
    minus_outputs = {hc.masks[hc.names.index(n)] for n in ("h1-", "h2-")}
    strat = {(0, 0): cell["0"]}

    def side_cells(F, U):
        if any(F >> c & 1 for c in plus_cells):
            return plus_cells
        if any(F >> c & 1 for c in minus_cells):
            return minus_cells
        return plus_cells if U in minus_outputs else minus_cells  # only the first answer is in U here

    def walk(F, U):
        if (F, U) in strat:
            return
        todo = [c for c in side_cells(F, U) if not (F | U) >> c & 1]
        m = strat[(F, U)] = todo[0] if todo else STAY
        F2 = F if m == STAY else F | 1 << m
        for h in hc.masks:
            walk(F2, U | h)

    for h in hc.masks:
        walk(1 << cell["0"], h)
    return strat


def test_hand_written_paper_adversary_is_accepted():
    hc = four_language_class()
    v = check_adversary(hc, _paper_adversary(hc), True)
    assert v.ok, v.reason


def test_same_class_without_replay_is_generatable():
    hc = four_language_class()
    sol = solve(hc, replay=False)
    assert sol.generatable
    assert check_generator(hc, sol.strategy, replay=False).ok


@pytest.mark.parametrize("spec", [
    '{"languages": {"a": [[5, null]], "b": [[0, null]], "c": [[null, null]]}}',                    # chain
    '{"languages": {"a": [[0, null]], "b": [[0, null], -2], "c": [[-3, null]], "d": [[null, 4], [0, null]]}}',
    '{"languages": {"core": [[10, null]], "x": [[null, -5], [10, null]], "y": [[3, null]]}}',       # core inside all
])
def test_chains_and_classes_with_a_common_member_succeed(spec):
    hc = loads_class(spec)
    sol = solve(hc, replay=True)
    assert sol.generatable
    assert check_generator(hc, sol.strategy, True).ok


def test_checker_rejects_wrong_certificates():
    hc = four_language_class()
    # "Always output h1-" cannot be right: the adversary's certificate exists.
    always = {}
    for F in range(1 << hc.n_cells):
        for U in {0} | {a | b for a in hc.masks for b in [0] + list(hc.masks)}:
            always[(F, U)] = 0
    v = check_generator(hc, always, True)
    assert not v.ok and v.reason.startswith("adversary wins")
    # An adversary that stays from the start cannot beat the chain's generator.
    chain = loads_class('{"languages": {"a": [[5, null]], "b": [[0, null]]}}')
    lazy = {(0, 0): chain.n_cells - 1}
    for h in chain.masks:
        lazy[(1 << (chain.n_cells - 1), h)] = STAY
    for U in [chain.masks[0] | chain.masks[1]]:
        lazy[(1 << (chain.n_cells - 1), U)] = STAY
    v = check_adversary(chain, lazy, True)
    assert not v.ok and v.reason.startswith("generator escapes"), v.reason


def test_every_three_language_certificate_is_accepted():
    # Cross-validation: each decision comes with a certificate the separate checker must accept.
    for sh in canonical_shapes(3, 7):
        hc = sh.to_class()
        sol = solve(hc, True)
        v = check(hc, sol.player, sol.strategy, True)
        assert v.ok, (sh, v.reason)


def _closed_under_intersection(masks):
    s = set(masks)
    return all(a & b in s for a in s for b in s if a & b)


def test_intersection_closed_classes_succeed():
    # Derived fact: if the class is closed under (nonempty) intersection, outputting the intersection of the
    # languages containing the forced cells is eventually constant and inside every legal target.
    rng = random.Random(0)
    seen = 0
    while seen < 40:
        n_cells = rng.randint(3, 6)
        masks = sorted({rng.randrange(1, 1 << n_cells) | 1 for _ in range(rng.randint(2, 5))})
        closure = set(masks)
        changed = True
        while changed:
            new = {a & b for a in closure for b in closure if a & b} - closure
            changed = bool(new)
            closure |= new
        hc = _cls(sorted(closure), n_cells - 2)
        assert _closed_under_intersection(hc.masks)
        assert solve(hc, True).generatable
        seen += 1


def _mirror(masks, n):
    return [int(format(m, f"0{n}b")[::-1], 2) for m in masks]


def test_decision_is_invariant_under_renaming_and_mirror():
    rng = random.Random(1)
    for _ in range(60):
        points = rng.randint(1, 4)
        n = points + 2
        masks = list({rng.randrange(1, 1 << n) for _ in range(rng.randint(2, 4))})
        base = solve(_cls(masks, points), True).generatable
        perm = masks[:]
        rng.shuffle(perm)
        assert solve(_cls(perm, points), True).generatable == base
        assert solve(_cls(_mirror(masks, n), points), True).generatable == base


def test_every_finite_class_is_generatable_without_replay():
    rng = random.Random(2)
    for _ in range(30):
        n = rng.randint(2, 6)
        masks = list({rng.randrange(1, 1 << n) for _ in range(rng.randint(1, 5))})
        hc = _cls(masks, n - 2)
        assert solve(hc, replay=False).generatable


ISSUE_CLASS = ('{"universe": "integers", "languages": {"core": [[10, null]], "x": [[10, null], [-4, -4]], '
               '"y": [[10, null], [2, 3]], "z": [[null, -20], [10, null]]}}')


def test_issue_class_is_decided_and_certified_within_a_second():
    t0 = time.perf_counter()
    hc = loads_class(ISSUE_CLASS)
    sol = solve(hc, True)
    v = check(hc, sol.player, sol.strategy, True)
    elapsed = time.perf_counter() - t0
    # Four kinds of element in some language: {<=-20}, {-4}, {2, 3}, {>=10}; 'core' lies in every language.
    assert [str(c) for c in hc.cells] == ["<=-20", "-4", "2..3", ">=10"]
    assert sol.generatable and v.ok, v.reason
    assert set(sol.strategy.values()) == {hc.names.index("core")}
    assert elapsed < 1.0


def _chain_on_unmerged_cells(points):
    """{[0, inf), [points - 1, inf)} laid out as ray, points 0..points-1, ray: the 20-cell partition that the old
    span-based cells gave the issue's chain (the left ray lies in no language)."""
    a = sum(1 << c for c in range(1, points + 2))
    b = (1 << points) | (1 << (points + 1))
    return from_masks([a, b], [True] + [False] * points + [True])


def test_twenty_cell_chain_certificate_is_checked_in_seconds():
    hc = _chain_on_unmerged_cells(18)
    assert hc.n_cells == 20
    sol = solve(hc, True)
    t0 = time.perf_counter()
    v = check(hc, sol.player, sol.strategy, True)
    assert time.perf_counter() - t0 < 10
    assert sol.generatable and v.ok and 0 < v.positions < 1000, (v.reason, v.positions)
    # With membership cells the same chain has two cells, 0..16 and >=17.
    merged = loads_class('{"languages": {"a": [[0, null]], "b": [[17, null]]}}')
    assert [str(c) for c in merged.cells] == ["0..16", ">=17"]
    assert check(merged, "generator", solve(merged).strategy).ok


def test_issue_tampered_certificate_is_rejected_naming_the_move():
    # README's three-language class; at forced {1, >=2}, outputs covering {<=-1, 0, 1} the certificate stays.
    # Showing 0 instead gives the stream 1, 2, 0, 0, 0, ...: no language contains 1 and 2 and lies inside {0}.
    hc = loads_class('{"languages": {"not-zero": [[null, -1], [1, null]], "at-most-1": [[null, 1]], '
                     '"at-least-0": [[0, null]]}}')
    cell = {str(c): i for i, c in enumerate(hc.cells)}
    sol = solve(hc, True)
    F = 1 << cell["1"] | 1 << cell[">=2"]
    U = 1 << cell["<=-1"] | 1 << cell["0"] | 1 << cell["1"]
    assert sol.strategy[(F, U)] == STAY and check(hc, "adversary", sol.strategy).ok
    tampered = dict(sol.strategy)
    tampered[(F, U)] = cell["0"]
    v = check(hc, "adversary", tampered)
    assert not v.ok
    assert "'show 0'" in v.reason and "forced {1, >=2}" in v.reason and "enumerates no target" in v.reason


def test_checker_rejects_a_move_that_leaves_no_legal_target():
    tried = 0
    for sh in canonical_shapes(4, 6):
        hc = sh.to_class()
        sol = solve(hc, True)
        if sol.generatable:
            continue
        tried += _force_the_impossible(hc, sol)
    assert tried > 0


def _force_the_impossible(hc, sol):
    tried = 0
    for (F, U), m in sol.strategy.items():
        for c in range(hc.n_cells):
            if not (F | U) >> c & 1 and not any((F | 1 << c) & ~K == 0 for K in hc.masks):
                strat = dict(sol.strategy)
                strat[(F, U)] = c
                v = check(hc, "adversary", strat)
                assert not v.ok and "no language" in v.reason and f"'show {hc.cells[c]}'" in v.reason, v.reason
                tried += 1
    return tried


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_checker_shares_no_code_with_the_solver():
    import collapsim.replay.checker as checker_mod
    import collapsim.replay.solver as solver_mod

    checker_imports = _imports(checker_mod.__file__)
    solver_imports = _imports(solver_mod.__file__)
    assert not any("solver" in m for m in checker_imports), checker_imports
    assert not any("checker" in m for m in solver_imports), solver_imports
    # What they do share is only the class representation.
    assert {m for m in checker_imports if m.startswith("collapsim")} <= {"collapsim.replay.classes"}
    assert os.path.basename(checker_mod.__file__) == "checker.py"
