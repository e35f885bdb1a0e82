"""Exhaustive search for the smallest classes that are not properly generatable in the limit with replay.

A class of k languages over the integers, cut into cells, is the same as a table with one *signature* per cell:
the k-bit set of languages containing that cell.  The integers always give two infinite rays (left, right) and
some points.  Three reductions keep the search exact but small:

* The replay game only sees which cells are infinite, not where points sit (``solver.py``), so permuting the
  points changes nothing; the integers' mirror symmetry swaps the two rays.  Renaming the languages permutes the
  signature bits.  Classes are enumerated once per orbit of these symmetries (canonical = smallest code).
* Two points with the same signature can be merged, and a point in no language dropped, without changing the
  winner (``proofs_check/replay_abstraction.py``, part 3), so the points of a class carry *distinct nonzero*
  signatures.  A universe of at most c cells therefore means two rays and at most c - 2 distinct point signatures.
* Languages are distinct and, as in the base game of Kleinberg and Mullainathan, infinite (each contains a ray);
  ``allow_finite=True`` lifts the last restriction.

The count of classes "decided" is the number of such orbits.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from math import comb

import numpy as np

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, from_masks
from collapsim.replay.solver import decide

MAX_SEARCH_SIZE = 5  # 2^5 signature bits + 10 ray bits still fit an int64 code
MAX_RAW_TABLES = 5_000_000  # memory bound of the vectorised canonicalisation (a few int64 arrays of this size)


@dataclass(frozen=True)
class Shape:
    """One class in signature form: ray signatures (left <= right) and sorted distinct point signatures."""

    k: int
    left: int
    right: int
    points: tuple[int, ...]

    @property
    def n_cells(self) -> int:
        return 2 + len(self.points)

    def masks(self) -> tuple[int, ...]:
        """Language bit masks over the cells [left ray, points..., right ray]."""
        cols = (self.left,) + self.points + (self.right,)
        return tuple(sum(1 << c for c, s in enumerate(cols) if s >> i & 1) for i in range(self.k))

    def to_class(self) -> HypothesisClass:
        return from_masks(list(self.masks()), [True] + [False] * len(self.points) + [True])


def canonical_shapes(k: int, max_points: int, allow_finite: bool = False) -> list[Shape]:
    """One representative per symmetry orbit of valid k-language classes with at most ``max_points`` points."""
    if not 1 <= k <= MAX_SEARCH_SIZE:
        raise ConfigError(f"search size must be between 1 and {MAX_SEARCH_SIZE}, got {k}")
    if max_points < 0:
        raise ConfigError("the universe needs at least the two rays (max-cells >= 2)")
    raw = orbit_upper_bound(k, max_points)
    if raw > MAX_RAW_TABLES:
        raise ConfigError(f"{k} languages with up to {max_points + 2} cells means {raw} signature tables; "
                          f"at most {MAX_RAW_TABLES} are supported")
    nsig = 1 << k
    point_sets = [sum(1 << s for s in c) for r in range(min(max_points, nsig - 1) + 1)
                  for c in itertools.combinations(range(1, nsig), r)]
    pm = np.array(point_sets, dtype=np.int64)
    rays = [(a, b) for a in range(nsig) for b in range(a, nsig)]
    ra = np.array([a for a, _ in rays], dtype=np.int64)
    rb = np.array([b for _, b in rays], dtype=np.int64)

    def code(r_a, r_b, m):
        lo, hi = np.minimum(r_a, r_b), np.maximum(r_a, r_b)
        return ((lo * nsig + hi) << nsig)[:, None] | m[None, :]

    own = code(ra, rb, pm)
    best = own.copy()
    for perm in itertools.permutations(range(k)):
        if perm == tuple(range(k)):
            continue
        table = np.array([sum(1 << perm[i] for i in range(k) if s >> i & 1) for s in range(nsig)], dtype=np.int64)
        pm2 = np.zeros_like(pm)
        for s in range(nsig):
            pm2 |= ((pm >> s) & 1) << table[s]
        np.minimum(best, code(table[ra], table[rb], pm2), out=best)
    ri, pi = np.nonzero(own == best)
    shapes = []
    for r, p in zip(ri.tolist(), pi.tolist()):
        a, b = rays[r]
        pts = tuple(s for s in range(1, nsig) if point_sets[p] >> s & 1)
        sh = Shape(k, a, b, pts)
        masks = sh.masks()
        if len(set(masks)) < k or 0 in masks:
            continue
        if not allow_finite and any(not (m & 1 or m >> (sh.n_cells - 1) & 1) for m in masks):
            continue
        shapes.append(sh)
    return shapes


def _decide_shape(sh: Shape) -> bool:
    return decide(sh.masks(), sh.n_cells, True)


@dataclass
class SizeReport:
    k: int
    decided: int = 0
    failing: list = field(default_factory=list)

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


def run_search(max_size: int, max_cells: int, allow_finite: bool = False, workers: int = 1, progress=None) -> SearchReport:
    """Decide every class of 1..max_size languages over at most max_cells cells.

    ``progress(n_done_increment)`` is called as classes are decided; ``progress.total`` hints at the workload.
    """
    t0 = time.perf_counter()
    if max_cells < 2:
        raise ConfigError("max-cells must be at least 2 (the integers always have two rays)")
    sizes = []
    all_shapes = [(k, canonical_shapes(k, max_cells - 2, allow_finite)) for k in range(1, max_size + 1)]
    if progress is not None and hasattr(progress, "set_total"):
        progress.set_total(sum(len(s) for _, s in all_shapes))
    pool = None
    if workers > 1:
        import multiprocessing as mp

        pool = mp.get_context("fork").Pool(workers)
    try:
        for k, shapes in all_shapes:
            rep = SizeReport(k)
            results = pool.imap(_decide_shape, shapes, chunksize=64) if pool else map(_decide_shape, shapes)
            for sh, ok in zip(shapes, results):
                rep.decided += 1
                if not ok:
                    rep.failing.append(sh)
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


def orbit_upper_bound(k: int, max_points: int) -> int:
    """Raw (unreduced) number of signature tables, for messages."""
    nsig = 1 << k
    return nsig * (nsig + 1) // 2 * sum(comb(nsig - 1, r) for r in range(min(max_points, nsig - 1) + 1))


def shape_of(hc: HypothesisClass) -> Shape:
    """The canonical signature form of an integer class (duplicate and empty points merged, as in the search)."""
    if hc.universe != "integers" or not (hc.cells[0].infinite and hc.cells[-1].infinite):
        raise ConfigError("shape_of needs a class over the integers with two rays")
    k = len(hc.masks)
    sig = [sum(1 << i for i, m in enumerate(hc.masks) if m >> c & 1) for c in range(hc.n_cells)]
    best = None
    for perm in itertools.permutations(range(k)):
        mp = [sum(1 << perm[i] for i in range(k) if s >> i & 1) for s in sig]
        a, b = sorted((mp[0], mp[-1]))
        sh = Shape(k, a, b, tuple(sorted({s for s in mp[1:-1] if s})))
        key = ((a * (1 << k) + b) << (1 << k)) | sum(1 << s for s in sh.points)
        if best is None or key < best[0]:
            best = (key, sh)
    return best[1]
