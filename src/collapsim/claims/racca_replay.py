"""Racca, Valko, Sanyal: the four-language class of Theorem 6.3/7.3 is not properly generatable in the limit
with replay. Decided by collapsim's solver, its certificate replayed by the independent checker; a search of
all small classes finds the smallest failing one, re-checks every failing class's certificate, and asks whether
the four-language class is minimal (in size, and under inclusion). ``experiments/replay_minimal.py`` is a thin
call of this claim."""

from __future__ import annotations

from collapsim.claims.base import NOT_COMPARABLE, REFUTED, REPRODUCED, Claim, Result

SEARCH = {False: (5, 8), True: (3, 4)}  # (most languages, most cells) of the exhaustive search


def minimal_under_inclusion(hc) -> bool:
    """Every class obtained by dropping one language of ``hc`` is properly generatable with replay."""
    import itertools

    from collapsim.replay.classes import HypothesisClass
    from collapsim.replay.solver import solve

    for keep in itertools.combinations(range(len(hc.masks)), len(hc.masks) - 1):
        sub = HypothesisClass(tuple(hc.names[i] for i in keep), hc.cells, tuple(hc.masks[i] for i in keep), hc.universe)
        if not solve(sub).generatable:
            return False
    return True


def recheck(report) -> int:
    """How many failing classes of the search have a certificate the independent checker rejects (0 expected)."""
    from collapsim.replay.checker import check
    from collapsim.replay.solver import solve

    bad = 0
    for shape in (sh for r in report.sizes for sh in r.failing):
        hc = shape.to_class()
        sol = solve(hc)
        bad += sol.generatable or not check(hc, sol.player, sol.strategy).ok
    return bad


def verdict(theirs_generatable: bool, ours_generatable: bool, certificate_ok: bool) -> tuple[str, str]:
    """Their statement (generatable or not, with replay) against the solver's, which counts only when the
    independent checker accepts its certificate."""
    if not certificate_ok:
        return NOT_COMPARABLE, "the solver's certificate was rejected by the checker: no verified answer"
    word = lambda g: "properly generatable" if g else "not properly generatable"  # noqa: E731
    if theirs_generatable == ours_generatable:
        return REPRODUCED, f"{word(ours_generatable)} with replay, certificate accepted by the independent checker"
    return REFUTED, f"they state {word(theirs_generatable)}; the verified certificate shows {word(ours_generatable)}"


def run(quick: bool, tick=lambda: None) -> Result:
    from collapsim.replay.checker import check
    from collapsim.replay.games import four_language_class
    from collapsim.replay.search import inclusion_minimal, run_search, shape_of
    from collapsim.replay.solver import solve

    hc = four_language_class()
    sol = solve(hc, replay=True)
    ok = check(hc, sol.player, sol.strategy, replay=True).ok
    without = solve(hc, replay=False)
    tick()
    size, cells = SEARCH[quick]
    report = run_search(size, cells, workers=2)
    smallest = report.smallest_failing()
    rejected = recheck(report)
    per_size = {r.k: {"decided": r.decided, "failing": len(r.failing)} for r in report.sizes}
    minimal = {k: len(inclusion_minimal(report, k)) for k in per_size if k >= 3}
    four_minimal = minimal_under_inclusion(hc) and (size < 4 or shape_of(hc) in inclusion_minimal(report, 4))
    tick()
    v, reason = verdict(False, sol.generatable, ok and rejected == 0)
    reason += (f"; without replay it is {'generatable' if without.generatable else 'not generatable'}; smallest failing "
               f"class among <= {size} languages on <= {cells} cells: "
               + (f"{smallest[0].k} languages, {smallest[0].n_cells} cells" if smallest else "none"))
    return Result("not generatable with replay" if not sol.generatable else "generatable with replay", None, v, reason,
                  "collapsim reproduce racca-replay" + (" --quick" if quick else ""), None,
                  {"certificate_rules": len(sol.strategy), "certificate_accepted": ok,
                   "generatable_without_replay": without.generatable,
                   "smallest_failing": [s.to_json() for s in smallest[:3]], "search": {"languages": size, "cells": cells},
                   "per_size": per_size, "inclusion_minimal_failing": minimal, "certificates_rejected": rejected,
                   "four_language_class_minimal_under_inclusion": four_minimal})


CLAIM = Claim(
    name="racca-replay",
    citation="Racca, Valko, Sanyal, arXiv:2603.11784, Theorem 6.3 (v1) / 7.3 (v2)",
    statement="The class {z <= 0} U {i}, {z >= 0} U {-i} (i = 1, 2) of four languages over the integers is not "
              "properly generatable in the limit when the adversary may replay the generator's outputs.",
    theirs="a class of four languages that is not properly generatable in the limit with replay",
    full=f"solver + independent checker on the class; exhaustive search up to {SEARCH[False][0]} languages on "
         f"{SEARCH[False][1]} cells for the smallest failing class, every failing certificate re-checked, and the "
         "inclusion-minimal failing classes",
    quick=f"search up to {SEARCH[True][0]} languages on {SEARCH[True][1]} cells (the same smallest class)",
    runtime="full ~45 s (the 103,210 five-language classes), quick < 1 s",
    steps=lambda quick: 2,
    run=run,
)
