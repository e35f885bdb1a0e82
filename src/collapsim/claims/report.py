"""Run claims and write the report folder: report.md (one table row per claim), one figure per claim and
claims.json. A claim that raises is reported as failed and the others still run; the folder is written
into a staging folder and moved into place (:mod:`collapsim.files.outdir`), so nothing half-written is left.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from collapsim.claims.base import Claim, Result
from collapsim.files import outdir

KIND = "reproduce"
FAILED = "failed"


def default_out() -> Path:
    """``runs/reproduce-<UTC timestamp>`` under the working directory (made unique when written)."""
    return Path("runs") / f"reproduce-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


def check_out(out) -> Path:
    """The out-folder rule of every writing command, for a reproduce report (refused before any work)."""
    return outdir.check_out(out, kind=KIND)


@contextmanager
def _no_bar(claim: Claim, quick: bool):
    yield lambda: None


def run_one(claim: Claim, quick: bool, bar=_no_bar) -> tuple[Result | None, str, float]:
    """(result, error, seconds): ``error`` is '' or the exception's last line when the claim raised."""
    t0 = time.perf_counter()
    try:
        with bar(claim, quick) as tick:
            res = claim.run(quick, tick)
        return res, "", time.perf_counter() - t0
    except Exception as err:  # a claim that fails is a row of the report, not the end of it
        line = f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]
        return None, line, time.perf_counter() - t0


def fmt_ours(ours, se) -> str:
    """'2.793', '2.79 +- 0.15' or a statement as it is."""
    if isinstance(ours, (int, float)):
        return f"{ours:.4g}" + (f" +- {se:.2g}" if se is not None else " (exact)")
    return str(ours)


def row(claim: Claim, res: Result | None, error: str, seconds: float, figure: str | None) -> dict:
    """One claims.json entry."""
    base = {"name": claim.name, "citation": claim.citation, "statement": claim.statement, "theirs": claim.theirs,
            "setting": claim.full, "quick_setting": claim.quick, "expected_runtime": claim.runtime,
            "seconds": round(seconds, 2)}
    if res is None:
        return {**base, "ours": None, "se": None, "verdict": FAILED, "reason": error, "command": "",
                "figure": None, "details": None}
    return {**base, "ours": res.ours, "se": res.se, "verdict": res.verdict, "reason": res.reason,
            "command": res.command, "figure": figure, "details": res.details}


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[dict], meta: dict) -> str:
    """report.md: the table, then each claim's statement, setting and figure."""
    lines = [f"# collapsim reproduce ({'quick' if meta['quick'] else 'full'} settings)", "",
             f"{meta['date']} on {meta['machine']}; {meta['seconds']:.0f} s in all.", "",
             "| claim | citation | theirs | ours +- SE | verdict | reason | command |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ours = "" if r["verdict"] == FAILED else fmt_ours(r["ours"], r["se"])
        lines.append("| " + " | ".join(_cell(c) for c in (r["name"], r["citation"], r["theirs"], ours, r["verdict"],
                                                            r["reason"], f"`{r['command']}`" if r["command"] else "")) + " |")
    for r in rows:
        lines += ["", f"## {r['name']}: {r['verdict']}", "", r["statement"], "",
                  f"- citation: {r['citation']}", f"- theirs: {r['theirs']}",
                  f"- setting: {r['setting'] if not meta['quick'] else r['quick_setting']}",
                  f"- {r['seconds']:.1f} s here (expected: {r['expected_runtime']})"]
        if r["figure"]:
            lines += ["", f"![{r['name']}]({r['figure']})"]
    return "\n".join(lines) + "\n"


def reproduce(claims: list[Claim], quick: bool, out=None, bar=_no_bar,
              report: Callable[[dict], None] = lambda r: None) -> tuple[Path, list[dict]]:
    """Run ``claims`` one after another and write their report folder; returns (folder, rows).

    ``out`` must already have passed :func:`check_out` (None: a fresh ``runs/reproduce-TIME``). ``bar(claim,
    quick)`` is a context manager yielding the claim's tick; ``report(row)`` is called after each claim.
    """
    t0 = time.perf_counter()
    done = []
    for claim in claims:
        res, error, seconds = run_one(claim, quick, bar)
        done.append((claim, res, error, seconds))
        report(row(claim, res, error, seconds, None))
    meta = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.node() or 'unknown host'} ({platform.machine()}, {platform.system()})",
            "quick": quick, "seconds": time.perf_counter() - t0}
    place = Path(out) if out is not None else outdir.unique_default(default_out())
    with outdir.staged(place) as tmp:
        rows = []
        for claim, res, error, seconds in done:
            figure = None
            if res is not None and res.figure is not None:
                figure = f"{claim.name}.png"
                try:
                    res.figure(tmp / figure)
                except Exception:  # a figure that fails to draw costs the figure, not the row
                    figure = None
                    error = traceback.format_exc(limit=1).strip().splitlines()[-1]
            r = row(claim, res, error, seconds, figure)
            if res is not None and figure is None and res.figure is not None:
                r["reason"] += f" (figure not drawn: {error})"
            rows.append(r)
        (tmp / "report.md").write_text(markdown(rows, meta), encoding="utf-8")
        (tmp / "claims.json").write_text(json.dumps({**meta, "claims": rows}, indent=2, default=_json) + "\n",
                                         encoding="utf-8")
        path = outdir.publish(tmp, place, kind=KIND)
    return path, rows


def _json(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
