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
from collapsim.replay.classes import HypothesisClass

MAX_LANGUAGES = 20  # 2^20 subfamilies is still quick; beyond that the brute force is the wrong tool


def closure_dimension(hc: HypothesisClass) -> tuple[int, int]:
    """Return ``(dimension, subfamily bit mask)`` attaining it (mask 0 when the dimension is 0).

    Intersections are taken on cells: an intersection is finite iff it contains no infinite cell, and then its size
    is its number of point cells.  Over a finite universe every intersection is finite.
    """
    n = len(hc.masks)
    if n > MAX_LANGUAGES:
        raise ConfigError(f"closure dimension: at most {MAX_LANGUAGES} languages are supported, got {n}")
    inf = hc.infinite_mask
    best, arg = 0, 0
    # inter[S] built from inter[S without its lowest bit]: one AND per subfamily.
    inter = [-1] * (1 << n)
    for S in range(1, 1 << n):
        low = S & -S
        inter[S] = inter[S ^ low] & hc.masks[low.bit_length() - 1]
        I = inter[S] & ((1 << hc.n_cells) - 1)
        if I & inf == 0:
            size = bin(I).count("1")
            if size > best:
                best, arg = size, S
    return best, arg


def uniform_threshold(hc: HypothesisClass) -> int:
    """Distinct examples after which the closure generator is always right (closure dimension + 1)."""
    return closure_dimension(hc)[0] + 1
