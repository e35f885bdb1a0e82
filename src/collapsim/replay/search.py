"""Exhaustive search for the smallest classes that are not properly generatable in the limit with replay.

What the replay game sees of a class (Racca, Valko, Sanyal, Theorem 6.3/7.3; ``solver.py``) is its *membership
cells*: the nonempty sets of elements lying in exactly the same languages.  A class of k languages is therefore
a set P of distinct nonzero k-bit *signatures* (one per cell; bit i set iff language i contains the cell), and
language i is the set of cells whose signature has bit i.  Where a cell lies, how big it is and whether it is
infinite never change the winner (``proofs_check/replay_abstraction.py``), so the search enumerates sets P:

* renaming the languages permutes the signature bits; P is enumerated once per orbit (canonical = the smallest
  bit mask over signatures among all k! renamings).  This subsumes the old point-order and mirror symmetries,
  which the membership cells no longer see at all;
* languages are nonempty and distinct (no two languages have the same cells);
* as in the base game of Kleinberg and Mullainathan the languages are infinite: over the integers at most two
  cells hold a ray, so some two signatures a, b of P (a = b allowed) must cover every language (a | b has all
  k bits); ``allow_finite=True`` lifts this.

The size of a class is its number of languages k and its number of cells |P|.  Up to 4 languages every class is
within 15 cells, so ``max_cells=15`` covers *all* classes of 4 languages; 5 languages have 31 possible cells and
the cell bound keeps the enumeration finite in practice.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from math import comb

import numpy as np

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, parse_class
from collapsim.replay.solver import decide

MAX_SEARCH_SIZE = 5  # 2^5 - 1 = 31 signatures: a set of them fits an int64 bit mask
MAX_RAW_SETS = 40_000_000  # signature sets enumerated before symmetry reduction (int64 arrays of this length)


@dataclass(frozen=True)
class Shape:
    """One class as its sorted tuple of distinct nonzero cell signatures (k-bit language sets)."""

    k: int
    cells: tuple[int, ...]

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def masks(self) -> tuple[int, ...]:
        """Language bit masks over the cells, cell c = ``cells[c]``."""
        return tuple(sum(1 << c for c, s in enumerate(self.cells) if s >> i & 1) for i in range(self.k))

    def rays(self) -> tuple[int, int] | None:
        """Two signatures (equal when one cell holds both rays) that cover every language, if any."""
        full = (1 << self.k) - 1
        pairs = [(a, b) for a, b in itertools.combinations_with_replacement(self.cells, 2) if a | b == full]
        return min(pairs, key=lambda p: (p[0] != p[1], p)) if pairs else None

    def to_json(self) -> dict:
        """An integer realisation: the ray cells hold the rays, every other cell one point 0, 1, 2, ..."""
        rays = self.rays()
        runs: dict[int, list] = {s: [] for s in self.cells}
        z = 0
        for s in self.cells:
            if rays is None or s not in rays:
                runs[s].append([z, z])
                z += 1
        if rays is not None:
            runs[rays[0]].insert(0, [None, -1])
            runs[rays[1]].append([z, None])
        langs = {}
        for i in range(self.k):
            langs[f"h{i + 1}"] = sorted((iv for s in self.cells if s >> i & 1 for iv in runs[s]),
                                        key=lambda iv: (iv[0] is not None, iv[0] or 0))
        return {"universe": "integers", "languages": langs}

    def to_class(self) -> HypothesisClass:
        return parse_class(self.to_json(), "search")


def _all_subsets(n: int, max_size: int) -> np.ndarray:
    """Every subset of {0..n-1} with at most ``max_size`` elements, as int64 bit masks (vectorised by size)."""
    levels = [np.zeros(1, dtype=np.int64)]
    for _ in range(min(max_size, n)):
        prev = levels[-1]
        # Extend each set by one element above its largest, so each set is built exactly once.
        parts = [prev[prev < (1 << b)] | (1 << b) for b in range(n)]
        levels.append(np.sort(np.concatenate(parts)))
    return np.concatenate(levels)


def raw_count(k: int, max_cells: int) -> int:
    """Signature sets before any reduction, for messages and the memory bound."""
    nsig = (1 << k) - 1
    return sum(comb(nsig, r) for r in range(min(max_cells, nsig) + 1))


def canonical_shapes(k: int, max_cells: int, allow_finite: bool = False) -> list[Shape]:
    """One representative per renaming orbit of valid k-language classes with at most ``max_cells`` cells."""
    if not 1 <= k <= MAX_SEARCH_SIZE:
        raise ConfigError(f"search size must be between 1 and {MAX_SEARCH_SIZE}, got {k}")
    if max_cells < 1:
        raise ConfigError("max-cells must be at least 1")
    raw = raw_count(k, max_cells)
    if raw > MAX_RAW_SETS:
        raise ConfigError(f"{k} languages with up to {max_cells} cells means {raw} signature sets; "
                          f"at most {MAX_RAW_SETS} are supported")
    nsig = 1 << k
    full = nsig - 1
    # Bit (s - 1) of a set stands for signature s (signature 0, a cell in no language, is never a cell).
    P = _all_subsets(nsig - 1, max_cells)
    lang = [sum(1 << (s - 1) for s in range(1, nsig) if s >> i & 1) for i in range(k)]
    keep = np.ones(len(P), dtype=bool)
    for i in range(k):
        keep &= (P & lang[i]) != 0  # language i is nonempty
    for i, j in itertools.combinations(range(k), 2):
        keep &= (P & (lang[i] ^ lang[j])) != 0  # languages i and j differ on some cell
    P = P[keep]
    if not allow_finite:
        ok = np.zeros(len(P), dtype=bool)
        for a in range(1, nsig):
            for b in range(a, nsig):
                if a | b == full:
                    pm = (1 << (a - 1)) | (1 << (b - 1))
                    ok |= (P & pm) == pm
        P = P[ok]
    # Renamings act on signatures; a set is canonical iff no renaming maps it to a smaller mask.  Filtering
    # after each renaming shrinks the candidates fast, so later renamings cost little.
    chunks = (nsig - 2) // 8 + 1
    for perm in itertools.permutations(range(k)):
        if perm == tuple(range(k)) or not len(P):
            continue
        image = [sum(1 << perm[i] for i in range(k) if s >> i & 1) for s in range(nsig)]
        tables = []
        for c in range(chunks):
            t = np.zeros(256, dtype=np.int64)
            for v in range(256):
                m = 0
                for bit in range(8):
                    s = 8 * c + bit + 1
                    if v >> bit & 1 and s < nsig:
                        m |= 1 << (image[s] - 1)
                t[v] = m
            tables.append(t)
        mapped = np.zeros_like(P)
        for c, t in enumerate(tables):
            mapped |= t[(P >> (8 * c)) & 255]
        P = P[P <= mapped]
    shapes = []
    for m in P.tolist():
        sigs = tuple(s for s in range(1, nsig) if m >> (s - 1) & 1)
        shapes.append(Shape(k, sigs))
    shapes.sort(key=lambda sh: (sh.n_cells, sh.cells))
    return shapes


def _decide_shape(sh: Shape) -> bool:
    return decide(sh.masks(), sh.n_cells, True)


@dataclass
class SizeReport:
    k: int
    decided: int = 0
    failing: list = field(default_factory=list)
    by_cells: dict = field(default_factory=dict)  # cells -> [decided, failing]

    @property
    def succeeding(self) -> int:
        return self.decided - len(self.failing)


@dataclass
class SearchReport:
    max_size: int
    max_cells: int
    sizes: list
    seconds: float
    allow_finite: bool = False

    def smallest_failing(self) -> list[Shape]:
        """Failing classes of the fewest languages, and among them the fewest cells."""
        for rep in self.sizes:
            if rep.failing:
                m = min(s.n_cells for s in rep.failing)
                return [s for s in rep.failing if s.n_cells == m]
        return []

    def fewest_cells_failing(self) -> list[Shape]:
        """Failing classes of the fewest cells, and among them the fewest languages."""
        failing = [s for rep in self.sizes for s in rep.failing]
        if not failing:
            return []
        best = min((s.n_cells, s.k) for s in failing)
        return [s for s in failing if (s.n_cells, s.k) == best]


def run_search(max_size: int, max_cells: int, allow_finite: bool = False, workers: int = 1, progress=None) -> SearchReport:
    """Decide every class of 1..max_size languages over at most max_cells (membership) cells.

    ``progress(n_done_increment)`` is called as classes are decided; ``progress.set_total`` gets the workload.
    """
    t0 = time.perf_counter()
    if max_cells < 1:
        raise ConfigError("max-cells must be at least 1")
    sizes = []
    all_shapes = [(k, canonical_shapes(k, max_cells, allow_finite)) for k in range(1, max_size + 1)]
    if progress is not None and hasattr(progress, "set_total"):
        progress.set_total(sum(len(s) for _, s in all_shapes))
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers)
    try:
        for k, shapes in all_shapes:
            rep = SizeReport(k)
            results = pool.imap(_decide_shape, shapes, chunksize=256) if pool else map(_decide_shape, shapes)
            for sh, ok in zip(shapes, results):
                rep.decided += 1
                row = rep.by_cells.setdefault(sh.n_cells, [0, 0])
                row[0] += 1
                if not ok:
                    rep.failing.append(sh)
                    row[1] += 1
                if progress is not None:
                    progress(1)
            sizes.append(rep)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return SearchReport(max_size, max_cells, sizes, time.perf_counter() - t0, allow_finite)


def inclusion_minimal(report: SearchReport, k: int) -> list[Shape]:
    """Failing classes of k languages all of whose (k-1)-language subclasses are generatable."""
    rep = next((r for r in report.sizes if r.k == k), None)
    out = []
    for sh in rep.failing if rep else []:
        m = sh.masks()
        if all(decide(tuple(m[i] for i in keep), sh.n_cells) for keep in itertools.combinations(range(k), k - 1)):
            out.append(sh)
    return out


def shape_of(hc: HypothesisClass) -> Shape:
    """The canonical signature form of any class (cells with equal membership merged, as in the search)."""
    k = len(hc.masks)
    if not 1 <= k <= MAX_SEARCH_SIZE:
        raise ConfigError(f"shape_of handles 1..{MAX_SEARCH_SIZE} languages, got {k}")
    sig = {sum(1 << i for i, m in enumerate(hc.masks) if m >> c & 1) for c in range(hc.n_cells)} - {0}
    best = None
    for perm in itertools.permutations(range(k)):
        mp = {sum(1 << perm[i] for i in range(k) if s >> i & 1) for s in sig}
        key = sum(1 << (s - 1) for s in mp)
        if best is None or key < best[0]:
            best = (key, Shape(k, tuple(sorted(mp))))
    return best[1]
