"""Seeded random classes for the replay benchmark and tests: (near-)bottom-member and unstructured classes.

Cells are membership cells (one per distinct set of languages, see ``classes.py``), drawn as k-bit *patterns*
(bit i: language i contains the cell).  A *bottom member* is a language inside every other one; by membership
it is a single cell, the one lying in all languages.  A *near-bottom* member lies inside all but ``missing``
others.  ``replay check`` must decide both quickly (``solver.py``, quick wins): a bottom member is always
generatable (output it forever), a near-bottom one decides by the play around the languages missing it.
"""

from __future__ import annotations

import random

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, from_masks

KINDS = ("bottom", "near1", "near2", "random")  # near<m>: the bottom member misses m languages


def _masks(patterns: list[int], languages: int) -> list[int]:
    """Language bit masks over cells from cell patterns (cell c lies in language i iff bit i of patterns[c])."""
    return [sum(1 << c for c, q in enumerate(patterns) if q >> i & 1) for i in range(languages)]


def _draw(rng: random.Random, first: list[int], cells: int, bits: list[int], density: float) -> list[int]:
    """``first`` then distinct nonzero random patterns over ``bits`` (each bit set with probability density)."""
    out, seen = list(first), set(first)
    for _ in range(10_000 * cells):
        if len(out) == cells:
            return out
        q = sum(1 << b for b in bits if rng.random() < density)
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    raise ConfigError(f"could not draw {cells} distinct cells over {len(bits)} languages at density {density}")


def random_class(kind: str, seed: int, languages: int = 12, cells: int = 20, density: float = 0.7) -> HypothesisClass:
    """A class of ``languages`` languages over ``cells`` membership cells, every language infinite.

    ``bottom``: language ``bottom`` is the one cell lying in all languages (the left ray).  ``near1`` /
    ``near2``: ``bottom`` is that cell plus one cell lying in every language except ``miss1`` (and ``miss2``),
    so it is inside all but one (two) of the others.  ``random``: no planted structure; the left ray lies in
    all languages (so each is infinite) and the other cells are random.  Each other cell lies in each
    non-bottom language with probability ``density``; the languages are pairwise distinct.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown class kind {kind!r}; choose from {', '.join(KINDS)}")
    missing = int(kind[4:]) if kind.startswith("near") else 0
    if languages < 2 + missing or cells < 2 + bool(missing):
        raise ConfigError(f"a {kind} class needs at least {2 + missing} languages and {2 + bool(missing)} cells")
    if not 0 < density < 1:
        raise ConfigError(f"density must lie strictly between 0 and 1, got {density}")
    full = (1 << languages) - 1
    if kind == "random":
        first, bits = [full], list(range(languages))
        names = [f"L{i}" for i in range(languages)]
    else:
        # Language 0 is the bottom member; languages 1..missing miss its second cell.
        first = [full] + ([full & ~sum(1 << j for j in range(1, missing + 1))] if missing else [])
        bits = list(range(1, languages))
        names = ["bottom"] + [f"miss{j}" for j in range(1, missing + 1)] + \
                [f"L{j}" for j in range(missing + 1, languages)]
    if cells - len(first) > (1 << len(bits)) - 1 - len(first):
        raise ConfigError(f"{cells} cells do not fit {languages} languages as distinct membership patterns")
    rng = random.Random(f"{kind}/{seed}/{languages}/{cells}/{density}")
    for _ in range(1000):
        masks = _masks(_draw(rng, first, cells, bits, density), languages)
        if len(set(masks)) == languages:
            # Cell 0 (in every language) is the left ray, the last cell the right ray, the rest points.
            return from_masks(masks, [True] + [False] * (cells - 2) + [True], names)
    raise ConfigError(f"could not draw {languages} distinct languages over {cells} cells")
