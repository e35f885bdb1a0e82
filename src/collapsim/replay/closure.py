"""Closure dimension of a finite class and the uniform threshold it implies (REFERENCES section 5).

For a finite class the closure dimension (Li, Raman, Tewari 2024) is the largest size of a *finite* intersection
of a nonempty subfamily (0 if every such intersection is infinite).  Uniform generation works from
``closure dimension + 1`` distinct examples: once more distinct examples than that are seen, the intersection of
all languages consistent with them is infinite, so an unseen element of it is in every consistent language, the
target included.  By Theorem 3.1/4.1 the same threshold survives replay (with the burn-in wrapper of
``games.py``).  The four-language class of Theorem 6.3/7.3 has closure dimension 3 (e.g. h1- ∩ h1+ = {-1, 0, 1}).
"""

from __future__ import annotations

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, iter_bits

MAX_INTERSECTIONS = 1_000_000  # distinct intersections kept; far beyond any class the solver can take


def closure_dimension(hc: HypothesisClass) -> tuple[int, int]:
    """Return ``(dimension, subfamily bit mask)`` attaining it (mask 0 when the dimension is 0).

    Intersections are taken on cells: an intersection is finite iff it contains no infinite cell, and then its
    size is the number of elements of its cells (membership cells keep their sizes for exactly this).  Over a
    finite universe every intersection is finite.  Instead of all 2^n subfamilies, the distinct intersections
    are grown one language at a time (each new one is an old one, or the whole universe, cut by a language),
    so the cost is n times the number of *distinct* intersections, which the cells bound; the separation class
    with 60 languages has about 60.
    """
    n = len(hc.masks)
    inf = hc.infinite_mask
    sizes = [c.size or 0 for c in hc.cells]
    witness: dict[int, int] = {}  # intersection mask -> a subfamily (bit mask of languages) with that intersection
    for li, m in enumerate(hc.masks):
        new = {m: 1 << li}
        for inter, sub in witness.items():
            new.setdefault(inter & m, sub | 1 << li)
        for inter, sub in new.items():
            witness.setdefault(inter, sub)
        if len(witness) > MAX_INTERSECTIONS:
            raise ConfigError(f"closure dimension: more than {MAX_INTERSECTIONS} distinct intersections "
                              f"among {n} languages")
    best, arg = 0, 0
    for inter, sub in witness.items():
        if inter & inf == 0:
            size = sum(sizes[i] for i in iter_bits(inter))
            if size > best or (size == best and size and sub < arg):
                best, arg = size, sub
    return best, arg


def uniform_threshold(hc: HypothesisClass) -> int:
    """Distinct examples after which the closure generator is always right (closure dimension + 1)."""
    return closure_dimension(hc)[0] + 1
