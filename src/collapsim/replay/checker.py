"""Independent checker for replay-game certificates (imports nothing from ``solver.py``).

It replays a certificate against *every* response of the other player and judges the resulting plays with the
acceptance condition stated in ``solver.py`` (eventually-always-correct generator versus a legal, complete
stream), using its own bookkeeping of the game rather than the solver's phase recursion:

* positions carry the forced cells F (shown while outside every earlier output), the union U of outputs,
  the set D of cells shown at all, and, for adversary certificates, a round-robin pointer that turns the
  certificate's "stay" into concrete shows;
* all positions reachable under the certificate are enumerated (the graph is finite; ``max_nodes`` bounds it);
* every infinite play ends inside one strongly connected component (SCC) of that graph, and the player the
  certificate speaks for must win on every SCC that carries a cycle.

Generator certificate ``{(F, U): h}``: rejected iff some reachable SCC with a cycle, within which the adversary
can show the cells ``S`` and sees the outputs ``O``, has a target K with F <= K <= D, every infinite cell of K in
S (shown unboundedly often), and some output of O not inside K.  Taking the whole SCC is the adversary's best
choice, since a larger S admits more targets and a larger O gives more wrong outputs.

Adversary certificate ``{(F, U): cell or -1 (stay)}``: rejected iff the generator can stay forever on a cycle
all of whose outputs are inside every target that the cycle's stream makes legal and complete (or no such target
exists).  A cycle can only occur while the certificate stays, and the round-robin pointer must then pass through
all of F | U, so the targets are {K : F <= K <= D, infinite cells of K in F | U}; the checker verifies that the
cycle really shows F | U before relying on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from collapsim.replay.classes import HypothesisClass

STAY = -1


@dataclass
class Verdict:
    ok: bool
    reason: str
    positions: int
    gave_up: bool = False  # the position bound was hit: neither accepted nor refuted

    def __bool__(self) -> bool:
        return self.ok


def _bits(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def _sccs(nodes: list, succ: dict) -> list[list]:
    """Tarjan's algorithm, iterative (the graphs are small but recursion limits are not worth the risk)."""
    index: dict = {}
    low: dict = {}
    on: set = set()
    stack: list = []
    out: list = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(succ[w])))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


def _legal_targets(H, F: int, D: int, shown_often: int, inf: int) -> list[int]:
    return [K for K in H if F & ~K == 0 and K & ~D == 0 and (K & inf) & ~shown_often == 0]


def check_generator(hc: HypothesisClass, strategy: dict, replay: bool = True, max_nodes: int = 500_000) -> Verdict:
    """Play the generator certificate against every adversary move (any cell, any time)."""
    H, inf, n = hc.masks, hc.infinite_mask, hc.n_cells
    # Node: (F, U, D, last output).  Edges: adversary shows x, generator answers strategy[(F', U)].
    succ: dict = {}
    edges: dict = {}  # (node, node') -> list of (shown cell, output mask)

    def respond(F, U, D, x):
        forced = not (replay and U >> x & 1)
        F2 = F | (1 << x) if forced else F
        if not any(F2 & ~K == 0 for K in H):
            return None  # no target is legal any more: the adversary has lost this play
        if (F2, U) not in strategy:
            raise KeyError((F2, U))
        h = H[strategy[(F2, U)]]
        U2 = U | h if replay else U
        return (F2, U2, D | 1 << x, h)

    todo = []
    try:
        for x in range(n):
            node = respond(0, 0, 0, x)
            if node is not None:
                todo.append(node)
        seen = set(todo)
        while todo:
            v = todo.pop()
            F, U, D, _ = v
            succ[v] = []
            for x in range(n):
                w = respond(F, U, D, x)
                if w is None:
                    continue
                succ[v].append(w)
                edges.setdefault((v, w), []).append((x, w[3]))
                if w not in seen:
                    if len(seen) >= max_nodes:
                        return Verdict(False, f"gave up after {max_nodes} positions", len(seen), True)
                    seen.add(w)
                    todo.append(w)
    except KeyError as e:
        F, U = e.args[0]
        return Verdict(False, f"strategy undefined at F={hc.describe(F)}, U={hc.describe(U)}", len(succ))
    for comp in _sccs(list(succ), succ):
        cs = set(comp)
        inner = [(v, w) for v in comp for w in succ[v] if w in cs]
        if not inner:
            continue
        phases = {(v[0], v[1], v[2]) for v in comp}
        if len(phases) != 1:
            return Verdict(False, "internal: a cycle changes F, U or D, which only grow", len(succ))
        F, U, D = phases.pop()
        S = 0
        outs = set()
        for e in inner:
            for x, h in edges[e]:
                S |= 1 << x
                outs.add(h)
        for K in _legal_targets(H, F, D, S, inf):
            bad = [h for h in outs if h & ~K]
            if bad:
                return Verdict(False, (f"adversary wins: after forced {hc.describe(F)}, replayable {hc.describe(U)}, "
                                       f"target {hc.describe(K)} is never excluded but output {hc.describe(bad[0])} "
                                       f"recurs"), len(succ))
    return Verdict(True, "generator certificate holds against every adversary", len(succ))


def check_adversary(hc: HypothesisClass, strategy: dict, replay: bool = True, max_nodes: int = 500_000) -> Verdict:
    """Play the adversary certificate against every generator output in every round."""
    H, inf = hc.masks, hc.infinite_mask
    if (0, 0) not in strategy or strategy[(0, 0)] == STAY:
        return Verdict(False, "no first move", 0)

    def show(F, U, rr):
        """The certificate's concrete move at (F, U): (cell, new rr)."""
        m = strategy.get((F, U))
        if m is None:
            raise KeyError((F, U))
        if m != STAY:
            return m, 0
        cyc = _bits(F | U)
        return cyc[rr % len(cyc)], (rr + 1) % len(cyc)

    # Node: (F, U, D, rr) at the adversary's turn.  Edge label: (shown cell, output index).
    x0 = strategy[(0, 0)]
    succ: dict = {}
    label: dict = {}
    todo = [(1 << x0, h if replay else 0, 1 << x0, 0) for h in H]
    seen = set(todo)
    try:
        while todo:
            v = todo.pop()
            F, U, D, rr = v
            x, rr2 = show(F, U, rr)
            if not (replay and U >> x & 1):
                F = F | 1 << x
            D = D | 1 << x
            succ[v] = []
            for i, h in enumerate(H):
                w = (F, U | h if replay else U, D, rr2 if (F, U | h if replay else U) == (v[0], v[1]) else 0)
                succ[v].append(w)
                label.setdefault((v, w), []).append((x, i))
                if w not in seen:
                    if len(seen) >= max_nodes:
                        return Verdict(False, f"gave up after {max_nodes} positions", len(seen), True)
                    seen.add(w)
                    todo.append(w)
    except KeyError as e:
        F, U = e.args[0]
        return Verdict(False, f"strategy undefined at F={hc.describe(F)}, U={hc.describe(U)}", len(succ))
    if not any(F & ~K == 0 for (F, _, _, _) in succ for K in H):
        return Verdict(False, "the stream fits no target", len(succ))
    # Keep only the edges on which the generator is right for every target the stay-cycle makes legal.
    good_succ: dict = {}
    for v in succ:
        F, U, D, _ = v
        targets = _legal_targets(H, F, D | F | U, F | U, inf)
        inter = -1
        for K in targets:
            inter &= K
        good_succ[v] = [w for w in succ[v] if any(H[i] & ~inter == 0 for _, i in label[(v, w)])]
    for comp in _sccs(list(good_succ), good_succ):
        cs = set(comp)
        inner = [(v, w) for v in comp for w in good_succ[v] if w in cs]
        if not inner:
            continue
        v = comp[0]
        S = 0
        for e in inner:
            for x, _ in label[e]:
                S |= 1 << x
        if S != v[0] | v[1]:
            return Verdict(False, "internal: a stay cycle does not show every cell of F | U", len(succ))
        return Verdict(False, (f"generator escapes: with forced {hc.describe(v[0])} and replayable {hc.describe(v[1])} "
                               f"it can repeat an output inside every legal target"), len(succ))
    return Verdict(True, "adversary certificate wins against every generator", len(succ))


def check(hc: HypothesisClass, player: str, strategy: dict, replay: bool = True) -> Verdict:
    if player == "generator":
        return check_generator(hc, strategy, replay)
    if player == "adversary":
        return check_adversary(hc, strategy, replay)
    raise ValueError(player)
