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
# An anchored generator rests on its anchor once at most this many cells are still forcible (at most 2^COVER_ABOVE
# positions follow); above it, it first outputs covering languages (``_Game.anchored_move``).
COVER_ABOVE = 3


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
        """A language inside every language that contains F (the smallest; None if there is none).

        Such an h wins from every position (F', U) with F' >= F, in both games: legality keeps every target of
        the rest of the play inside L(F) = {K : F <= K}, so h is inside each of them, and outputting h forever
        changes U at most once.  A bottom member (a language inside all others) anchors every F, which is why
        those classes are decided at once; near-bottom ones anchor every F outside the few languages missing it.
        """
        got = self._anchor.get(F, -2)
        if got == -2:
            inter = -1
            for K in self.H:
                if F & ~K == 0:
                    inter &= K
            inside = [i for i, h in enumerate(self.H) if h & ~inter == 0]
            got = self._anchor[F] = min(inside, key=lambda i: (bin(self.H[i]).count("1"), i)) if inside else None
        return got

    def good_outputs(self, F: int, U: int) -> list[int]:
        """Indices of hypotheses the generator can output forever in phase (F, U) without losing."""
        cover = F | U
        inter = -1
        for K in self.H:
            if F & ~K == 0 and K & ~cover == 0:
                inter &= K
        return [i for i, h in enumerate(self.H) if h & ~inter == 0 and self.next_u(U, h) == U]

    def rest_safe(self, F: int, U: int, i: int) -> bool:
        """Can the generator output ``H[i]`` (inside U) at every position from (F, U) on until F is anchored?

        A play that rests on h and never gets anchored ends in a phase (F*, U) with F* >= F; a target K there has
        F* >= F | (K - U) (its cells outside U were forced), and F* is not anchored, so neither is the smaller
        F | (K - U) (anchoring only gets easier as F grows).  Hence if every K >= F that does not contain h
        anchors F | (K - U), no such K is a target of a final phase, and resting on h wins (and once anchored,
        the anchor wins).  Monotone in F, not in U: a larger U lets a K slip in with fewer forced cells.
        """
        h = self.H[i]
        return all(F & ~K or h & ~K == 0 or self.anchor(F | (K & ~U)) is not None for K in self.H)

    def rest(self, F: int, U: int) -> int | None:
        """A language the generator can rest on from (F, U) (it keeps U and is rest-safe), or None."""
        for i in self.by_size:
            if self.next_u(U, self.H[i]) == U and self.rest_safe(F, U, i):
                return i
        return None

    def E(self, F: int, U: int) -> bool:
        return all(self.GEN(F | 1 << x, U) for x in self.exits(F, U))

    def GEN(self, F: int, U: int) -> bool:
        if self.anchor(F) is not None:
            return True  # no memo entry: the anchor is itself the (cached) answer
        key = (F, U)
        got = self._gen.get(key)
        if got is None:
            # Cheap wins first (rest now, or after one output), then staying (it keeps U, the smaller subgame),
            # then moving up: bottom and near-bottom classes never reach the search below.
            got = (self.rest(F, U) is not None
                   or any(self.rest(F, self.next_u(U, h)) is not None for h in self.H if self.next_u(U, h) != U)
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

    def anchored_move(self, F: int, U: int, h: int) -> int:
        """Output at a position anchored by ``h``: any output wins there (module doc), so choose the one that
        keeps the certificate short.  Once h is in U the adversary can only grow F by forcing cells outside U, and
        every forced cell multiplies the positions the certificate must cover; so while more than
        ``COVER_ABOVE`` cells are still forcible, output the language covering most of them (it becomes replayable
        and can never be forced), then rest on h."""
        if self.next_u(U, self.H[h]) != U:
            return h
        R = self.forcible(F, U)
        if not self.replay or bin(R).count("1") <= COVER_ABOVE:
            return h
        return max(range(len(self.H)), key=lambda i: (bin(self.H[i] & R).count("1"), -i))

    def cover(self, F: int, U: int, h: int) -> int | None:
        """While more than ``COVER_ABOVE`` cells are forcible at (F, U), the output covering most of them that
        keeps h rest-safe (None: rest on h).  Every cell forced multiplies the positions a certificate must
        cover; a covered cell becomes replayable and can never be forced."""
        R = self.forcible(F, U)
        if not self.replay or bin(R).count("1") <= COVER_ABOVE:
            return None
        best, gain = None, 0
        for g, G in enumerate(self.H):
            got = bin(G & R).count("1")
            if got > gain and self.rest_safe(F, U | G, h):
                best, gain = g, got
        return best

    def gen_move(self, F: int, U: int) -> int:
        """The generator's winning output at GEN(F, U) (assumed true): the anchor or a rest (after covering),
        else stay if that wins, else move up."""
        h = self.anchor(F)
        if h is not None:
            return self.anchored_move(F, U, h)
        h = self.rest(F, U)
        if h is not None:
            g = self.cover(F, U, h)
            return h if g is None else g
        for i in self.by_size:
            V = self.next_u(U, self.H[i])
            if V != U and self.rest(F, V) is not None:
                return i
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
