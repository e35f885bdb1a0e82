"""The decision procedure and the independent checker, against facts from the paper (REFERENCES section 5)."""

import random

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
    for sh in canonical_shapes(3, 3):
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
