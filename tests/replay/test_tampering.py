"""Single-move tampering of certificates, generated systematically, judged against an element-level oracle.

The oracle below is written for this test only.  It shares the one uncontroversial fact with the checker (the
forced cells F and the output union U only grow, so a play that never rests visits finitely many positions), but
plays on *elements*: the adversary's moves are turned into concrete integers, every rest is simulated for a
window of rounds, and targets are judged from the concrete stream (legal: every element in K or in an earlier
output; completely shown: every cell of K has an element in the window, which a periodic tail repeats forever).
The checker instead reasons symbolically about the cells each move shows.  Both must agree on every edit.
"""

import pytest

from collapsim.replay.checker import check
from collapsim.replay.games import _sure_cells
from collapsim.replay.search import canonical_shapes
from collapsim.replay.solver import STAY, solve

LOSES, WINS = False, True


def _position(hc, stream, outputs, replay):
    U = 0
    if replay:
        for o in outputs:
            U |= hc.masks[o]
    F = _sure_cells(hc, stream, outputs) if replay else sum({hc.cell_mask(x) for x in stream})
    return F, U


def _element(hc, cell, stream):
    seen = set(stream)
    elems = []
    for z in hc.cells[cell].elements():
        if z not in seen:
            return z
        elems.append(z)
        if len(elems) > len(seen):
            break
    return elems[len(stream) % len(elems)]


def _judge(hc, stream, outputs, window, h, replay):
    """Does output ``h``, repeated over the last ``window`` rounds, stay right for every legal complete target?"""
    shown_late = 0
    for x in stream[-window:]:
        shown_late |= hc.cell_mask(x)
    for K in hc.masks:
        legal = all(K & hc.cell_mask(x) or (replay and any(hc.masks[o] & hc.cell_mask(x) for o in outputs[:t]))
                    for t, x in enumerate(stream))
        complete = K & ~shown_late == 0
        if legal and complete and hc.masks[h] & ~K:
            return False
    return True


def oracle_adversary(hc, strategy, replay=True):
    """WINS iff no generator escapes the adversary certificate (elements, not cells)."""
    n = hc.n_cells

    def move(stream, outputs):
        F, U = _position(hc, stream, outputs, replay)
        if (F, U) not in strategy:
            return None
        m = strategy[(F, U)]
        if m == STAY:
            cyc = [c for c in range(n) if (F | U) >> c & 1]
            if not cyc:
                return None
            return _element(hc, cyc[len(stream) % len(cyc)], stream)
        if not isinstance(m, int) or not 0 <= m < n:
            return None
        return _element(hc, m, stream)

    window = 2 * n + 2
    seen = set()
    todo = [([], [])]
    while todo:
        stream, outputs = todo.pop()
        pos = _position(hc, stream, outputs, replay)
        if pos in seen:
            continue
        seen.add(pos)
        for h in range(len(hc.masks)):
            s, o = list(stream), list(outputs)
            x = move(s, o)
            if x is None:
                return LOSES
            s.append(x)
            o.append(h)
            if stream and _position(hc, s, o, replay) == pos:
                # Try to rest here with output h: the adversary keeps moving, the generator keeps answering h.
                rest_ok = True
                for _ in range(window):
                    x = move(s, o)
                    if x is None:
                        return LOSES
                    s.append(x)
                    o.append(h)
                    if _position(hc, s, o, replay) != pos:
                        rest_ok = False
                        break
                if rest_ok and _judge(hc, s, o, window, h, replay):
                    return LOSES
            else:
                todo.append((s, o))
    return WINS


def oracle_generator(hc, strategy, replay=True):
    """WINS iff the generator certificate stays right against every adversary (elements, not cells)."""
    n, k = hc.n_cells, len(hc.masks)

    def answer(stream, outputs):
        pos = _position(hc, stream, outputs, replay)
        i = strategy.get(pos)
        return i if isinstance(i, int) and 0 <= i < k else None

    seen = set()
    todo = [([], [])]
    window = 2 * n + 2
    while todo:
        stream, outputs = todo.pop()
        pos = _position(hc, stream, outputs, replay)
        if pos in seen:
            continue
        seen.add(pos)
        F, U = pos
        for c in range(n):
            s = stream + [_element(hc, c, stream)]
            F2, _ = _position(hc, s, outputs, replay)
            if not any(F2 & ~K == 0 for K in hc.masks):
                continue  # no target left: the adversary gave up this play
            i = answer(s, outputs)
            if i is None:
                return LOSES
            todo.append((s, outputs + [i]))
        if F | U:
            # The adversary rests: it cycles through F | U with fresh elements while the certificate answers.
            s, o = list(stream), list(outputs)
            cyc = [c for c in range(n) if (F | U) >> c & 1]
            rested = True
            for r in range(window):
                s.append(_element(hc, cyc[r % len(cyc)], s))
                i = answer(s, o)
                if i is None:
                    return LOSES
                o.append(i)
                if _position(hc, s, o, replay) != pos:
                    rested = False
                    break
            if rested and not _judge(hc, s, o, window, o[-1], replay):
                return LOSES
    return WINS


def _edits(sol, hc):
    """Every single-move edit: each other move at each rule, the rule deleted, a move outside the class."""
    k, n = len(hc.masks), hc.n_cells
    alternatives = list(range(k)) if sol.player == "generator" else list(range(n)) + [STAY]
    bogus = k if sol.player == "generator" else n
    for pos, m in sol.strategy.items():
        for alt in alternatives + [bogus]:
            if alt != m:
                yield pos, alt
        yield pos, None


def _classes(four_cells=4):
    out = [sh.to_class() for sh in canonical_shapes(3, 7)]
    out += [sh.to_class() for sh in canonical_shapes(4, four_cells)]
    return out


def _sweep(classes, replay):
    n_edits = rejected = 0
    kinds = set()
    for hc in classes:
        sol = solve(hc, replay)
        oracle = oracle_generator if sol.player == "generator" else oracle_adversary
        assert oracle(hc, sol.strategy, replay) == WINS  # the oracle agrees with the untouched certificate
        for pos, alt in _edits(sol, hc):
            strat = dict(sol.strategy)
            if alt is None:
                del strat[pos]
            else:
                strat[pos] = alt
            v = check(hc, sol.player, strat, replay)
            truth = oracle(hc, strat, replay)
            assert v.ok == truth, (hc.to_json(), sol.player, pos, alt, v.reason)
            n_edits += 1
            if not v.ok:
                rejected += 1
                kinds.add((sol.player, "delete" if alt is None else "stay" if alt == STAY else "move"))
    return n_edits, rejected, kinds


@pytest.mark.parametrize("replay", [pytest.param(True, marks=pytest.mark.slow), False])
def test_every_single_move_edit_is_judged_like_the_element_oracle(replay):
    # Without replay every class is generatable and the certificates are long: fewer classes keep it quick.
    n_edits, rejected, kinds = _sweep(_classes(4 if replay else 3), replay)
    # The sweep is not vacuous: many edits, most of them breaking, of every kind.
    assert n_edits > 1000 and rejected > n_edits // 3
    expected = {("generator", "delete"), ("generator", "move")}
    if replay:
        expected |= {("adversary", "delete"), ("adversary", "move"), ("adversary", "stay")}
    assert expected <= kinds


@pytest.mark.slow
def test_every_single_move_edit_up_to_five_cells():
    for replay in (True, False):
        n_edits, rejected, _ = _sweep(_classes(5), replay)
        assert n_edits > 10_000 and rejected > 0


def test_re_showing_a_known_cell_instead_of_staying_is_judged_by_what_it_shows():
    # The kind of edit: a 'stay' replaced by 'show c' for a cell c already forced or output.
    total = 0
    for hc in _classes():
        sol = solve(hc, True)
        if sol.player != "adversary":
            continue
        for (F, U), m in sol.strategy.items():
            if m != STAY:
                continue
            for c in range(hc.n_cells):
                if (F | U) >> c & 1:
                    strat = dict(sol.strategy)
                    strat[(F, U)] = c
                    v = check(hc, "adversary", strat, True)
                    assert v.ok == oracle_adversary(hc, strat, True)
                    if not v.ok:
                        assert f"'show {hc.cells[c]}'" in v.reason
                    total += 1
    assert total > 50
