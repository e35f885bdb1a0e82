"""Independent checker for replay-game certificates (imports nothing from ``solver.py``).

The game is proper generation in the limit with replay (Racca, Valko, Sanyal, Theorem 6.3/7.3; rules and
acceptance condition in ``solver.py``): the adversary shows x_t, legal for a target K if x_t is in K or in an
earlier output; the generator outputs a language h_t; the adversary wins a play iff some K in the class has a
legal stream that shows all of K while h_t is not inside K infinitely often.

This checker judges a certificate by the plays it actually allows, with its own bookkeeping instead of the
solver's phase recursion.  A *position* (F, U) is the adversary's turn with F = cells shown while outside every
earlier output (they must lie in the target: legality) and U = union of the outputs so far (frozen at 0 without
replay).  Both only grow, so every infinite play is eventually stuck at one position, where every round is a
self-loop: the adversary's move keeps F (it shows a cell of F, or of U with replay) and the generator's output
keeps U.  The positions reachable under the certificate are explored once each (memoised on (F, U); their
number is reported) and each self-loop is judged by the acceptance condition:

* generator certificate ``{(F, U): language}``: at a position whose own rule outputs h with U | h = U, the
  adversary can cycle through every cell of F | U forever (each show keeps the position), so every K with
  F <= K <= F | U is legal and completely shown; the certificate must have h <= K for all of them.
* adversary certificate ``{(F, U): cell or -1 (stay)}``: "stay" cycles through F | U, a cell shows that cell.
  When the move keeps F, the cells shown forever are S = F | U (stay) or S = {cell}; only a K with F <= K <= S
  is legal *and* completely shown by the stream (the stream's other cells are each shown finitely often, which
  cannot be credited to the adversary), so the generator escapes iff some output h that keeps U lies inside
  every such K, vacuously when there is none: a stream that enumerates no target is a loss for the adversary.
  A move that forces a cell no language containing F has is a loss too (no target stays legal).

Everything else is rejected with a reason naming the position and the move: a missing rule, a move that is not a
cell or a language of the class, a first move that shows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from collapsim.replay.classes import HypothesisClass

STAY = -1
MAX_POSITIONS = 2_000_000  # positions (F, U) explored before giving up; a 20-cell chain needs a few hundred


@dataclass
class Verdict:
    ok: bool
    reason: str
    positions: int  # positions (F, U) visited
    gave_up: bool = False  # the position bound was hit: neither accepted nor refuted

    def __bool__(self) -> bool:
        return self.ok


class _Reject(Exception):
    pass


def _where(hc: HypothesisClass, F: int, U: int) -> str:
    if F == 0 and U == 0:
        return "at the start"
    return f"at forced {hc.describe(F)}, outputs cover {hc.describe(U)}"


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_generator(hc: HypothesisClass, strategy: dict, replay: bool = True,
                    max_positions: int = MAX_POSITIONS) -> Verdict:
    """Play the generator certificate against every adversary move (any cell, any round)."""
    H, n = hc.masks, hc.n_cells

    def output(F, U):
        if (F, U) not in strategy:
            raise _Reject(f"no rule {_where(hc, F, U)}")
        i = strategy[(F, U)]
        if not _int(i) or not 0 <= i < len(H):
            raise _Reject(f"{_where(hc, F, U)}: output {i!r} is not a language of the class")
        return i

    seen = {(0, 0)}
    todo = [(0, 0)]
    try:
        while todo:
            F, U = todo.pop()
            if F | U:
                # The self-loop: the adversary shows cells of F | U forever and the generator answers with the rule
                # at (F, U) itself; if that keeps U, the play can rest here with every K in [F, F | U] a target.
                i = output(F, U)
                if not replay or U | H[i] == U:
                    for k, K in enumerate(H):
                        if F & ~K == 0 and K & ~(F | U) == 0 and H[i] & ~K:
                            raise _Reject(
                                f"adversary wins {_where(hc, F, U)}: the certificate outputs {hc.names[i]} forever "
                                f"while the adversary cycles through {hc.describe(F | U)}, a legal complete stream "
                                f"for {hc.names[k]}, which does not contain {hc.names[i]}")
            for x in range(n):
                F2 = F if (replay and U >> x & 1) else F | 1 << x
                if not any(F2 & ~K == 0 for K in H):
                    continue  # no target is legal after this show: the adversary has lost that play
                if F2 == F:
                    continue  # the self-loop, judged above
                i = output(F2, U)
                nxt = (F2, U | H[i] if replay else U)
                if nxt not in seen:
                    if len(seen) >= max_positions:
                        return Verdict(False, f"gave up after {max_positions} positions", len(seen), True)
                    seen.add(nxt)
                    todo.append(nxt)
            # Outputs that change U from F == F2 moves lead to (F, U | h): also a successor.
            if F | U:
                i = output(F, U)
                nxt = (F, U | H[i] if replay else U)
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
    except _Reject as e:
        return Verdict(False, str(e), len(seen))
    return Verdict(True, "generator certificate holds against every adversary", len(seen))


def check_adversary(hc: HypothesisClass, strategy: dict, replay: bool = True,
                    max_positions: int = MAX_POSITIONS) -> Verdict:
    """Play the adversary certificate against every generator output in every round."""
    H, n = hc.masks, hc.n_cells
    seen = {(0, 0)}
    todo = [(0, 0)]
    try:
        while todo:
            F, U = todo.pop()
            if (F, U) not in strategy:
                raise _Reject(f"no rule {_where(hc, F, U)}")
            m = strategy[(F, U)]
            if not _int(m) or not (m == STAY or 0 <= m < n):
                raise _Reject(f"{_where(hc, F, U)}: move {m!r} is not a cell of the class or stay")
            if m == STAY:
                if F | U == 0:
                    raise _Reject("at the start: 'stay' shows nothing (the first move must show a cell)")
                F2, shown, what = F, F | U, "'stay'"
            else:
                known = F | U if replay else F
                F2 = F if known >> m & 1 else F | 1 << m
                shown, what = 1 << m, f"'show {hc.cells[m]}'"
                if not any(F2 & ~K == 0 for K in H):
                    raise _Reject(f"{_where(hc, F, U)}: {what} forces {hc.describe(F2)}, which no language "
                                  f"contains, so the stream is legal for no target")
            if F2 == F:
                # The move keeps F, so repeating it forever is a play; the generator may rest with any h keeping U.
                rest = [i for i, h in enumerate(H) if not replay or U | h == U]
                targets = [K for K in H if F & ~K == 0 and K & ~shown == 0]
                for i in rest:
                    if all(H[i] & ~K == 0 for K in targets):
                        if targets:
                            why = (f"every language legal and completely shown by it ("
                                   f"{', '.join(hc.names[k] for k, K in enumerate(H) if K in targets)}) "
                                   f"contains {hc.names[i]}")
                        else:
                            why = "no language contains the forced cells and lies inside the cells shown, so the " \
                                  "stream enumerates no target"
                        raise _Reject(f"generator escapes {_where(hc, F, U)}: the certificate's move {what} repeats "
                                      f"forever, showing only {hc.describe(shown)}; {why}; the generator outputs "
                                      f"{hc.names[i]} forever and wins")
            for h in H:
                nxt = (F2, U | h if replay else U)
                if nxt != (F, U) and nxt not in seen:
                    if len(seen) >= max_positions:
                        return Verdict(False, f"gave up after {max_positions} positions", len(seen), True)
                    seen.add(nxt)
                    todo.append(nxt)
    except _Reject as e:
        return Verdict(False, str(e), len(seen))
    return Verdict(True, "adversary certificate wins against every generator", len(seen))


def check(hc: HypothesisClass, player: str, strategy: dict, replay: bool = True) -> Verdict:
    if player == "generator":
        return check_generator(hc, strategy, replay)
    if player == "adversary":
        return check_adversary(hc, strategy, replay)
    raise ValueError(player)
