"""``collapsim bench replay``: ``replay check`` and ``replay verify`` timed on seeded random classes.

Classes (``replay/random_classes.py``) at the command's limits (12 languages, 20 cells by default): with a
bottom member (a language inside all others), near-bottom ones (inside all but one or two others) and
unstructured ones, at several densities.  For each class the work of ``replay check`` (solve, run the
independent checker, write the certificate as JSON) and of ``replay verify`` (read the JSON back, check it) is
timed in-process, without the interpreter's start-up, with the certificate's rules, the positions the checker
visited and the JSON's bytes.  One run each: the cost is deterministic and the machine is noisy, so compare
timings of the same run only.
"""

from __future__ import annotations

import json
import time

import click

from collapsim.replay.random_classes import KINDS


def time_class(hc) -> dict:
    """Seconds of check and verify for one class, the verdict and the certificate's size."""
    from collapsim.replay import certificate
    from collapsim.replay.checker import check
    from collapsim.replay.solver import solve

    t0 = time.perf_counter()
    sol = solve(hc, replay=True)
    verdict = check(hc, sol.player, sol.strategy, True)
    text = json.dumps(certificate.to_json(hc, sol.player, sol.replay, sol.strategy, verdict), indent=1,
                      ensure_ascii=False)
    t1 = time.perf_counter()
    player, _, strategy = certificate.from_json(hc, json.loads(text), "certificate", True)
    again = check(hc, player, strategy, True)
    t2 = time.perf_counter()
    return {"generatable": sol.generatable, "accepted": verdict.ok and again.ok, "check_s": t1 - t0,
            "verify_s": t2 - t1, "rules": len(sol.strategy), "positions": verdict.positions,
            "json_bytes": len(text.encode())}


def run_bench(kinds, densities, seeds: int, languages: int, cells: int, say=lambda s: None) -> list[dict]:
    from collapsim.replay.random_classes import random_class

    rows = []
    for kind in kinds:
        for density in densities:
            for seed in range(seeds):
                hc = random_class(kind, seed, languages, cells, density)
                say(f"{kind} density {density} seed {seed}")
                rows.append({"kind": kind, "density": density, "seed": seed, "languages": languages,
                             "cells": hc.n_cells, **time_class(hc)})
    return rows


def format_rows(rows: list[dict]) -> str:
    head = (f"{'kind':<7}{'density':>8}{'seed':>5}  {'verdict':<9}{'check s':>9}{'verify s':>9}{'rules':>8}"
            f"{'positions':>10}{'JSON bytes':>11}  checker")
    lines = [head]
    for r in rows:
        lines.append(f"{r['kind']:<7}{r['density']:>8}{r['seed']:>5}  {'yes' if r['generatable'] else 'no':<9}"
                     f"{r['check_s']:>9.3f}{r['verify_s']:>9.3f}{r['rules']:>8}{r['positions']:>10}"
                     f"{r['json_bytes']:>11}  {'accepted' if r['accepted'] else 'REJECTED'}")
    for kind in dict.fromkeys(r["kind"] for r in rows):
        mine = [r for r in rows if r["kind"] == kind]
        worst = max(mine, key=lambda r: r["check_s"] + r["verify_s"])
        lines.append(f"{kind}: {len(mine)} classes, check + verify median "
                     f"{sorted(r['check_s'] + r['verify_s'] for r in mine)[len(mine) // 2] * 1000:.0f} ms, worst "
                     f"{(worst['check_s'] + worst['verify_s']) * 1000:.0f} ms (density {worst['density']}, seed "
                     f"{worst['seed']}), at most {max(r['rules'] for r in mine)} rules")
    return "\n".join(lines)


def _floats(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None
    if not all(0 < x < 1 for x in out):
        raise click.BadParameter("each density must lie strictly between 0 and 1")
    return out


@click.command()
@click.option("--kinds", default=",".join(KINDS), show_default=True,
              help=f"Comma-separated class kinds among {', '.join(KINDS)} (near<m>: inside all but m others).")
@click.option("--densities", default="0.5,0.7,0.9", show_default=True,
              help="Comma-separated chances that a cell lies in a (non-bottom) language.")
@click.option("--seeds", type=click.IntRange(1), default=3, show_default=True, help="Classes per kind and density.")
@click.option("--languages", type=click.IntRange(2, 12), default=12, show_default=True)
@click.option("--cells", type=click.IntRange(2, 20), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def bench_replay_cmd(kinds, densities, seeds, languages, cells, as_json):
    """Time `replay check` + `replay verify` on seeded (near-)bottom-member and random classes."""
    kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise click.BadParameter(f"unknown kind(s) {', '.join(bad) or '(none)'}; choose from {', '.join(KINDS)}",
                                 param_hint="--kinds")
    rows = run_bench(kinds, _floats(densities), seeds, languages, cells, say=lambda s: click.echo(f"... {s}", err=True))
    click.echo(json.dumps(rows, indent=1) if as_json else format_rows(rows))
