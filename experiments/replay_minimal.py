"""Smallest classes that are not properly generatable in the limit with replay (REFERENCES section 5).

Decides every class of 1..5 infinite languages over the integers with at most 8 membership cells (elements
grouped by the languages containing them; up to renaming the languages), prints the counts per number of
languages and of cells, the smallest failing classes with their adversary certificates (each accepted by the
independent checker), and answers: does any class of three languages fail, is the four-language class of
Theorem 6.3/7.3 (Racca, Valko, Sanyal) minimal, and which failing classes are minimal under inclusion?

Run from the repository root:  python3 experiments/replay_minimal.py [--max-size 5] [--max-cells 8]
(``--max-size 4 --max-cells 15`` covers every class of at most four languages in about a second.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from collapsim.replay.checker import check  # noqa: E402
from collapsim.replay.classes import HypothesisClass  # noqa: E402
from collapsim.commands.replay import search_lines  # noqa: E402
from collapsim.replay.games import four_language_class  # noqa: E402
from collapsim.replay.search import inclusion_minimal, run_search, shape_of  # noqa: E402
from collapsim.replay.solver import solve  # noqa: E402


def subclasses_all_succeed(hc: HypothesisClass) -> bool:
    """Minimal under inclusion: every class obtained by dropping one language is generatable."""
    for keep in itertools.combinations(range(len(hc.masks)), len(hc.masks) - 1):
        sub = HypothesisClass(tuple(hc.names[i] for i in keep), hc.cells, tuple(hc.masks[i] for i in keep), hc.universe)
        if not solve(sub).generatable:
            return False
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-size", type=int, default=5)
    ap.add_argument("--max-cells", type=int, default=8)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)

    report = run_search(args.max_size, args.max_cells, workers=args.workers)
    for line in search_lines(report):
        print(line)

    # Every failing class's certificate is re-checked by the independent checker.
    failing = [sh for r in report.sizes for sh in r.failing]
    bad = []
    for sh in failing:
        hc = sh.to_class()
        sol = solve(hc)
        if sol.generatable or not check(hc, sol.player, sol.strategy).ok:
            bad.append(sh)
    print(f"adversary certificates of all {len(failing)} failing classes re-checked: "
          f"{'all accepted' if not bad else f'{len(bad)} REJECTED'}")

    three = next((r for r in report.sizes if r.k == 3), None)
    if three is not None:
        print(f"does any class of three languages fail? {'yes' if three.failing else 'no'} "
              f"({len(three.failing)} of {three.decided})")
    smallest = report.smallest_failing()
    fl = four_language_class()
    fl_shape = shape_of(fl)
    four = next((r for r in report.sizes if r.k == 4), None)
    if four is not None:
        found = fl_shape in four.failing
        print(f"the four-language class of Theorem 6.3/7.3 is among the failing 4-language classes: {found}")
    min_size = smallest[0].k if smallest else None
    print(f"is the four-language class minimal? in size: {'no' if min_size and min_size < 4 else 'yes'} "
          f"(smallest failing classes have {min_size} languages and {smallest[0].n_cells if smallest else '-'} cells); "
          f"under inclusion: {'yes' if subclasses_all_succeed(fl) else 'no'} (every 3-language subclass of it is "
          f"properly generatable with replay)")
    if four is not None:
        mins = inclusion_minimal(report, 4)
        print(f"failing 4-language classes whose 3-language subclasses all succeed: {len(mins)} of "
              f"{len(four.failing)}; the four-language class is one of them: {fl_shape in mins}")
        for sh in mins:
            print("  " + json.dumps(sh.to_class().to_json()["languages"]))
    five = next((r for r in report.sizes if r.k == 5), None)
    if five is not None:
        mins = inclusion_minimal(report, 5)
        print(f"failing 5-language classes whose 4-language subclasses all succeed: {len(mins)} of "
              f"{len(five.failing)} (fewest cells among them: {min((s.n_cells for s in mins), default='-')})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
