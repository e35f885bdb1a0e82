"""Why the cell abstraction of the replay game is sound and complete, and machine checks of each step.

Setting: a finite class H of languages over a universe cut into cells (points and infinite rays); every element of
a cell lies in the same languages.  The proper game with replay and its acceptance condition are stated in
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
   certificate with concrete moves: a cell is shown by its next element never shown before (points are repeated),
   and "stay" cycles through the cells of F | U.  G read through this fixed translation is a generator of the
   abstract game, so the checked certificate beats it: the play ends in a phase (F, U) where the certificate
   stays and G outputs, infinitely often, a hypothesis that is not inside some K in A(F, U) (finitely many K, so
   one K gets infinitely many).  For that K the concrete stream is legal (cells outside K were shown only while in
   U, i.e. as replays; cells of F are in K) and complete (every cell of K <= F | U is shown infinitely often, with
   fresh elements of infinite cells, so all of K appears).  So G fails on K.

3. Search reductions (``collapsim.replay.search``): the game never looks at where a point lies, only at which
   languages contain it and whether the cell is infinite, so permuting points and mirroring the integers preserve
   the winner.  Two points with the same signature can be merged: a generator for the merged class reads both
   as one cell; an adversary for the split class shows "p then q" whenever the merged adversary shows the merged
   cell, and the outputs in between only add wrong rounds and replayable cells.  A point in no language can never
   be shown legally.  These are proved above in words; ``main`` checks them exhaustively on small classes by
   running the solver on both sides of each transformation, and checks every certificate with the independent
   checker.

Run: ``python3 proofs_check/replay_abstraction.py`` (prints each check and exits non-zero on a failure).
"""

from __future__ import annotations

import os
import sys

# Run from a checkout without installing: prefer this tree's src/ over any installed collapsim.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from collapsim.replay.checker import check  # noqa: E402
from collapsim.replay.classes import from_masks  # noqa: E402
from collapsim.replay.games import four_language_class  # noqa: E402
from collapsim.replay.search import canonical_shapes  # noqa: E402
from collapsim.replay.solver import solve  # noqa: E402


def _class(masks, points):
    return from_masks(list(masks), [True] + [False] * points + [True])


def _split_point(masks, n_cells, cell):
    """Duplicate point ``cell`` (same signature) into a new point just after it."""
    out = []
    for m in masks:
        low = m & ((1 << (cell + 1)) - 1)
        high = m >> (cell + 1)
        dup = (m >> cell & 1) << (cell + 1)
        out.append(low | dup | high << (cell + 2))
    return out


def _add_empty_point(masks):
    # a new point right after the left ray, in no language
    return [(m & 1) | (m >> 1) << 2 for m in masks]


def _mirror(masks, n_cells):
    return [int(format(m, f"0{n_cells}b")[::-1], 2) for m in masks]


def check_reductions(k: int = 3, max_points: int = 2) -> int:
    """Split, empty-point and mirror invariance on every canonical class; returns the number of classes checked."""
    shapes = canonical_shapes(k, max_points)
    for sh in shapes:
        masks, n = list(sh.masks()), sh.n_cells
        base = solve(_class(masks, n - 2)).generatable
        for c in range(1, n - 1):
            assert solve(_class(_split_point(masks, n, c), n - 1)).generatable == base, ("split", sh, c)
        assert solve(_class(_add_empty_point(masks), n - 1)).generatable == base, ("empty point", sh)
        assert solve(_class(_mirror(masks, n), n - 2)).generatable == base, ("mirror", sh)
    return len(shapes)


def check_certificates(k: int = 3, max_points: int = 3) -> int:
    """Every decision, both with and without replay, carries a certificate the separate checker accepts."""
    shapes = canonical_shapes(k, max_points)
    for sh in shapes:
        hc = sh.to_class()
        for replay in (True, False):
            sol = solve(hc, replay)
            v = check(hc, sol.player, sol.strategy, replay)
            assert v.ok, (sh, replay, v.reason)
    return len(shapes)


def main() -> int:
    hc = four_language_class()
    sol = solve(hc)
    v = check(hc, sol.player, sol.strategy)
    print(f"four-language class (Thm 6.3/7.3): generatable with replay = {sol.generatable}; "
          f"adversary certificate accepted = {v.ok}")
    assert not sol.generatable and v.ok
    for k, pts in ((3, 4), (4, 2)):
        n = check_reductions(k, pts)
        print(f"split-point, empty-point and mirror invariance: {n} classes of {k} languages, <= {pts} points: ok")
    for k, pts in ((3, 5), (4, 2)):
        n = check_certificates(k, pts)
        print(f"certificates with and without replay accepted by the checker: {n} classes of {k} languages, "
              f"<= {pts} points: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
