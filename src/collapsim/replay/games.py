"""Generation games with a replay adversary: generators, adversaries and a bounded simulator.

Two kinds of game (REFERENCES section 5):

* element output (Kleinberg-Mullainathan): the generator outputs an element; it is right in a round when the
  element is in the target K and not yet in the stream.  Replay: a shown element may equal an earlier output.
* proper: the generator outputs a hypothesis (a language index); it is right when that language is a subset
  of K.  Replay: a shown element may be any element of an earlier output hypothesis.

A generator is a pure function ``(hc, stream, outputs) -> output`` of the stream so far (``t`` elements) and its
own earlier outputs (``t - 1`` of them); an adversary is ``(hc, stream, outputs) -> element`` and names the
target(s) its stream is meant to enumerate.  Recomputing from the history each round is quadratic but keeps
every strategy a pure function of the history, which is all the theory assumes.

Elements of the integers are enumerated 0, 1, -1, 2, -2, ...; a finite universe in its listed order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count, islice
from typing import Callable, Iterator

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, iter_bits, parse_class

WITNESS_SEARCH = 2_000  # how far membership-only strategies look through the enumeration


def universe_order(hc: HypothesisClass) -> Iterator:
    if hc.universe == "integers":
        yield 0
        for z in count(1):
            yield z
            yield -z
    else:
        yield from hc.universe


def first_in(hc: HypothesisClass, member: Callable, avoid=frozenset(), limit: int | None = None):
    """The first element of the enumeration with ``member(z)`` true and ``z`` not in ``avoid`` (None if none)."""
    for z in islice(universe_order(hc), limit):
        if z not in avoid and member(z):
            return z
    return None


def first_in_cells(hc: HypothesisClass, mask: int, avoid=frozenset()):
    """The first element outside ``avoid`` of a walk through the cells in ``mask`` (their runs interleaved), or
    None when those cells are finite and all avoided.  Cells can lie anywhere (``>=10**12``), beyond any
    bounded search of the enumeration; each avoided element is passed once, so this takes at most
    ``len(avoid) + 1`` steps per cell."""
    iters = [hc.cells[i].elements() for i in iter_bits(mask)]
    while iters:
        alive = []
        for it in iters:
            z = next(it, None)
            if z is None:
                continue
            if z not in avoid:
                return z
            alive.append(it)
        iters = alive
    return None


def _first_member(hc, lang: int, avoid):
    """An unavoided element of language ``lang``: the enumeration order first (as the theory's generators
    use it), then the language's own cells when the enumeration does not reach them soon."""
    z = first_in(hc, lambda z: hc.contains(lang, z), avoid, WITNESS_SEARCH)
    if z is None and isinstance(hc, HypothesisClass):
        z = first_in_cells(hc, hc.masks[lang], avoid)
    return z


def _cells_of(hc, elems) -> int:
    m = 0
    for z in elems:
        m |= hc.cell_mask(z)
    return m


# ---------------------------------------------------------------------------------------------------------------
# Element-output generators
# ---------------------------------------------------------------------------------------------------------------

def _critical(hc: HypothesisClass, consistent: list[int]) -> int | None:
    """Kleinberg-Mullainathan: L_i is critical when it is inside every consistent L_j with j < i; take the last."""
    crit = None
    for pos, i in enumerate(consistent):
        if all(hc.masks[i] & ~hc.masks[j] == 0 for j in consistent[:pos]):
            crit = i
    return crit


def km_generator(hc, stream, outputs):
    """The critical-language generator: consider L_1..L_t, output an unseen element of the last critical one.

    It treats every shown element as evidence, which is exactly what a replay adversary exploits (Theorem
    4.1/5.1: the non-uniform separation).
    """
    seen = set(stream)
    shown = _cells_of(hc, seen)
    consistent = [i for i in range(min(len(stream), len(hc.masks))) if shown & ~hc.masks[i] == 0]
    crit = _critical(hc, consistent)
    if crit is None:
        return first_in(hc, lambda z: True, seen)
    z = _first_member(hc, crit, seen)
    return z if z is not None else first_in(hc, lambda z: hc.contains(crit, z), ())


def closure_generator(hc, stream, outputs):
    """Uniform generator: an unseen element of the intersection of all languages consistent with the stream.

    After closure dimension + 1 distinct examples from K that intersection is infinite and inside K.
    """
    seen = set(stream)
    shown = _cells_of(hc, seen)
    inter = -1
    for m in hc.masks:
        if shown & ~m == 0:
            inter &= m
    z = None
    if inter != -1:
        z = first_in(hc, lambda z: inter & hc.cell_mask(z), seen, WITNESS_SEARCH)
        if z is None:  # the intersection lies beyond the bounded search: walk its own cells
            z = first_in_cells(hc, inter & ((1 << hc.n_cells) - 1), seen)
    return z if z is not None else first_in(hc, lambda z: True, seen)


def burn_in(base: Callable, threshold: int) -> Callable:
    """Theorem 3.1/4.1: repeat x_1 until ``threshold`` distinct examples are seen, then run ``base``.

    Replaying x_1 adds nothing new, so the first ``threshold`` distinct examples are all genuine members of K,
    and afterwards a uniform generator only outputs members of K, whose replays are harmless.
    """

    def gen(hc, stream, outputs):
        if len(set(stream)) < threshold:
            return stream[0]
        return base(hc, stream, outputs)

    gen.__name__ = f"burn_in({getattr(base, '__name__', 'generator')}, {threshold})"
    return gen


def witness_protection_generator(hc, stream, outputs):
    """Theorem 5.1/6.1 for a class given only by membership: keep a 'sure' set, protect separating witnesses.

    Sure set: elements shown while they were not among the generator's earlier outputs, hence certainly in K.
    Active languages: those among L_1..L_t containing the sure set.  The smallest witness of L_i minus L_j for
    every pair of active languages is never output, so when the adversary shows it, it joins the sure set and
    the wrong language is ruled out; the output is an unprotected unseen element of the last critical language.
    Only membership queries are used, on a prefix of the enumeration that grows with t (as in the
    membership-query version of the critical-language generator), so subsets and witnesses are prefix-based.
    """
    t = len(stream)
    sure = {x for s, x in enumerate(stream) if x not in outputs[:s]}
    n = min(t, len(hc.names))
    seen = set(stream)
    prefix = list(islice(universe_order(hc), 4 * t + 20))
    mem = [[hc.contains(i, z) for z in prefix] for i in range(n)]
    active = [i for i in range(n) if all(hc.contains(i, x) for x in sure)]

    def inside(i, j):  # L_i subset of L_j, as far as the prefix shows
        return all(b or not a for a, b in zip(mem[i], mem[j]))

    crit = None
    for pos, i in enumerate(active):
        if all(inside(i, j) for j in active[:pos]):
            crit = i
    protected = set()
    for i in active:
        for j in active:
            w = next((z for z, a, b in zip(prefix, mem[i], mem[j]) if a and not b), None)
            if w is not None:
                protected.add(w)
    if crit is None:
        return first_in(hc, lambda z: True, seen | protected)
    z = next((z for z, a in zip(prefix, mem[crit]) if a and z not in seen and z not in protected), None)
    if z is None:
        z = first_in(hc, lambda z: hc.contains(crit, z), seen | protected, WITNESS_SEARCH)
    if z is None:
        z = _first_member(hc, crit, seen)
    return z if z is not None else _first_member(hc, crit, ())


# ---------------------------------------------------------------------------------------------------------------
# Proper generators (output a language index)
# ---------------------------------------------------------------------------------------------------------------

def _sure_cells(hc, stream, outputs) -> int:
    """Cells shown while outside every earlier output hypothesis (the forced set F of ``solver.py``)."""
    F = U = 0
    for s, x in enumerate(stream):
        c = hc.cell_mask(x)
        if s > 0:
            U |= hc.masks[outputs[s - 1]]
        if not c & U:
            F |= c
    return F


def mch_generator(hc, stream, outputs):
    """Minimal consistent hypothesis: a language containing the sure cells with no such language inside it."""
    F = _sure_cells(hc, stream, outputs)
    cons = [i for i, m in enumerate(hc.masks) if F & ~m == 0]
    for i in cons:
        if not any(j != i and hc.masks[j] & ~hc.masks[i] == 0 and hc.masks[j] != hc.masks[i] for j in cons):
            return i
    return 0


def certificate_generator(strategy: dict) -> Callable:
    """Play a solver generator certificate {(F, U): h} on concrete elements (elements -> cells)."""

    def gen(hc, stream, outputs):
        F = _sure_cells(hc, stream, outputs)
        U = 0
        for o in outputs:
            U |= hc.masks[o]
        if (F, U) not in strategy:
            return outputs[-1] if outputs else 0  # only reachable when the stream already fits no target
        return strategy[(F, U)]

    return gen


# ---------------------------------------------------------------------------------------------------------------
# Adversaries
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Adversary:
    """A strategy and the targets its stream is meant to enumerate (the simulator scores each)."""

    name: str
    move: Callable
    targets: Callable  # (hc, stream, outputs) -> list of language indices


def _next_new(hc, lang: int, stream) -> object:
    """The next element of language ``lang`` not yet shown (cycling when the language is finite)."""
    seen = set(stream)
    z = _first_member(hc, lang, seen)
    if z is None:  # finite language, all shown: repeat in order
        if isinstance(hc, HypothesisClass):
            members = [e for i in iter_bits(hc.masks[lang]) for e in hc.cells[i].elements()]
        else:
            members = [z for z in islice(universe_order(hc), WITNESS_SEARCH) if hc.contains(lang, z)]
        z = members[len(stream) % len(members)]
    return z


def enumeration_adversary(target: int) -> Adversary:
    return Adversary("enumerate", lambda hc, s, o: _next_new(hc, target, s), lambda hc, s, o: [target])


def replay_everything_adversary(target: int, proper: bool) -> Adversary:
    """Alternate: a new element of the target, then a replay of something the generator produced.

    Element output: replay the oldest output not yet shown.  Proper: show the next unshown element of the
    earlier output hypotheses that lies outside the target (replays inside the target teach nothing).  The
    alternation keeps the stream a complete enumeration of the target.
    """

    def move(hc, stream, outputs):
        if len(stream) % 2 == 1 and outputs:
            seen = set(stream)
            if not proper:
                pending = [o for o in outputs if o not in seen]
                if pending:
                    return pending[0]
            else:
                U = 0
                for o in outputs:
                    U |= hc.masks[o]
                z = first_in(hc, lambda z: U & hc.cell_mask(z) and not hc.contains(target, z), seen,
                             WITNESS_SEARCH)
                if z is not None:
                    return z
        return _next_new(hc, target, stream)

    return Adversary("replay-everything", move, lambda hc, s, o: [target])


def trap_adversary(hc: HypothesisClass) -> Adversary:
    """The two-target trap of Theorem 6.3/7.3 on the four-language class (names h1-, h2-, h1+, h2+).

    Show 0.  If the generator answers a minus-language, play -1, -2, 1, 2, 3, ...: -1 and -2 are replays of that
    output, so the stream is a legal complete enumeration of both h1+ and h2+; mirror otherwise.  No language
    lies inside h1+ ∩ h2+ = {z >= 0}, so the generator is wrong infinitely often for one of the two.
    """
    need = ("h1-", "h2-", "h1+", "h2+")
    if any(n not in hc.names for n in need):
        raise ConfigError("the trap adversary needs the four-language class of Theorem 6.3/7.3 (h1-, h2-, h1+, h2+)")
    idx = {n: hc.names.index(n) for n in need}

    def side(outputs):
        return +1 if hc.names[outputs[0]].endswith("-") else -1

    def move(hc_, stream, outputs):
        t = len(stream)
        if t == 0:
            return 0
        sgn = side(outputs)
        head = [-sgn, -2 * sgn]
        return head[t - 1] if t - 1 < 2 else sgn * (t - 2)

    def targets(hc_, stream, outputs):
        if not outputs:
            return [idx["h1+"], idx["h2+"]]
        return [idx["h1+"], idx["h2+"]] if side(outputs) > 0 else [idx["h1-"], idx["h2-"]]

    return Adversary("trap", move, targets)


def certificate_adversary(strategy: dict, targets_of: Callable | None = None) -> Adversary:
    """Play a solver adversary certificate {(F, U): cell or -1 (stay)} with concrete fresh elements.

    A cell is shown by its next unshown element (points repeat); 'stay' cycles through the cells of F | U.
    The targets scored are all languages K with F <= K <= F | U (each is legal and completely shown).
    """

    def state(hc, stream, outputs):
        F = _sure_cells(hc, stream, outputs)
        U = 0
        for o in outputs:
            U |= hc.masks[o]
        return F, U

    def fresh(hc, cell, stream):
        # Walk the cell's own elements (a cell may sit far from 0, beyond any bounded search of the integers);
        # at most len(stream) + 1 steps find an unshown one, and a finite cell all shown repeats its elements.
        seen = set(stream)
        c = hc.cells[cell]
        for j, z in enumerate(c.elements()):
            if z not in seen:
                return z
            if j > len(seen):
                break
        elems = list(c.elements())
        return elems[len(stream) % len(elems)]

    def move(hc, stream, outputs):
        if not stream:
            return fresh(hc, strategy[(0, 0)], stream)
        F, U = state(hc, stream, outputs)
        m = strategy.get((F, U), -1)
        if m >= 0:
            return fresh(hc, m, stream)
        cyc = list(iter_bits(F | U))
        return fresh(hc, cyc[len(stream) % len(cyc)], stream)

    def targets(hc, stream, outputs):
        F, U = state(hc, stream, outputs)
        return [i for i, K in enumerate(hc.masks) if F & ~K == 0 and K & ~(F | U) == 0]

    return Adversary("certificate", move, targets_of or targets)


# ---------------------------------------------------------------------------------------------------------------
# Simulator
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class PlayResult:
    proper: bool
    stream: list
    outputs: list
    targets: list  # language indices the final stream is scored against
    wrong: dict = field(default_factory=dict)  # target index -> rounds (1-based) where the generator was wrong
    replays: dict = field(default_factory=dict)  # target index -> rounds whose element is outside the target
    legal: dict = field(default_factory=dict)  # target index -> whether every element is in K or a legal replay


def play(hc: HypothesisClass, generator: Callable, adversary: Adversary, rounds: int, proper: bool) -> PlayResult:
    """Play ``rounds`` rounds and score every target the adversary names at the end."""
    if rounds < 1:
        raise ConfigError("rounds must be at least 1")
    if not proper:
        hc.require_infinite("element-output generation")
    stream: list = []
    outputs: list = []
    for _ in range(rounds):
        stream.append(adversary.move(hc, stream, outputs))
        outputs.append(generator(hc, stream, outputs))
    res = PlayResult(proper, stream, outputs, list(adversary.targets(hc, stream, outputs)))
    for k in res.targets:
        K = hc.masks[k] if proper else None
        wrong, repl, legal = [], [], True
        for t, (x, o) in enumerate(zip(stream, outputs), start=1):
            in_k = hc.contains(k, x)
            if not in_k:
                repl.append(t)
                earlier = outputs[: t - 1]
                ok = any(hc.contains(h, x) for h in earlier) if proper else x in earlier
                legal = legal and ok
            if proper:
                right = hc.masks[o] & ~K == 0
            else:
                right = hc.contains(k, o) and o not in stream[:t]
            if not right:
                wrong.append(t)
        res.wrong[k], res.replays[k], res.legal[k] = wrong, repl, legal
    return res


# ---------------------------------------------------------------------------------------------------------------
# Built-in classes and the registry used by the CLI
# ---------------------------------------------------------------------------------------------------------------

def separation_class(n: int) -> HypothesisClass:
    """Theorem 4.1/5.1, truncated: h_inf = positive integers, h_d = {1..d} plus the negative integers.

    Enumerated h_1, h_inf, h_2, ..., h_n (a countable class needs h_inf at a finite index).  The critical-language
    generator only looks at L_1..L_t in round t, so the truncation is invisible for the first n rounds.
    """
    if not 1 <= n <= 60:
        raise ConfigError("the separation class is truncated at 1..60 languages")
    langs = {"h_1": [[None, -1], 1], "h_inf": [[1, None]]}
    for d in range(2, n + 1):
        langs[f"h_{d}"] = [[None, -1], [1, d]]
    return parse_class({"universe": "integers", "languages": langs}, "separation")


def four_language_class() -> HypothesisClass:
    """Theorem 6.3/7.3: h_i^- = {z <= 0} u {i}, h_i^+ = {z >= 0} u {-i}, i in {1, 2}."""
    return parse_class({"universe": "integers", "languages": {
        "h1-": [[None, 0], 1], "h2-": [[None, 0], 2], "h1+": [[0, None], -1], "h2+": [[0, None], -2]}}, "four-language")


@dataclass(frozen=True)
class MembershipClass:
    """A class given only by membership functions (Theorem 5.1/6.1's setting), e.g. countably many languages.

    Works with the strategies that need nothing but membership (witness protection, enumeration and
    replay-everything adversaries, the simulator's scoring); the critical-language and closure generators need
    the cell structure of :class:`~collapsim.replay.classes.HypothesisClass`.
    """

    names: tuple
    members: tuple  # callables z -> bool
    universe: object = "integers"

    def contains(self, lang: int, z) -> bool:
        return bool(self.members[lang](z))

    def require_infinite(self, why: str) -> None:  # cannot be decided from membership; the caller vouches
        return None


def separation_membership(n: int) -> MembershipClass:
    """The class of Theorem 4.1/5.1 by membership only: h_1, h_inf, h_2, ..., h_n (no truncation limit)."""
    names = ["h_1", "h_inf"] + [f"h_{d}" for d in range(2, n + 1)]
    members = [lambda z: z < 0 or z == 1, lambda z: z > 0] + [
        (lambda z, d=d: z < 0 or 1 <= z <= d) for d in range(2, n + 1)]
    return MembershipClass(tuple(names), tuple(members))


ELEMENT_GENERATORS = {"km": km_generator, "closure": closure_generator, "witness": witness_protection_generator}
PROPER_GENERATORS = {"mch": mch_generator}  # "certificate" is built from the solver on demand
ADVERSARIES = ("enumerate", "replay-everything", "trap", "certificate")
