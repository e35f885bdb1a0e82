"""Why the cell abstraction of the replay game is sound and complete, and machine checks of each step.

Setting: a finite class H of languages over a universe cut into cells; every element of a cell lies in the same
languages (``collapsim.replay.classes`` uses one cell per membership pattern, see part 3).  The proper game with replay and its acceptance condition are stated in
``collapsim.replay.solver`` (the adversary wins iff some K in H has a legal, complete stream on which the
generator's output is not inside K infinitely often).

1. Sound (a generator certificate wins the concrete game).  The certificate maps (F, U) to a hypothesis, where
   F = cells shown while outside all earlier outputs and U = union of the outputs.  A concrete generator computes
   F and U from the elements it has seen (each element -> its cell) and plays the certificate.  Take any concrete
   legal stream for a target K that shows all of K.  F and U only grow, so they are eventually constant; legality
   gives F <= K; completeness gives K <= (cells ever shown) <= F | U (a shown cell outside U at the time is in F).
   So K lies in A(F, U) = {K : F <= K <= F | U}.  The abstract play is a play of the abstract game in which the
   adversary (perhaps) shows fewer cells infinitely often than the checker allows, and the checker verified the
   certificate against every adversary, so the output is eventually inside K.  (Showing an infinite cell
   "unboundedly often" is only needed by the adversary; the generator wins even against streams that show an
   infinite cell of K once, so nothing is lost.)

2. Complete (an adversary certificate wins the concrete game).  Given any concrete generator G, run the
   certificate with concrete moves: a cell is shown by its next element never shown before (a finite cell's
   elements are repeated in turn once all are shown), and "stay" cycles through the cells of F | U.  G read
   through this fixed translation is a generator of the abstract game.  The play ends in a phase (F, U) whose
   move keeps F and is repeated forever, showing the cells S (F | U for "stay", {x} for "show x"); the checker
   verified that every output keeping U misses some K with F <= K <= S, so G outputs, infinitely often, a
   hypothesis not inside some such K (finitely many K, so one K gets infinitely many).  For that K the concrete
   stream is legal (cells outside K were shown only while in U, i.e. as replays; cells of F are in K) and
   complete (every cell of K <= S is shown infinitely often, with fresh elements, so all of K appears).  So G
   fails on K.

3. Any partition into equal-membership cells gives the same winner; cells by membership are the coarsest one.
   Parts 1 and 2 use only two facts about the cells: every element of a cell lies in the same languages (so
   "x_t is in K", "x_t is in an earlier output" and "F <= K" are properties of the cell), and a cell can be
   shown again and again with elements that eventually cover all of it (fresh elements of an infinite cell; a
   finite cell's elements in turn).  Neither where a cell lies, nor its size, nor whether it is infinite enters:
   in the final phase every cell of F | U is shown infinitely often, so all of its elements appear whatever
   their number.  Hence for *every* such partition the abstract winner equals the concrete winner, and two
   partitions of one class (one splitting a cell into equal-membership pieces, shifting or relabelling the
   integers, listing cells in another order) give the same verdict.  An element in no language can never be
   shown legally (it is in no target and in no output, outputs being languages), so dropping it changes
   nothing.  The membership cells (``collapsim.replay.classes``) are the coarsest partition: one cell per
   nonempty membership pattern, so the solver's cost depends on the languages and the distinct patterns, not
   on the span of the integers.  Sizes of finite cells matter only to the closure dimension of
   element-output generation, where finite intersections are counted in elements.

4. Search reductions (``collapsim.replay.search``): by part 3 a class is its set of membership patterns;
   renaming the languages permutes the pattern bits and preserves the winner (the game never looks at names).

5. The checker (``collapsim.replay.checker``) is sound: F and U only grow, so every infinite play is eventually
   stuck at one position (F, U) and its tail consists of self-loops; a generator certificate is judged against
   the adversary that cycles through F | U (every K in [F, F | U] legal and completely shown), an adversary
   certificate by the cells it *actually* shows forever at that position (S = F | U for "stay", {x} for
   "show x"), crediting it only the targets K with F <= K <= S.  A stream showing no such K is a loss for the
   adversary.

``main`` checks parts 3 and 4 exhaustively on small classes by running the solver on both sides of each
transformation (split a cell, add a cell in no language, reorder cells, rename languages), and checks every
certificate with the independent checker.

Run: ``python3 proofs_check/replay_abstraction.py`` (prints each check and exits non-zero on a failure).
"""

from __future__ import annotations

import os
import sys

# Run from a checkout without installing: prefer this tree's src/ over any installed collapsim.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from collapsim.replay.checker import check  # noqa: E402
from collapsim.replay.classes import HypothesisClass, from_masks  # noqa: E402
from collapsim.replay.games import four_language_class  # noqa: E402
from collapsim.replay.search import canonical_shapes  # noqa: E402
from collapsim.replay.solver import solve  # noqa: E402


def _class(masks, n_cells):
    """A class over ``n_cells`` cells laid out as ray, points, ray (the layout does not matter, part 3)."""
    return from_masks(list(masks), [True] + [False] * (n_cells - 2) + [True]) if n_cells >= 2 else \
        HypothesisClass(tuple(f"h{i + 1}" for i in range(len(masks))), from_masks([], [True, True]).cells[:1],
                        tuple(masks), "integers")


def split_cell(masks, cell):
    """Split ``cell`` into two equal-membership pieces (the piece is inserted right after it)."""
    out = []
    for m in masks:
        low = m & ((1 << (cell + 1)) - 1)
        dup = (m >> cell & 1) << (cell + 1)
        out.append(low | dup | (m >> (cell + 1)) << (cell + 2))
    return out


def add_empty_cell(masks, n_cells):
    """A cell in no language, placed last."""
    return list(masks), n_cells + 1


def permute_cells(masks, order):
    """Cell c of the result is cell ``order[c]`` of the input."""
    return [sum(1 << c for c, o in enumerate(order) if m >> o & 1) for m in masks]


def check_reductions(k: int = 3, max_cells: int = 4) -> int:
    """Split, empty-cell, cell-order and renaming invariance on every canonical class; returns classes checked."""
    shapes = canonical_shapes(k, max_cells)
    for sh in shapes:
        masks, n = list(sh.masks()), sh.n_cells
        base = solve(_class(masks, max(n, 2))).generatable
        if n >= 2:
            for c in range(n):
                split = _class(split_cell(masks, c), n + 1)
                sol = solve(split)
                assert sol.generatable == base, ("split", sh, c)
                assert check(split, sol.player, sol.strategy).ok, ("split certificate", sh, c)
            em, en = add_empty_cell(masks, n)
            assert solve(_class(em, en)).generatable == base, ("empty cell", sh)
            order = list(range(n))[::-1]
            assert solve(_class(permute_cells(masks, order), n)).generatable == base, ("cell order", sh)
        renamed = masks[1:] + masks[:1]
        assert solve(_class(renamed, max(n, 2))).generatable == base, ("renaming", sh)
    return len(shapes)


def check_certificates(k: int = 3, max_cells: int = 5) -> int:
    """Every decision, both with and without replay, carries a certificate the separate checker accepts."""
    shapes = canonical_shapes(k, max_cells)
    for sh in shapes:
        hc = sh.to_class()
        for replay in (True, False):
            sol = solve(hc, replay)
            v = check(hc, sol.player, sol.strategy, replay)
            assert v.ok, (sh, replay, v.reason)
    return len(shapes)


def check_four_language_class() -> str:
    """The four-language class (Thm 6.3/7.3) is not generatable with replay, and the checker accepts the
    adversary's certificate."""
    hc = four_language_class()
    sol = solve(hc)
    assert not sol.generatable and check(hc, sol.player, sol.strategy).ok
    return "not generatable with replay; adversary certificate accepted"


def check_small_classes() -> str:
    """Parts 3 and 4 and the certificates on every class of three languages (<= 7 cells) and of four (<= 4
    cells); the counts show the enumeration really covered them (``main`` goes further)."""
    three = check_reductions(3, 7)
    four = check_reductions(4, 4)
    certified = check_certificates(3, 7)
    assert three == 28 and four > 50 and certified == 28, (three, four, certified)
    return f"invariances on {three} + {four} classes, certificates on {certified}"


#: The checks the test suite runs (tests/test_proofs.py); ``main`` runs the exhaustive sizes.
CHECKS = [check_four_language_class, check_small_classes]


def main() -> int:
    hc = four_language_class()
    sol = solve(hc)
    v = check(hc, sol.player, sol.strategy)
    print(f"four-language class (Thm 6.3/7.3): generatable with replay = {sol.generatable}; "
          f"adversary certificate accepted = {v.ok}")
    assert not sol.generatable and v.ok
    for k, cells in ((3, 7), (4, 6)):
        n = check_reductions(k, cells)
        print(f"split-cell, empty-cell, cell-order and renaming invariance: {n} classes of {k} languages, "
              f"<= {cells} cells: ok")
    for k, cells in ((3, 7), (4, 15)):
        n = check_certificates(k, cells)
        print(f"certificates with and without replay accepted by the checker: {n} classes of {k} languages, "
              f"<= {cells} cells: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
