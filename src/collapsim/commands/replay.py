"""`collapsim replay ...` commands (check, verify, play, search).  Printing only; the work is elsewhere."""

from __future__ import annotations

import json
import os
import sys

import click

from collapsim.errors import ConfigError

BUILTIN_CLASSES = ("four-language", "separation")
# The solver is exponential in the number of (membership) cells in the worst case.  Measured by `collapsim bench
# replay` at these bounds (12 languages x 20 cells, in-process check + verify, a loaded 2-core machine): classes with
# a bottom member (a language inside all others) 16-245 ms with 40-434 rules, near-bottom ones (inside all but one
# or two others) 58-598 ms with at most 784 rules (the solver's quick wins, solver.py `level`); unstructured random
# classes mostly under a second, the worst found 30 s with 29,000 rules (density 0.7).  Interpreter and CLI start-up
# come on top.
MAX_CHECK_LANGUAGES = 12
MAX_CHECK_CELLS = 20
# Without replay U stays empty and the solver walks every forced set, 2^cells of them: a 19-cell class took 36 s.
# Every finite class is properly generatable without replay (solver.py), so above this bound the answer is
# reported from that fact instead of recomputed.
MAX_NO_REPLAY_CELLS = 14
GENERATORS = ("km", "closure", "witness", "mch", "certificate")
PROPER = ("mch", "certificate")


def _shipped(spec: str) -> str:
    """Where a shipped example class named ``spec`` would lie (package data of :mod:`collapsim.replay`)."""
    import collapsim.replay

    return os.path.join(os.path.dirname(collapsim.replay.__file__), "examples", spec + ".json")


def _load(spec: str, rounds: int = 40):
    from collapsim.replay import classes, games

    if spec == "four-language":
        return games.four_language_class(), spec
    if spec == "separation":
        return games.separation_class(min(60, max(2, rounds))), f"separation (truncated at {min(60, max(2, rounds))} languages)"
    shipped = _shipped(spec)
    if not os.path.exists(spec) and os.path.exists(shipped):
        return classes.load_class(shipped), f"{spec} (shipped example)"
    return classes.load_class(spec), spec


# ----------------------------------------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------------------------------------

def certificate_json(hc, sol, verdict) -> dict:
    """The certificate in plain JSON (see ``certificate.py``), with the checker's verdict attached."""
    from collapsim.replay.certificate import to_json

    return to_json(hc, sol.player, sol.replay, sol.strategy, verdict)


def _certificate_lines(hc, sol, limit: int) -> list[str]:
    lines = []
    items = sorted(sol.strategy.items(), key=lambda kv: (bin(kv[0][0]).count("1"), kv[0][1], kv[0][0]))
    for (F, U), m in items[:limit]:
        where = "start" if (F, U) == (0, 0) else f"forced {hc.describe(F)}, outputs cover {hc.describe(U)}"
        if sol.player == "generator":
            move = f"output {hc.names[m]}"
        elif m < 0:
            legal = [hc.names[i] for i, K in enumerate(hc.masks) if F & ~K == 0 and K & ~(F | U) == 0]
            move = f"stay: replay/cycle through {hc.describe(F | U)} forever (legal targets: {', '.join(legal)})"
        else:
            move = f"show {hc.cells[m]}"
        lines.append(f"  {where}: {move}")
    if len(items) > limit:
        lines.append(f"  ... {len(items) - limit} more rules (--json prints all)")
    return lines


@click.command("check")
@click.argument("class_file")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys properly_generatable_with_replay, closure_dimension, certificate).")
@click.option("--max-rules", default=40, show_default=True, help="Certificate rules shown in readable form.")
@click.option("--certificate-out", "cert_out", default=None, metavar="CERT.json",
              help="Also write the certificate to this file (read back by `replay verify`); a new file "
                   "unless --force.")
@click.option("--force", is_flag=True, help="Replace an existing --certificate-out file.")
def check_cmd(class_file, as_json, max_rules, cert_out, force):
    """Decide proper generation in the limit with replay for CLASS_FILE (a JSON class or a built-in name)."""
    from collapsim.files.outfile import check_out_file
    from collapsim.replay.certificate import write_json
    from collapsim.replay.checker import check
    from collapsim.replay.closure import closure_dimension
    from collapsim.replay.solver import solve

    if cert_out is not None:
        # Before any work; the class file (local or shipped) is never a place for its own certificate.
        check_out_file(cert_out, force=force, flag="--certificate-out", protect=(class_file, _shipped(class_file)))
    hc, label = _load(class_file)
    if len(hc.masks) > MAX_CHECK_LANGUAGES or hc.n_cells > MAX_CHECK_CELLS:
        raise ConfigError(f"{label}: {len(hc.masks)} languages over {hc.n_cells} cells (elements grouped by the "
                          f"languages containing them) is beyond the solver (at most {MAX_CHECK_LANGUAGES} "
                          f"languages and {MAX_CHECK_CELLS} cells)")
    sol = solve(hc, replay=True)
    plain_computed = hc.n_cells <= MAX_NO_REPLAY_CELLS
    plain_yes = solve(hc, replay=False).generatable if plain_computed else True
    verdict = check(hc, sol.player, sol.strategy, True)
    dim, sub = closure_dimension(hc)
    if cert_out is not None:
        write_json(cert_out, certificate_json(hc, sol, verdict), force=force)
    if as_json:
        click.echo(json.dumps({
            "class": label,
            "properly_generatable_with_replay": sol.generatable,
            "properly_generatable_without_replay": plain_yes,
            "without_replay_computed": plain_computed,
            "closure_dimension": dim,
            "uniform_threshold": dim + 1,
            "certificate": certificate_json(hc, sol, verdict),
        }, indent=2))
        return
    click.echo(f"class: {label}: {len(hc.masks)} languages, {hc.n_cells} cells "
               f"({', '.join(str(c) for c in hc.cells)})")
    click.echo(f"properly generatable in the limit with replay: {'yes' if sol.generatable else 'no'}")
    how_plain = "" if plain_computed else f" (every finite class is; solved only up to {MAX_NO_REPLAY_CELLS} cells)"
    click.echo(f"properly generatable in the limit without replay: {'yes' if plain_yes else 'no'}{how_plain}")
    names = [hc.names[i] for i in range(len(hc.masks)) if sub >> i & 1]
    how = f" (attained by {' ∩ '.join(names)})" if names else ""
    if hc.finite_languages():
        click.echo(f"closure dimension: {dim}{how}; the class has finite languages, so the uniform threshold of "
                   "element-output generation does not apply")
    else:
        click.echo(f"closure dimension: {dim}{how}; uniform generation from {dim + 1} distinct examples")
    if cert_out is not None:
        click.echo(f"certificate written to {cert_out}")
    click.echo(f"certificate: {sol.player} strategy, {len(sol.strategy)} rules; independent checker: "
               f"{'accepted' if verdict.ok else 'gave up' if verdict.gave_up else 'REJECTED'} ({verdict.reason}, {verdict.positions} positions)")
    for line in _certificate_lines(hc, sol, max_rules):
        click.echo(line)


# ----------------------------------------------------------------------------------------------------------------
# verify
# ----------------------------------------------------------------------------------------------------------------

@click.command("verify")
@click.argument("class_file")
@click.argument("cert_file")
@click.option("--replay/--no-replay", "replay", default=True, show_default=True,
              help="The game checked: with replay (the default) or without it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys game, accepted, reason, positions).")
@click.pass_context
def verify_cmd(ctx, class_file, cert_file, replay, as_json):
    """Check CERT_FILE, a certificate for CLASS_FILE from anywhere, with the independent checker, in the game
    with replay (or, with --no-replay, the game without it).

    Exit 0 if it is accepted, 1 if it is rejected (the reason names the position and move), 2 if a file is
    not a class or not a certificate at all, or the certificate says it was written for the other game.
    """
    from collapsim.replay import certificate
    from collapsim.replay.checker import check

    hc, label = _load(class_file)
    game = certificate.game_name(replay)
    try:
        player, _, strategy = certificate.load(hc, cert_file, replay)
        v = check(hc, player, strategy, replay)
        ok, reason, positions = v.ok, v.reason, v.positions
    except certificate.OtherGame as e:
        # The user named one game and the file claims the other: say how to check the file's own game.
        hint = "drop --no-replay to check it there" if not replay else "add --no-replay to check it there"
        raise ConfigError(f"{e} ({hint})") from None
    except certificate.Unfit as e:
        player, ok, reason, positions = None, False, str(e), 0
    if as_json:
        click.echo(json.dumps({"class": label, "certificate": cert_file, "game": game, "replay": replay,
                               "player": player, "accepted": ok, "reason": reason, "positions": positions},
                              indent=2))
    else:
        what = f"{player} certificate" if player else "certificate"
        click.echo(f"{what} {'accepted' if ok else 'REJECTED'} for {label} in the game {game}: {reason} "
                   f"({positions} positions visited)")
    ctx.exit(0 if ok else 1)


# ----------------------------------------------------------------------------------------------------------------
# play
# ----------------------------------------------------------------------------------------------------------------

@click.command("play")
@click.argument("class_file")
@click.option("--generator", "gen_name", type=click.Choice(GENERATORS), default="km", show_default=True,
              help="km / closure / witness output elements; mch / certificate output hypotheses (proper).")
@click.option("--adversary", "adv_name", type=click.Choice(("enumerate", "replay-everything", "trap", "certificate")),
              default="replay-everything", show_default=True)
@click.option("--target", default=None, help="Target language name (enumerate, replay-everything); default: the first.")
@click.option("--rounds", default=30, show_default=True, type=click.IntRange(1, 2000))
@click.option("--burn-in", "burn", default=None, help="Wrap the generator in burn-in: 'auto' (closure dimension + 1) or a count.")
@click.option("--json", "as_json", is_flag=True)
def play_cmd(class_file, gen_name, adv_name, target, rounds, burn, as_json):
    """Play a generator against an adversary on CLASS_FILE (JSON, or four-language / separation) and list rounds."""
    from collapsim.replay import games
    from collapsim.replay.closure import uniform_threshold
    from collapsim.replay.solver import solve

    hc, label = _load(class_file, rounds + 1)
    proper = gen_name in PROPER
    if not proper:
        hc.require_infinite(f"the element-output generator {gen_name!r}")
    if gen_name == "certificate" or adv_name == "certificate":
        sol = solve(hc, replay=True)
    if gen_name == "certificate":
        if not sol.generatable:
            raise ConfigError(f"{label} is not properly generatable with replay: there is no generator certificate")
        gen = games.certificate_generator(sol.strategy)
    elif proper:
        gen = games.PROPER_GENERATORS[gen_name]
    else:
        gen = games.ELEMENT_GENERATORS[gen_name]
    threshold = None
    if burn is not None:
        if proper:
            raise ConfigError("burn-in wraps element-output generators only")
        if burn == "auto":
            threshold = uniform_threshold(hc)
        else:
            try:
                threshold = int(burn)
            except ValueError:
                raise ConfigError(f"--burn-in must be 'auto' or a positive integer, got {burn!r}") from None
            if threshold < 1:
                raise ConfigError("--burn-in must be at least 1")
        gen = games.burn_in(gen, threshold)
    if target is None:
        t_idx = 0
    elif target in hc.names:
        t_idx = hc.names.index(target)
    else:
        raise ConfigError(f"unknown target {target!r}; the class has {', '.join(hc.names[:8])}"
                          + (", ..." if len(hc.names) > 8 else ""))
    if adv_name == "enumerate":
        adv = games.enumeration_adversary(t_idx)
    elif adv_name == "replay-everything":
        adv = games.replay_everything_adversary(t_idx, proper)
    elif adv_name == "trap":
        adv = games.trap_adversary(hc)
    else:
        if sol.generatable:
            raise ConfigError(f"{label} is properly generatable with replay: there is no adversary certificate")
        adv = games.certificate_adversary(sol.strategy)
    res = games.play(hc, gen, adv, rounds, proper)
    first_thr = None
    if threshold is not None:
        first_thr = next((t for t in range(1, rounds + 1) if len(set(res.stream[:t])) >= threshold), None)
    if as_json:
        click.echo(json.dumps({
            "class": label, "generator": gen_name, "adversary": adv_name, "proper": proper, "rounds": rounds,
            "burn_in_threshold": threshold, "threshold_round": first_thr,
            "stream": res.stream, "outputs": [hc.names[o] for o in res.outputs] if proper else res.outputs,
            "targets": {hc.names[k]: {"wrong_rounds": res.wrong[k], "replay_rounds": res.replays[k],
                                      "stream_legal": res.legal[k]} for k in res.targets},
        }, indent=2))
        return
    kind = "proper (outputs hypotheses)" if proper else "element output"
    click.echo(f"class: {label}; generator: {gen_name}{f' with burn-in {threshold}' if threshold else ''}; "
               f"adversary: {adv_name}; game: {kind}")
    tnames = [hc.names[k] for k in res.targets]
    click.echo(f"{'round':>5}  {'shown':>8}  {'output':>8}  " + "  ".join(f"wrong for {n}" for n in tnames))
    for t, (x, o) in enumerate(zip(res.stream, res.outputs), start=1):
        shown = f"{x}" + ("*" if all(t in res.replays[k] for k in res.targets) and res.targets else "")
        out = hc.names[o] if proper else str(o)
        marks = "  ".join(f"{'x' if t in res.wrong[k] else '.':^{len('wrong for ' + hc.names[k])}}" for k in res.targets)
        click.echo(f"{t:>5}  {shown:>8}  {out:>8}  {marks}")
    click.echo("(* = a replay: outside every scored target)")
    for k in res.targets:
        w = res.wrong[k]
        tail = f", last in round {w[-1]}" if w else ""
        click.echo(f"target {hc.names[k]}: wrong in {len(w)} of {rounds} rounds{tail}; "
                   f"{len(res.replays[k])} replayed elements; stream legal for it: {'yes' if res.legal[k] else 'no'}")
        if first_thr is not None:
            after = [r for r in w if r >= first_thr]
            click.echo(f"  after the burn-in threshold (round {first_thr}): "
                       f"{'no wrong rounds' if not after else f'{len(after)} wrong rounds'}")


# ----------------------------------------------------------------------------------------------------------------
# search
# ----------------------------------------------------------------------------------------------------------------

class _Bar:
    """Adapter from run_search's progress callback to a click progress bar on stderr."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def set_total(self, total):
        if self.enabled:
            self.bar = click.progressbar(length=total, label="deciding classes", file=sys.stderr)
            self.bar.__enter__()

    def __call__(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def search_lines(report, with_certificates: bool = True) -> list[str]:
    """Readable search summary for `collapsim replay search`."""
    from collapsim.replay.checker import check
    from collapsim.replay.solver import solve

    kind = "languages (finite ones allowed)" if report.allow_finite else "infinite languages"
    cells = sorted({c for r in report.sizes for c in r.by_cells})
    out = [f"classes of 1..{report.max_size} {kind}, at most {report.max_cells} cells by membership "
           f"(up to renaming the languages): {report.seconds:.1f} s",
           f"{'size':>4}  {'decided':>8}  {'failing':>8}  {'succeeding':>10}  failing/decided by number of cells"]
    for r in report.sizes:
        per = "  ".join(f"{c}:{r.by_cells[c][1]}/{r.by_cells[c][0]}" for c in cells if c in r.by_cells)
        out.append(f"{r.k:>4}  {r.decided:>8}  {len(r.failing):>8}  {r.succeeding:>10}  {per}")
    smallest = report.smallest_failing()
    if not smallest:
        out.append("no class in this range fails")
        return out
    fewest = report.fewest_cells_failing()
    for title, group in (("fewest languages", smallest), ("fewest cells", fewest)):
        out.append(f"smallest failing classes by {title}: {len(group)} of {group[0].k} languages on "
                   f"{group[0].n_cells} cells")
        for sh in group[:5]:
            hc = sh.to_class()
            out.append("  class: " + json.dumps(hc.to_json()["languages"]))
            if with_certificates:
                sol = solve(hc, replay=True)
                v = check(hc, sol.player, sol.strategy, True)
                out.append(f"  certificate ({sol.player}, {len(sol.strategy)} rules; checker "
                           f"{'accepted' if v.ok else 'REJECTED'}, {v.positions} positions):")
                out.extend("  " + line for line in _certificate_lines(hc, sol, 12))
        if len(group) > 5:
            out.append(f"  ... {len(group) - 5} more")
        if group == smallest and fewest == smallest:
            break
    return out


@click.command("search")
@click.option("--max-size", default=4, show_default=True, type=click.IntRange(1, 5), help="Largest number of languages.")
@click.option("--max-cells", default=15, show_default=True, type=click.IntRange(1, 31),
              help="Largest number of cells (elements grouped by the languages containing them); "
                   "15 covers every class of 4 languages.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Processes.")
@click.option("--allow-finite", is_flag=True, help="Also allow finite languages (the base game uses infinite ones).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def search_cmd(max_size, max_cells, workers, allow_finite, as_json, no_progress):
    """Decide every class of at most MAX-SIZE languages on at most MAX-CELLS cells; report the smallest failures."""
    from collapsim.replay.search import run_search

    bar = _Bar(not no_progress)
    try:
        report = run_search(max_size, max_cells, allow_finite=allow_finite, workers=workers, progress=bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps({
            "max_size": max_size, "max_cells": max_cells, "seconds": round(report.seconds, 2),
            "sizes": [{"size": r.k, "decided": r.decided, "failing": len(r.failing), "succeeding": r.succeeding,
                       "by_cells": {str(c): {"decided": d, "failing": f} for c, (d, f) in sorted(r.by_cells.items())}}
                      for r in report.sizes],
            "smallest_failing": [sh.to_json() for sh in report.smallest_failing()],
            "fewest_cells_failing": [sh.to_json() for sh in report.fewest_cells_failing()],
        }, indent=2))
        return
    for line in search_lines(report):
        click.echo(line)


@click.group()
def replay():
    """Generation in the limit with replay: check classes, verify certificates, play games, search small classes."""


replay.add_command(check_cmd)
replay.add_command(verify_cmd)
replay.add_command(play_cmd)
replay.add_command(search_cmd)
