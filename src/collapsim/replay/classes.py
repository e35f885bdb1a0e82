"""Finite hypothesis classes written as JSON, and their partition of the universe into cells.

Format (REFERENCES section 5)::

    {"universe": "integers",
     "languages": {"h1-": [[null, 0], [1, 1]], "h1+": [[0, null], [-1, -1]], ...}}

Over the integers each language is a union of closed intervals ``[lo, hi]``; ``null`` is an infinite end and a
bare integer ``5`` is short for ``[5, 5]``.  A finite universe lists its elements, and its languages list
elements::

    {"universe": [1, 2, 3, "a"], "languages": {"A": [1, 2], "B": [2, 3, "a"]}}

The universe is cut into *cells*: single points and the (at most two) infinite rays beyond the last finite
endpoint, so that every language is a finite union of cells.  Elements of one cell lie in exactly the same
languages, which is what makes the cell abstraction of the replay game exact (see ``solver.py``).

Languages are stored as bit masks over the cells (bit ``i`` = cell ``i``), so set algebra is integer algebra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

from collapsim.errors import ConfigError

# Enough for every class in the exhaustive search and any hand-written example; a bigger span would make the
# point cells (one per integer) explode, and the solver is exponential in the number of cells anyway.
MAX_POINT_CELLS = 64


@dataclass(frozen=True)
class Cell:
    """One cell: a point ``lo == hi``, or an infinite ray (``lo is None`` or ``hi is None``).

    For a finite universe ``label`` is the listed element and ``lo``/``hi`` are unused.
    """

    lo: int | None
    hi: int | None
    label: object = None

    @property
    def infinite(self) -> bool:
        return self.label is None and (self.lo is None or self.hi is None)

    def __str__(self) -> str:
        if self.label is not None:
            return str(self.label)
        if self.lo is None and self.hi is None:
            return "Z"
        if self.lo is None:
            return f"<={self.hi}"
        if self.hi is None:
            return f">={self.lo}"
        return str(self.lo)

    def contains(self, z) -> bool:
        if self.label is not None:
            return z == self.label
        if isinstance(z, bool) or not isinstance(z, int):
            return False
        return (self.lo is None or z >= self.lo) and (self.hi is None or z <= self.hi)


@dataclass(frozen=True)
class HypothesisClass:
    """A finite class: names, cells, one bit mask per language, and the mask of infinite cells."""

    names: tuple[str, ...]
    cells: tuple[Cell, ...]
    masks: tuple[int, ...]
    universe: str | tuple  # "integers" or the tuple of listed elements

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def infinite_mask(self) -> int:
        return sum(1 << i for i, c in enumerate(self.cells) if c.infinite)

    def cell_of(self, z) -> int:
        """Index of the cell holding element ``z`` (ConfigError if ``z`` is outside the universe)."""
        for i, c in enumerate(self.cells):
            if c.contains(z):
                return i
        raise ConfigError(f"element {z!r} is not in the universe")

    def contains(self, lang: int, z) -> bool:
        """Membership of element ``z`` in language number ``lang``."""
        try:
            return bool(self.masks[lang] >> self.cell_of(z) & 1)
        except ConfigError:
            return False

    def finite_languages(self) -> list[str]:
        inf = self.infinite_mask
        return [n for n, m in zip(self.names, self.masks) if not m & inf]

    def require_infinite(self, why: str) -> None:
        """Element-output generation (Kleinberg-Mullainathan) is stated for infinite languages only."""
        bad = self.finite_languages()
        if bad:
            raise ConfigError(f"language {bad[0]!r} is finite, but {why} needs infinite languages")

    def describe(self, mask: int) -> str:
        """A cell set as ``{<=-3, -2, 0}``."""
        return "{" + ", ".join(str(self.cells[i]) for i in iter_bits(mask)) + "}"

    def to_json(self) -> dict:
        """Back to the JSON format (intervals merged), so generated classes can be saved and re-read."""
        if self.universe != "integers":
            return {"universe": list(self.universe),
                    "languages": {n: [self.cells[i].label for i in iter_bits(m)] for n, m in zip(self.names, self.masks)}}
        langs = {}
        for n, m in zip(self.names, self.masks):
            runs: list[list] = []
            for i in iter_bits(m):
                c = self.cells[i]
                if runs and runs[-1][1] is not None and c.lo is not None and c.lo == runs[-1][1] + 1:
                    runs[-1][1] = c.hi
                else:
                    runs.append([c.lo, c.hi])
            langs[n] = runs
        return {"universe": "integers", "languages": langs}


def iter_bits(mask: int) -> Iterator[int]:
    i = 0
    while mask:
        if mask & 1:
            yield i
        mask >>= 1
        i += 1


def _reject_duplicate_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ConfigError(f"language name {k!r} appears twice")
        seen[k] = v
    return seen


def loads_class(text: str, source: str = "class") -> HypothesisClass:
    """Parse JSON text into a class (duplicate names and malformed JSON are ConfigErrors)."""
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return parse_class(obj, source)


def load_class(path: str) -> HypothesisClass:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read class file {path}: {e.strerror}") from None
    return loads_class(text, path)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _intervals(name: str, spec) -> list[tuple[int | None, int | None]]:
    if not isinstance(spec, list):
        raise ConfigError(f"language {name!r}: expected a list of intervals [lo, hi]")
    out = []
    for iv in spec:
        if _is_int(iv):
            iv = [iv, iv]
        if not (isinstance(iv, list) and len(iv) == 2 and all(v is None or _is_int(v) for v in iv)):
            raise ConfigError(f"language {name!r}: {iv!r} is not an interval [lo, hi] of integers or null")
        lo, hi = iv
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"language {name!r}: interval [{lo}, {hi}] is empty")
        out.append((lo, hi))
    if not out:
        raise ConfigError(f"language {name!r} is empty")
    return out


def integer_cells(all_intervals: list[tuple[int | None, int | None]]) -> tuple[Cell, ...]:
    """Cut the integers into points between the extreme finite endpoints and two rays beyond them."""
    ends = [v for iv in all_intervals for v in iv if v is not None]
    if not ends:
        return (Cell(None, None),)
    a, b = min(ends), max(ends)
    if b - a + 1 > MAX_POINT_CELLS:
        raise ConfigError(f"finite endpoints span {b - a + 1} integers; at most {MAX_POINT_CELLS} point cells are supported")
    return (Cell(None, a - 1),) + tuple(Cell(z, z) for z in range(a, b + 1)) + (Cell(b + 1, None),)


def _interval_mask(cells: tuple[Cell, ...], lo, hi) -> int:
    m = 0
    for i, c in enumerate(cells):
        # A cell lies inside [lo, hi] iff both of its ends do (cells never straddle an endpoint by construction).
        inside_lo = lo is None or (c.lo is not None and c.lo >= lo)
        inside_hi = hi is None or (c.hi is not None and c.hi <= hi)
        if inside_lo and inside_hi:
            m |= 1 << i
    return m


def parse_class(obj, source: str = "class") -> HypothesisClass:
    """Validate a decoded JSON object and build the cell partition."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: expected an object with keys 'universe' and 'languages'")
    unknown = set(obj) - {"universe", "languages", "description"}
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    universe = obj.get("universe", "integers")
    langs = obj.get("languages")
    if not isinstance(langs, dict) or not langs:
        raise ConfigError(f"{source}: 'languages' must be a non-empty object of name -> language")
    for name in langs:
        if not name.strip():
            raise ConfigError(f"{source}: a language has an empty name")
    names = tuple(langs)
    if universe == "integers":
        ivs = {n: _intervals(n, spec) for n, spec in langs.items()}
        cells = integer_cells([iv for v in ivs.values() for iv in v])
        masks = []
        for n in names:
            m = 0
            for lo, hi in ivs[n]:
                m |= _interval_mask(cells, lo, hi)
            masks.append(m)
        return HypothesisClass(names, cells, tuple(masks), "integers")
    if not isinstance(universe, list) or not universe:
        raise ConfigError(f"{source}: 'universe' must be \"integers\" or a non-empty list of elements")
    elems = tuple(universe)
    if any(not isinstance(e, (int, str)) or isinstance(e, bool) for e in elems):
        raise ConfigError(f"{source}: universe elements must be integers or strings")
    if len(set(elems)) != len(elems):
        raise ConfigError(f"{source}: the universe lists an element twice")
    cells = tuple(Cell(None, None, label=e) for e in elems)
    index = {e: i for i, e in enumerate(elems)}
    masks = []
    for n in names:
        spec = langs[n]
        if not isinstance(spec, list) or not spec:
            raise ConfigError(f"language {n!r} is empty" if spec == [] else f"language {n!r}: expected a list of elements")
        m = 0
        for e in spec:
            if isinstance(e, (list, dict)) or e not in index:
                raise ConfigError(f"language {n!r}: {e!r} is not an element of the universe")
            m |= 1 << index[e]
        masks.append(m)
    return HypothesisClass(names, cells, tuple(masks), elems)


def from_masks(masks: list[int], cells_infinite: list[bool], names: list[str] | None = None) -> HypothesisClass:
    """A class over the integers from cell masks, cells laid out left ray, points 0..m-1, right ray.

    ``cells_infinite`` must be ``[True] + [False] * m + [True]`` (the shape every integer partition has).
    """
    m = len(cells_infinite) - 2
    if m < 0 or not cells_infinite[0] or not cells_infinite[-1] or any(cells_infinite[1:-1]):
        raise ConfigError("an integer class needs cells: left ray, points, right ray")
    cells = (Cell(None, -1),) + tuple(Cell(z, z) for z in range(m)) + (Cell(m, None),)
    names = names or [f"h{i + 1}" for i in range(len(masks))]
    return HypothesisClass(tuple(names), cells, tuple(masks), "integers")
