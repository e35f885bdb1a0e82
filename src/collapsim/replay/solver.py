"""Decide proper generation in the limit with replay for a finite class over cells, with certificates.

The game (REFERENCES section 5, the setting of Theorem 6.3/7.3)
----------------------------------------------------------------
Rounds t = 1, 2, ...: the adversary shows an element x_t, then the generator outputs a hypothesis h_t of the
class.  With replay, x_t must lie in the target K or in some earlier output h_s, s < t; without replay x_t must
lie in K.  Streams may repeat elements (a finite target can only be enumerated that way).

Acceptance condition.  A play is won by the adversary iff there is a target K in the class such that
  (a) the stream is legal for K: every x_t not in K lies in h_1 u ... u h_{t-1} (never, without replay);
  (b) the stream shows all of K: every element of K appears (an infinite cell of K is shown unboundedly
      often, infinitely many distinct elements of it appearing);
  (c) the generator is wrong infinitely often: h_t is not a subset of K for infinitely many t.
The generator wins otherwise, i.e. it must *eventually always* output a subset of every target for which (a)
and (b) hold.  The adversary is adaptive; against a deterministic generator this is the same as fixing K first.

The finite abstraction
----------------------
Cells replace elements (every element of a cell lies in the same languages; ``classes.py`` uses the coarsest
such cells, one per membership pattern, so the state space below depends on the languages and the distinct
patterns, never on the span of the integers).  Two monotone sets carry all that
matters:
  F  the *forced* cells: cells shown at a time when they were outside every earlier output.  Condition (a)
     says exactly F <= K.
  U  the union of all outputs so far (the cells the adversary may replay into); U stays empty without replay.
Showing a cell of F u U changes neither set ("stay"); showing any other cell x adds it to F ("exit"), and is only
useful if F + x still fits in some language.  Outputting h changes U to U | h.

Both sets only grow, so every play ends in a final *phase* (F, U) that it never leaves.  In that phase the
targets satisfying (a) and (b) are contained in A(F, U) = {K : F <= K <= F | U} (a cell of K that is never
forced must have been shown as a replay, so it lies in U); and the adversary, by cycling through every cell of
F | U forever (always legal, fresh elements of infinite cells each time), makes (a) and (b) hold for *every* K in
A(F, U).  Hence the generator wins a play that stays in (F, U) iff from some point on it only outputs hypotheses
h with h <= U (else U would grow) and h <= K for all K in A(F, U); call (F, U) *good* if such an h exists
(vacuously when A is empty: the adversary then has no legal target left).

Because phases only grow, the game is solved by induction from the largest phases down:
  E(F, U)       = for every exit x:  GEN(F | x, U)
  GEN(F, U)     = (exists h with U | h != U and ADV(F, U | h))  or  (good(F, U) and E(F, U))
  ADV(F, U)     = E(F, U) and GEN(F, U)          (the adversary may exit, or stay and hand the turn back)
  generatable   = for every first cell x that fits some language: GEN({x}, {})
Without replay U is frozen at {}, so A(F) = {K : K = F} and every finite class is generatable (the abstraction
still runs, so this is a computed answer, not an assumption).

Soundness and completeness of the abstraction (written out in ``proofs_check/replay_abstraction.py``):
a generator strategy on (F, U) is a concrete generator (map each element to its cell), and every concrete legal
stream that shows all of K ends in a phase with K in A(F, U), so it wins concretely.  Conversely an adversary
strategy on (F, U) becomes a concrete adversary by showing, for a cell, its next unused element (points are
repeated), and cycling through F | U when it stays; the resulting stream is legal and complete for every K in
A(F, U), and the concrete generator, read through the same map, is an abstract generator that loses.
Both players' strategies from this induction are positional on (F, U).

Certificates (checked by ``checker.py``, which shares no code with this module):
  generator: {(F, U): h}  for every generator turn reachable under the strategy;
  adversary: {(F, U): x or STAY}  for every adversary turn reachable under the strategy, (0, 0) the first move;
  STAY means "show the next cell of F | U in increasing order, cyclically".  The checker judges a "show x" of
  an already known cell by what it shows ({x} forever if repeated), not as a stay.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from collapsim.replay.classes import HypothesisClass

STAY = -1
# A generator with a quick win rests once at most this many cells are still forcible (at most 2^COVER_ABOVE
# positions follow); above it, it first outputs covering languages (``_Game.cover``).
COVER_ABOVE = 3
# Quick wins S_1 .. S_MAX_LEVEL (``_Game.level``): each level costs (languages)^2 calls of the one below.
MAX_LEVEL = 3


@dataclass
class Solution:
    """The decision and its certificate.  ``strategy`` maps (F, U) bit masks to a language index (generator)
    or to a cell index / STAY (adversary)."""

    generatable: bool
    replay: bool
    player: str  # "generator" or "adversary"
    strategy: dict = field(default_factory=dict)
    states: int = 0


class _Game:
    """Memoised evaluation of E, GEN, ADV on one class (bit masks; see the module docstring)."""

    def __init__(self, masks: tuple[int, ...], n_cells: int, replay: bool):
        self.H = masks
        self.n = n_cells
        self.replay = replay
        self._gen: dict = {}
        self._exits: dict = {}
        self._anchor: dict = {}
        self._witness: dict = {}
        self.by_size = sorted(range(len(masks)), key=lambda i: (bin(masks[i]).count("1"), i))

    def fits(self, F: int) -> bool:
        return any(F & ~h == 0 for h in self.H)

    def exits(self, F: int, U: int) -> list[int]:
        key = (F, U)
        got = self._exits.get(key)
        if got is None:
            known = F | U
            # Prefer cells that lie in many languages: they give the generator the least information, which makes
            # the adversary certificates short and close to the paper's (Theorem 6.3/7.3 shows 0 first).
            cand = [x for x in range(self.n) if not known >> x & 1 and self.fits(F | 1 << x)]
            cand.sort(key=lambda x: (-sum(h >> x & 1 for h in self.H), x))
            got = self._exits[key] = cand
        return got

    def next_u(self, U: int, h: int) -> int:
        return U | h if self.replay else U

    def anchor(self, F: int) -> int | None:
        """The smallest language inside every language that contains F (None if there is none)."""
        got = self._anchor.get(F, -2)
        if got == -2:
            inter = -1
            for K in self.H:
                if F & ~K == 0:
                    inter &= K
            got = self._anchor[F] = next((i for i in self.by_size if self.H[i] & ~inter == 0), None)
        return got

    def witness(self, F: int, U: int, level: int) -> int | None:
        """An output h proving S_level(F, U) (see ``level``), or None if S_level does not hold."""
        if level <= 1:
            return self.anchor(F)
        key = (level, F, U)
        got = self._witness.get(key, -2)
        if got == -2:
            got = None
            # Outputs already in U first (a rest), then the others, small ones first.
            for i in sorted(self.by_size, key=lambda i: self.next_u(U, self.H[i]) != U):
                h, V = self.H[i], self.next_u(U, self.H[i])
                if all(F & ~K or h & ~K == 0 or self.witness(F | (K & ~V), V, level - 1) is not None
                       for K in self.H):
                    got = i
                    break
            self._witness[key] = got
        return got

    def level(self, F: int, U: int) -> int | None:
        """The least j <= MAX_LEVEL with S_j(F, U), or None: the generator's quick wins.

        S_1(F, U): F is *anchored*, some language h lies inside every language containing F.  Outputting h
        forever wins from every later position, in both games: legality keeps every target of the rest of the
        play inside L(F) = {K : F <= K}, and outputting h changes U at most once.  A bottom member anchors every F.
        S_j(F, U), j > 1: after one output h (U becomes V = U | h) every K >= F that does not contain h makes
        F | (K - V) an S_(j-1) position with V.  The generator outputs h and keeps outputting it until the
        position is S_(j-1); a play that never gets there ends in a phase (F*, V) with F* >= F, whose targets K
        have F* >= F | (K - V) (K's cells outside V were forced), so K contains h (else F*, hence F | (K - V)
        being smaller, would be S_(j-1): S_j is monotone in F for a fixed U, by induction).  Near-bottom classes
        (a language inside all but one or two others) are S_2 or S_3 everywhere.
        """
        for j in range(1, MAX_LEVEL + 1):
            if self.witness(F, U, j) is not None:
                return j
        return None

    def good_outputs(self, F: int, U: int) -> list[int]:
        """Indices of hypotheses the generator can output forever in phase (F, U) without losing."""
        cover = F | U
        inter = -1
        for K in self.H:
            if F & ~K == 0 and K & ~cover == 0:
                inter &= K
        return [i for i, h in enumerate(self.H) if h & ~inter == 0 and self.next_u(U, h) == U]

    def E(self, F: int, U: int) -> bool:
        return all(self.GEN(F | 1 << x, U) for x in self.exits(F, U))

    def GEN(self, F: int, U: int) -> bool:
        if self.anchor(F) is not None:
            return True  # no memo entry: the anchor is itself the (cached) answer
        key = (F, U)
        got = self._gen.get(key)
        if got is None:
            # Quick wins first, then staying (it keeps U, the smaller subgame), then moving up: bottom and
            # near-bottom classes never reach the search below.
            got = (self.level(F, U) is not None
                   or (bool(self.good_outputs(F, U)) and self.E(F, U))
                   or any(self.next_u(U, h) != U and self.ADV(F, self.next_u(U, h)) for h in self.H))
            self._gen[key] = got
        return got

    def ADV(self, F: int, U: int) -> bool:
        return self.E(F, U) and self.GEN(F, U)

    def root(self) -> bool:
        return all(self.GEN(F, 0) for F in self.first_moves())

    def first_moves(self) -> list[int]:
        return [1 << x for x in self.exits(0, 0)]

    # -- strategies -------------------------------------------------------------------------------------
    def forcible(self, F: int, U: int) -> int:
        """Cells the adversary could still force at (F, U): outside F | U, inside some language containing F."""
        reach = 0
        for K in self.H:
            if F & ~K == 0:
                reach |= K
        return reach & ~(F | U)

    def cover(self, F: int, U: int, keeps) -> int | None:
        """The output that covers most of the cells still forcible at (F, U), among those leading to a position
        where ``keeps(V)`` holds for the new union V; None if at most ``COVER_ABOVE`` cells are forcible (or
        without replay, where outputs cover nothing).  Every forced cell multiplies the positions a certificate
        must cover, and a covered cell is replayable, never forced; so a generator that has won anyway covers
        before it rests, and its certificate stays short."""
        R = self.forcible(F, U)
        if not self.replay or bin(R).count("1") <= COVER_ABOVE:
            return None
        best, gain = None, 0
        for g in self.by_size[::-1]:
            got = bin(self.H[g] & R).count("1")
            if got > gain and keeps(U | self.H[g]):
                best, gain = g, got
        return best

    def gen_move(self, F: int, U: int) -> int:
        """The generator's winning output at GEN(F, U) (assumed true).

        At a quick win (``level``), cover while the outputs keep a quick win, then output the witness of the
        least level (the play's level never rises, and a final phase at level j > 1 has no target missing the
        witness: see ``level``).  Otherwise the search's move: stay if that wins, else move up."""
        j = self.level(F, U)
        if j is not None:
            g = self.cover(F, U, lambda V: self.level(F, V) is not None)
            return self.witness(F, U, j) if g is None else g
        if self.E(F, U):
            good = self.good_outputs(F, U)
            if good:
                return good[0]
        for i, h in enumerate(self.H):
            V = self.next_u(U, h)
            if V != U and self.ADV(F, V):
                return i
        raise AssertionError("gen_move called on a losing position")

    def adv_move(self, F: int, U: int) -> int:
        """The adversary's winning move at ADV(F, U) (assumed false): an exit to a losing GEN, else STAY."""
        for x in self.exits(F, U):
            if not self.GEN(F | 1 << x, U):
                return x
        return STAY


def solve(hc: HypothesisClass, replay: bool = True) -> Solution:
    """Decide whether ``hc`` is properly generatable in the limit (with or without replay) and certify it."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    g = _Game(hc.masks, hc.n_cells, replay)
    win = g.root()
    strat: dict = {}
    if win:
        # Generator turns reachable when the generator follows gen_move and the adversary does anything.
        todo = list(g.first_moves())
        todo = [(F, 0) for F in todo]
        while todo:
            F, U = todo.pop()
            if (F, U) in strat:
                continue
            i = strat[(F, U)] = g.gen_move(F, U)
            V = g.next_u(U, g.H[i])
            todo.append((F, V))  # adversary stays
            todo.extend((F | 1 << x, V) for x in g.exits(F, V))
        return Solution(True, replay, "generator", strat, len(g._gen))
    first = next(F for F in g.first_moves() if not g.GEN(F, 0))
    strat[(0, 0)] = first.bit_length() - 1
    todo = [(first, g.next_u(0, h)) for h in g.H]
    while todo:
        F, U = todo.pop()
        if (F, U) in strat:
            continue
        m = strat[(F, U)] = g.adv_move(F, U)
        F2 = F if m == STAY else F | 1 << m
        todo.extend((F2, g.next_u(U, h)) for h in g.H)
    return Solution(False, replay, "adversary", strat, len(g._gen))


def decide(masks: tuple[int, ...], n_cells: int, replay: bool = True) -> bool:
    """The bare decision (no certificate), for the exhaustive search."""
    return _Game(masks, n_cells, replay).root()
