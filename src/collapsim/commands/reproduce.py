"""``collapsim reproduce``: published claims beside collapsim's numbers, with a verdict each
(:mod:`collapsim.claims`). Parsing and printing only; the claims and the report live in ``claims/``."""

from __future__ import annotations

import sys
from contextlib import contextmanager

import click

from collapsim.errors import ConfigError


@contextmanager
def _bar(claim, quick):
    with click.progressbar(length=claim.steps(quick), label=f"{claim.name:<24}", file=sys.stderr) as bar:
        yield lambda: bar.update(1)


def _list_lines(claims) -> list[str]:
    lines = []
    for c in claims:
        lines += [f"{c.name}", f"    {c.citation}", f"    claim: {c.statement}", f"    theirs: {c.theirs}",
                  f"    full: {c.full}", f"    quick: {c.quick}", f"    runtime here: {c.runtime}"]
    return lines


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1)
@click.option("--list", "list_", is_flag=True, help="List every claim with its citation, setting and runtime.")
@click.option("--all", "all_", is_flag=True, help="Run every claim.")
@click.option("--quick", is_flag=True, help="Reduced settings (each claim states its reduction).")
@click.option("--out", default=None, help="Report folder (default runs/reproduce-TIME; the same rule as `run`).")
def reproduce(names, list_, all_, quick, out):
    """Run published claims (NAME..., or --all) and write report.md, one figure per claim and claims.json."""
    from collapsim.claims import ORDER, claims
    from collapsim.claims.report import FAILED, check_out, fmt_ours, reproduce as run_claims

    if list_:
        if names or all_:
            raise ConfigError("--list takes no claim names and no --all")
        click.echo("\n".join(_list_lines(claims(names))))
        return 0
    if all_ and names:
        raise ConfigError("give claim names or --all, not both")
    if not all_ and not names:
        raise ConfigError("name the claims to run, or --all, or --list to see them")
    chosen = claims(ORDER if all_ else names)
    out = check_out(out) if out else None

    def report(r):
        ours = fmt_ours(r["ours"], r["se"]) if r["verdict"] != FAILED else ""
        click.echo(f"{r['name']}: {r['verdict'].upper()}  ours {ours}  ({r['seconds']:.0f} s)  {r['reason']}")

    path, rows = run_claims(chosen, quick, out, _bar, report)
    failed = [r["name"] for r in rows if r["verdict"] == FAILED]
    click.echo(f"report: {path / 'report.md'}" + (f"  ({len(failed)} failed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0
