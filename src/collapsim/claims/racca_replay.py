"""Racca, Valko, Sanyal: the four-language class of Theorem 6.3/7.3 is not properly generatable in the limit
with replay. Decided by collapsim's solver, its certificate replayed by the independent checker; a search of
all small classes finds the smallest failing one."""

from __future__ import annotations

from collapsim.claims.base import NOT_COMPARABLE, REFUTED, REPRODUCED, Claim, Result

SEARCH = {False: (4, 6), True: (3, 4)}  # (most languages, most cells) of the exhaustive search


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
    from collapsim.replay.search import run_search
    from collapsim.replay.solver import solve

    hc = four_language_class()
    sol = solve(hc, replay=True)
    ok = check(hc, sol.player, sol.strategy, replay=True).ok
    without = solve(hc, replay=False)
    tick()
    size, cells = SEARCH[quick]
    report = run_search(size, cells)
    smallest = report.smallest_failing()
    tick()
    v, reason = verdict(False, sol.generatable, ok)
    reason += (f"; without replay it is {'generatable' if without.generatable else 'not generatable'}; smallest failing "
               f"class among <= {size} languages on <= {cells} cells: "
               + (f"{smallest[0].k} languages, {smallest[0].n_cells} cells" if smallest else "none"))
    return Result("not generatable with replay" if not sol.generatable else "generatable with replay", None, v, reason,
                  "collapsim reproduce racca-replay" + (" --quick" if quick else ""), None,
                  {"certificate_rules": len(sol.strategy), "certificate_accepted": ok,
                   "generatable_without_replay": without.generatable,
                   "smallest_failing": [s.to_json() for s in smallest[:3]]})


CLAIM = Claim(
    name="racca-replay",
    citation="Racca, Valko, Sanyal, arXiv:2603.11784, Theorem 6.3 (v1) / 7.3 (v2)",
    statement="The class {z <= 0} U {i}, {z >= 0} U {-i} (i = 1, 2) of four languages over the integers is not "
              "properly generatable in the limit when the adversary may replay the generator's outputs.",
    theirs="a class of four languages that is not properly generatable in the limit with replay",
    full=f"solver + independent checker on the class; exhaustive search up to {SEARCH[False][0]} languages on "
         f"{SEARCH[False][1]} cells for the smallest failing class",
    quick=f"search up to {SEARCH[True][0]} languages on {SEARCH[True][1]} cells (the same smallest class)",
    runtime="full ~5 s, quick ~2 s",
    steps=lambda quick: 2,
    run=run,
)
