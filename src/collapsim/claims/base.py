"""What a claim is, what running it returns, and the verdict rules every claim shares.

A claim module (one per published statement) holds ``CLAIM = Claim(...)``: where it was published, the
statement in one sentence, the published number or statement exactly as printed, the full and the quick
setting, and ``run(quick, tick) -> Result``. Each module also has its own ``verdict(...)`` function, separate
from the running code and taking the published number as an argument, so that a test can feed it a
perturbed published number and see the verdict change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

REPRODUCED, REFUTED, NOT_COMPARABLE = "reproduced", "refuted", "not comparable"
VERDICTS = (REPRODUCED, REFUTED, NOT_COMPARABLE)

#: How many standard errors a Monte Carlo number may sit from a published one and still agree.
Z_TOLERANCE = 4.0


class Result(NamedTuple):
    """One claim's outcome. ``ours``: our number (or a short statement), ``se``: its standard error (None for
    an exact computation), ``verdict``: one of :data:`VERDICTS`, ``reason``: why, in one sentence,
    ``command``: the command line that reproduces this row, ``figure``: draws the claim's figure into a path
    (None: no figure), ``details``: extra numbers for claims.json."""

    ours: object
    se: Optional[float]
    verdict: str
    reason: str
    command: str
    figure: Optional[Callable[[Path], None]] = None
    details: Optional[dict] = None


@dataclass(frozen=True)
class Claim:
    """A published claim and how collapsim tests it. ``steps(quick)`` is the length of its progress bar;
    ``run(quick, tick)`` calls ``tick()`` once per step."""

    name: str
    citation: str  # authors, year, venue, table/figure/equation
    statement: str  # the claim in one sentence
    theirs: str  # their number or statement, exactly as published
    full: str  # the setting of the full run
    quick: str  # the --quick setting and what it reduces
    runtime: str  # expected wall time here, full / quick
    steps: Callable[[bool], int]
    run: Callable[[bool, Callable[[], None]], Result]


def agree(theirs: float, ours: float, se: Optional[float], rel: float = 0.0, what: str = "") -> tuple[str, str]:
    """Verdict for a published number against ours: reproduced when |theirs - ours| <= max(4 se, rel |ours|).

    ``rel`` is the relative slack a claim allows (0 for an exact statement; a labelled approximation may
    state its own). ``se`` None means ours is exact.
    """
    gap = theirs - ours
    pct = f"{100 * gap / ours:+.1f}%" if ours else f"{gap:+.3g}"
    se_part = Z_TOLERANCE * (se or 0.0)
    slack = max(se_part, rel * abs(ours))
    where = f"{what}: " if what else ""
    z = f", z = {gap / se:+.1f}" if se else ""
    if abs(gap) <= slack:
        return REPRODUCED, f"{where}{theirs:.4g} vs ours {ours:.4g} ({pct}{z}), within " + (
            f"{Z_TOLERANCE:g} SE" if slack == se_part else f"the {100 * rel:g}% allowed an approximation")
    return REFUTED, f"{where}{theirs:.4g} vs ours {ours:.4g} ({pct}{z}), beyond " + (
        f"{Z_TOLERANCE:g} SE" if se_part >= rel * abs(ours) else f"the {100 * rel:g}% allowed an approximation")


def _bound(value, se, bound, lower: bool, what: str) -> tuple[str, str]:
    """Verdict for a published bound: refuted when some value lies beyond it by more than 4 SE.

    ``value``, ``bound`` and ``se`` (None: exact) have the same shape; the reason names the smallest margin
    (the distance from the bound on the side the bound allows, negative where it is crossed).
    """
    value, bound = np.asarray(value, float), np.asarray(bound, float)
    se = np.zeros_like(value) if se is None else np.asarray(se, float)
    margin = value - bound if lower else bound - value
    slack = margin + Z_TOLERANCE * se
    if np.all(slack >= 0):
        return REPRODUCED, f"{what}: the bound holds at every point; smallest margin {margin.min():+.3g}"
    worst = int(np.argmin(slack))
    at = np.unravel_index(worst, margin.shape)
    return REFUTED, (f"{what}: the bound fails at {tuple(int(i) for i in at)}: ours {value.flat[worst]:.4g} "
                     f"{'<' if lower else '>'} bound {bound.flat[worst]:.4g} by more than {Z_TOLERANCE:g} SE")


def lower_bound_holds(value, se, bound, what: str) -> tuple[str, str]:
    """A published lower bound against our values (see :func:`_bound`)."""
    return _bound(value, se, bound, True, what)


def upper_bound_holds(value, se, bound, what: str) -> tuple[str, str]:
    """A published upper bound against our values (see :func:`_bound`)."""
    return _bound(value, se, bound, False, what)


def first(*verdicts: tuple[str, str]) -> tuple[str, str]:
    """Combine parts of one claim: the first refuted part decides; otherwise not comparable if any part is;
    otherwise reproduced with every part's reason."""
    for v, r in verdicts:
        if v == REFUTED:
            return v, r
    for v, r in verdicts:
        if v == NOT_COMPARABLE:
            return v, r
    return REPRODUCED, "; ".join(r for _, r in verdicts)


def new_figure(width: float = 6.4, height: float = 4.0):
    """A matplotlib Figure drawn without pyplot (no global state, safe in any thread)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
