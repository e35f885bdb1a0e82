"""Finite hypothesis classes written as JSON, and their partition of the universe into cells by membership.

Format (REFERENCES section 5)::

    {"universe": "integers",
     "languages": {"h1-": [[null, 0], [1, 1]], "h1+": [[0, null], [-1, -1]], ...}}

Over the integers each language is a union of closed intervals ``[lo, hi]``; ``null`` is an infinite end and a
bare integer ``5`` is short for ``[5, 5]``.  A finite universe lists its elements, and its languages list
elements::

    {"universe": [1, 2, 3, "a"], "languages": {"A": [1, 2], "B": [2, 3, "a"]}}

Cells are the classes of elements that lie in exactly the same languages (their *membership pattern*).
Elements in no language are dropped (no target ever contains them and no output covers them, so a stream that
shows one is legal for no target).  A cell is a union of maximal integer runs, finite or infinite: the class
``{"a": [[10, null], [-4, -4]], "b": [[10, null], [2, 3]]}`` has the three cells ``{-4}``, ``2..3`` and
``>=10``, whatever the span of the integers involved.  The replay game of Racca, Valko, Sanyal (Theorem
6.3/7.3) only sees which cells an element lies in, so its cost grows with the number of languages and cells,
not with the integers; a finite cell keeps its size for the closure dimension (uniform generation counts
distinct elements), which is the only place sizes matter (``proofs_check/replay_abstraction.py``).

Languages are stored as bit masks over the cells (bit ``i`` = cell ``i``), so set algebra is integer algebra.
Cells are ordered by their smallest element (a cell holding the left ray first).
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

from collapsim.errors import ConfigError

# Input bounds: far beyond anything the solver can decide, small enough that a hostile or corrupt file is refused
# quickly with one line instead of eating the machine's memory.
MAX_FILE_BYTES = 8 << 20
MAX_LANGUAGES = 4096
MAX_INTERVALS = 100_000  # intervals (or listed elements) over all languages together
MAX_ELEMENTS = 100_000  # elements of a finite universe

JOIN = "∪"  # between the runs of one cell in its name: "<=-20∪>=10"


@dataclass(frozen=True)
class Cell:
    """One membership cell: the elements lying in exactly the same languages.

    Over the integers ``parts`` holds the cell's maximal runs ``(lo, hi)``, sorted and pairwise non-adjacent
    (``None`` is an infinite end).  Over a finite universe ``labels`` holds the listed elements of the cell.
    """

    parts: tuple = ()
    labels: tuple = ()

    @property
    def infinite(self) -> bool:
        return not self.labels and any(lo is None or hi is None for lo, hi in self.parts)

    @property
    def size(self) -> int | None:
        """Number of elements (None for an infinite cell): what a finite intersection counts (closure.py)."""
        if self.labels:
            return len(self.labels)
        if self.infinite:
            return None
        return sum(hi - lo + 1 for lo, hi in self.parts)

    @property
    def lo(self):
        """Smallest element (None: unbounded below); the cell order uses it."""
        return self.labels[0] if self.labels else self.parts[0][0]

    def __str__(self) -> str:
        if self.labels:
            return JOIN.join(str(e) for e in self.labels)
        return JOIN.join(_run_name(lo, hi) for lo, hi in self.parts)

    def contains(self, z) -> bool:
        if self.labels:
            return z in self.labels
        if isinstance(z, bool) or not isinstance(z, int):
            return False
        return any((lo is None or z >= lo) and (hi is None or z <= hi) for lo, hi in self.parts)

    def elements(self) -> Iterator:
        """Every element once, runs interleaved and rays walked outwards (so any element comes up eventually)."""
        if self.labels:
            yield from self.labels
            return
        iters = [_run_elements(lo, hi) for lo, hi in self.parts]
        while iters:
            alive = []
            for it in iters:
                z = next(it, None)
                if z is not None:
                    yield z
                    alive.append(it)
            iters = alive


def _run_name(lo, hi) -> str:
    if lo is None and hi is None:
        return "Z"
    if lo is None:
        return f"<={hi}"
    if hi is None:
        return f">={lo}"
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _run_elements(lo, hi) -> Iterator[int]:
    if lo is None and hi is None:
        yield 0
        z = 1
        while True:
            yield z
            yield -z
            z += 1
    elif lo is None:
        z = hi
        while True:
            yield z
            z -= 1
    else:
        z = lo
        while hi is None or z <= hi:
            yield z
            z += 1


@dataclass(frozen=True)
class HypothesisClass:
    """A finite class: names, cells, one bit mask per language (over the cells), and the universe."""

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

    @cached_property
    def _lookup(self):
        # Integers: the runs of all cells sorted by start, for bisection; a finite universe: element -> cell.
        if self.universe != "integers":
            return {e: i for i, c in enumerate(self.cells) for e in c.labels}
        runs = sorted(((lo, hi, i) for i, c in enumerate(self.cells) for lo, hi in c.parts),
                      key=lambda r: (r[0] is not None, r[0] if r[0] is not None else 0))
        starts = [float("-inf") if lo is None else lo for lo, _, _ in runs]
        return starts, runs

    def index_of(self, z) -> int | None:
        """Index of the cell holding element ``z``; None when ``z`` lies in no language (or not in the universe)."""
        if self.universe != "integers":
            try:
                return self._lookup.get(z)
            except TypeError:  # unhashable
                return None
        if isinstance(z, bool) or not isinstance(z, int):
            return None
        starts, runs = self._lookup
        j = bisect.bisect_right(starts, z) - 1
        if j < 0:
            return None
        _, hi, i = runs[j]
        return i if hi is None or z <= hi else None

    def cell_of(self, z) -> int:
        """Index of the cell holding element ``z`` (ConfigError if ``z`` lies in no language of the class)."""
        i = self.index_of(z)
        if i is None:
            raise ConfigError(f"element {z!r} lies in no language of the class")
        return i

    def cell_mask(self, z) -> int:
        """``1 << cell`` for ``z``; an element in no language gets the bit just above every cell, which no language
        contains (so it is consistent with no language, exactly as the game treats it)."""
        i = self.index_of(z)
        return 1 << (self.n_cells if i is None else i)

    def contains(self, lang: int, z) -> bool:
        """Membership of element ``z`` in language number ``lang``."""
        i = self.index_of(z)
        return i is not None and bool(self.masks[lang] >> i & 1)

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
        """Back to the JSON format (runs merged), so generated classes can be saved and re-read."""
        if self.universe != "integers":
            return {"universe": list(self.universe),
                    "languages": {n: [e for i in iter_bits(m) for e in self.cells[i].labels]
                                  for n, m in zip(self.names, self.masks)}}
        langs = {}
        for n, m in zip(self.names, self.masks):
            parts = sorted((p for i in iter_bits(m) for p in self.cells[i].parts),
                           key=lambda r: (r[0] is not None, r[0] if r[0] is not None else 0))
            runs: list[list] = []
            for lo, hi in parts:
                if runs and runs[-1][1] is not None and lo is not None and lo == runs[-1][1] + 1:
                    runs[-1][1] = hi
                else:
                    runs.append([lo, hi])
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


def loads_json(text: str, source: str, what: str = "file"):
    """``json.loads`` whose every failure is a one-line ConfigError (bad syntax, nesting, oversized numbers)."""
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source}: not valid JSON ({e.msg} at line {e.lineno})") from None
    except RecursionError:
        raise ConfigError(f"{source}: JSON nested too deeply for a {what}") from None
    except ValueError as e:  # e.g. an integer literal with thousands of digits
        raise ConfigError(f"{source}: not a usable JSON {what} ({' '.join(str(e).split())[:120]})") from None


def read_text(path: str, what: str = "class file") -> str:
    """The UTF-8 text of a file, size-bounded; every failure is a one-line ConfigError."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: {what} larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: {what} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None


def loads_class(text: str, source: str = "class") -> HypothesisClass:
    """Parse JSON text into a class (duplicate names and malformed JSON are ConfigErrors)."""
    return parse_class(loads_json(text, source, "class"), source)


def load_class(path: str) -> HypothesisClass:
    return loads_class(read_text(path, "class file"), path)


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
            raise ConfigError(f"language {name!r}: {_short(iv)} is not an interval [lo, hi] of integers or null")
        lo, hi = iv
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"language {name!r}: interval [{lo}, {hi}] is empty")
        out.append((lo, hi))
    if not out:
        raise ConfigError(f"language {name!r} is empty")
    return out


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def membership_cells(ivs: list[list[tuple[int | None, int | None]]]) -> tuple[tuple[Cell, ...], tuple[int, ...]]:
    """Cells by membership for languages given as interval lists, and each language's mask over them.

    One sweep over the interval ends: between consecutive ends membership is constant, so the integers fall
    into O(#intervals) segments, each with a membership pattern (a bit set of languages).  Segments with the
    same nonzero pattern form one cell; adjacent segments of a cell merge into one run.  Cost: O(I log I) in
    the number I of intervals, independent of the integers' span.
    """
    events: dict = {}
    for li, lang in enumerate(ivs):
        for lo, hi in lang:
            # Coverage count per language: +1 where an interval starts, -1 just after it ends.
            if lo is not None:
                events.setdefault(lo, []).append((li, +1))
            if hi is not None:
                events.setdefault(hi + 1, []).append((li, -1))
    count = [0] * len(ivs)
    pattern = 0
    for li, lang in enumerate(ivs):
        for lo, _ in lang:
            if lo is None:
                count[li] += 1
                pattern |= 1 << li
    runs: dict[int, list[list]] = {}  # pattern -> runs [lo, hi]
    seg_lo = None
    for z in sorted(events):
        if pattern:
            _add_run(runs.setdefault(pattern, []), seg_lo, z - 1)
        for li, d in events[z]:
            count[li] += d
            pattern = pattern | 1 << li if count[li] else pattern & ~(1 << li)
        seg_lo = z
    if pattern:
        _add_run(runs.setdefault(pattern, []), seg_lo, None)
    ordered = sorted(runs.items(), key=lambda kv: (kv[1][0][0] is not None, kv[1][0][0] or 0))
    cells = tuple(Cell(tuple((lo, hi) for lo, hi in rs)) for _, rs in ordered)
    masks = tuple(sum(1 << c for c, (pat, _) in enumerate(ordered) if pat >> li & 1) for li in range(len(ivs)))
    return cells, masks


def _add_run(rs: list, lo, hi) -> None:
    if rs and rs[-1][1] is not None and lo is not None and rs[-1][1] + 1 == lo:
        rs[-1][1] = hi  # same pattern on both sides of an end that belongs to another language
    else:
        rs.append([lo, hi])


def parse_class(obj, source: str = "class") -> HypothesisClass:
    """Validate a decoded JSON object and build the membership cells."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: expected an object with keys 'universe' and 'languages'")
    unknown = set(obj) - {"universe", "languages", "description"}
    if unknown:
        raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    universe = obj.get("universe", "integers")
    langs = obj.get("languages")
    if not isinstance(langs, dict) or not langs:
        raise ConfigError(f"{source}: 'languages' must be a non-empty object of name -> language")
    if len(langs) > MAX_LANGUAGES:
        raise ConfigError(f"{source}: {len(langs)} languages; at most {MAX_LANGUAGES} are read")
    for name in langs:
        if not name.strip():
            raise ConfigError(f"{source}: a language has an empty name")
    total = sum(len(v) if isinstance(v, list) else 1 for v in langs.values())
    if total > MAX_INTERVALS:
        raise ConfigError(f"{source}: {total} intervals or elements in all; at most {MAX_INTERVALS} are read")
    names = tuple(langs)
    if universe == "integers":
        cells, masks = membership_cells([_intervals(n, langs[n]) for n in names])
        return HypothesisClass(names, cells, masks, "integers")
    if not isinstance(universe, list) or not universe:
        raise ConfigError(f"{source}: 'universe' must be \"integers\" or a non-empty list of elements")
    if len(universe) > MAX_ELEMENTS:
        raise ConfigError(f"{source}: the universe lists {len(universe)} elements; at most {MAX_ELEMENTS} are read")
    elems = tuple(universe)
    if any(not isinstance(e, (int, str)) or isinstance(e, bool) for e in elems):
        raise ConfigError(f"{source}: universe elements must be integers or strings")
    if len(set(elems)) != len(elems):
        raise ConfigError(f"{source}: the universe lists an element twice")
    index = {e: i for i, e in enumerate(elems)}
    pats = [0] * len(elems)
    for li, n in enumerate(names):
        spec = langs[n]
        if not isinstance(spec, list) or not spec:
            raise ConfigError(f"language {n!r} is empty" if spec == [] else f"language {n!r}: expected a list of elements")
        for e in spec:
            if isinstance(e, (list, dict)) or e not in index:
                raise ConfigError(f"language {n!r}: {_short(e)} is not an element of the universe")
            pats[index[e]] |= 1 << li
    groups: dict[int, list] = {}
    for e, p in zip(elems, pats):
        if p:  # an element in no language is dropped
            groups.setdefault(p, []).append(e)
    ordered = list(groups.items())  # first-listed element order
    cells = tuple(Cell(labels=tuple(es)) for _, es in ordered)
    masks = tuple(sum(1 << c for c, (p, _) in enumerate(ordered) if p >> li & 1) for li in range(len(names)))
    return HypothesisClass(names, cells, masks, elems)


def from_masks(masks: list[int], cells_infinite: list[bool], names: list[str] | None = None) -> HypothesisClass:
    """A class over the integers from cell masks, cells laid out left ray, points 0..m-1, right ray.

    ``cells_infinite`` must be ``[True] + [False] * m + [True]``.  The cells are kept as given, *not* merged by
    membership: the solver and checker work on any partition into cells whose elements share their
    languages, and the tests use this to compare a split partition with the merged one.
    """
    m = len(cells_infinite) - 2
    if m < 0 or not cells_infinite[0] or not cells_infinite[-1] or any(cells_infinite[1:-1]):
        raise ConfigError("an integer class needs cells: left ray, points, right ray")
    cells = (Cell(((None, -1),)),) + tuple(Cell(((z, z),)) for z in range(m)) + (Cell(((m, None),)),)
    names = names or [f"h{i + 1}" for i in range(len(masks))]
    return HypothesisClass(tuple(names), cells, tuple(masks), "integers")
