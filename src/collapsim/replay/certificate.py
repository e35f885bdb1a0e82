"""Certificates as plain JSON files: written by ``replay check --certificate-out``, read by ``replay verify``.

A certificate is a positional strategy of one player in the replay game of Racca, Valko, Sanyal (Theorem
6.3/7.3; rules in ``solver.py``), one rule per position::

    {"player": "adversary" | "generator", "replay": true,
     "rules": [{"forced": [cell, ...], "outputs_cover": [cell, ...], "show": cell | "output": language | "stay": ...}]}

``forced`` is the set F of cells shown while outside every earlier output, ``outputs_cover`` the union U of the
generator's outputs so far (the start is ``[] / []``).  A *cell* is named as ``replay check`` prints it
(``">=10"``, ``"2..3"``, ``"<=-20∪>=10"``) or by any element of it (``-4``, ``"a"``), so a certificate written
by another tool over its own partition of the integers still reads; a language is named by its name.  Other keys
(``cells``, ``languages``, ``checker``, ``meaning``) are informational and ignored when reading.

A certificate is a strategy in one game: ``"replay": true`` for the game with replay, ``false`` for the game
without it.  It is only ever checked in the game the caller names; a certificate that says it was written for
the other game is refused (:class:`OtherGame`), since a strategy can win one game and lose the other.  A file
without the key makes no claim and is checked in the game named.

Reading separates two kinds of failure: a file that is not a certificate at all (bad JSON, wrong types) is a
ConfigError (one line, exit 2); a well-formed certificate that does not fit the class (an unknown cell or
language, two different rules for one position) is :class:`Unfit`, which ``verify`` reports as a rejection.
"""

from __future__ import annotations

import json

from collapsim.errors import ConfigError
from collapsim.replay.classes import HypothesisClass, iter_bits, loads_json, read_text

STAY = -1
MAX_RULES = 1_000_000


class Unfit(Exception):
    """A well-formed certificate that does not fit the class it is checked against."""


class OtherGame(ConfigError):
    """A certificate written for the other game (with / without replay) than the one being checked."""


def game_name(replay: bool) -> str:
    """How messages and verdicts name a game."""
    return "with replay" if replay else "without replay"


def _order(item):
    (F, U), _ = item
    return bin(F).count("1"), bin(U).count("1"), F, U


def to_json(hc: HypothesisClass, player: str, replay: bool, strategy: dict, verdict=None) -> dict:
    """The certificate in plain JSON: one rule per position, cells named as in the class."""

    def cells(m):
        return [str(hc.cells[i]) for i in iter_bits(m)]

    rules = []
    for (F, U), m in sorted(strategy.items(), key=_order):
        if player == "generator":
            move = {"output": hc.names[m]}
        elif m == STAY:
            move = {"stay": "cycle through the forced and replayable cells forever"}
        else:
            move = {"show": str(hc.cells[m])}
        rules.append({"forced": cells(F), "outputs_cover": cells(U), **move})
    out = {"player": player, "replay": replay,
           "meaning": ("forced = cells shown while outside every earlier output; outputs_cover = union of the "
                       "generator's outputs so far; a rule gives the move in that position"),
           "cells": [str(c) for c in hc.cells],
           "languages": {n: cells(m) for n, m in zip(hc.names, hc.masks)}}
    if verdict is not None:
        out["checker"] = {"accepted": verdict.ok, "reason": verdict.reason, "positions": verdict.positions}
    out["rules"] = rules
    return out


def write_json(path: str, obj: dict, force: bool = False) -> None:
    """Write atomically (:func:`collapsim.files.outfile.write_file`); an existing file only with ``force``."""
    from collapsim.files.outfile import write_file

    write_file(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n", force=force)


def _cell_ref(hc: HypothesisClass, names: dict, ref, where: str) -> int:
    if isinstance(ref, str) and ref in names:
        return names[ref]
    z = ref
    if hc.universe == "integers" and isinstance(ref, str):
        try:
            z = int(ref.strip())
        except ValueError:
            raise Unfit(f"{where}: {ref!r} names no cell of the class (cells: "
                        f"{', '.join(list(names)[:12])}{', ...' if len(names) > 12 else ''})") from None
    if isinstance(z, (list, dict, float)) or isinstance(z, bool) or z is None:
        raise ConfigError(f"{where}: a cell must be a cell name or an element, got {json.dumps(z)[:40]}")
    i = hc.index_of(z)
    if i is None:
        raise Unfit(f"{where}: element {z!r} lies in no language of the class")
    return i


def _cell_set(hc, names, refs, where) -> int:
    if not isinstance(refs, list):
        raise ConfigError(f"{where}: expected a list of cells")
    m = 0
    for r in refs:
        m |= 1 << _cell_ref(hc, names, r, where)
    return m


def from_json(hc: HypothesisClass, obj, source: str = "certificate", replay: bool = True) -> tuple[str, bool, dict]:
    """``(player, replay, strategy)`` with strategy ``{(F, U): move}`` over ``hc``'s cells (see module doc).

    ``replay`` is the game the certificate is read for; a certificate claiming the other game raises
    :class:`OtherGame` before its rules are read (a rule that does not fit would otherwise hide the mismatch).
    """
    if not isinstance(obj, dict):
        raise ConfigError(f"{source}: expected an object with keys 'player' and 'rules'")
    player = obj.get("player")
    if player not in ("generator", "adversary"):
        raise ConfigError(f"{source}: 'player' must be \"generator\" or \"adversary\"")
    claimed = obj.get("replay", replay)
    if not isinstance(claimed, bool):
        raise ConfigError(f"{source}: 'replay' must be true or false")
    if claimed != replay:
        raise OtherGame(f"{source} is a certificate for the game {game_name(claimed)}, but the game checked is "
                        f"the game {game_name(replay)}")
    rules = obj.get("rules")
    if not isinstance(rules, list):
        raise ConfigError(f"{source}: 'rules' must be a list")
    if len(rules) > MAX_RULES:
        raise ConfigError(f"{source}: {len(rules)} rules; at most {MAX_RULES} are read")
    names = {str(c): i for i, c in enumerate(hc.cells)}
    langs = {n: i for i, n in enumerate(hc.names)}
    strategy: dict = {}
    for r, rule in enumerate(rules, start=1):
        where = f"{source}: rule {r}"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}: expected an object")
        F = _cell_set(hc, names, rule.get("forced", []), where + " 'forced'")
        U = _cell_set(hc, names, rule.get("outputs_cover", []), where + " 'outputs_cover'")
        moves = [k for k in ("output", "show", "stay") if k in rule]
        if len(moves) != 1:
            raise ConfigError(f"{where}: needs exactly one of 'output', 'show', 'stay'")
        kind = moves[0]
        if player == "generator":
            if kind != "output":
                raise ConfigError(f"{where}: a generator rule gives an 'output' (a language name)")
            name = rule["output"]
            if not isinstance(name, str):
                raise ConfigError(f"{where}: 'output' must be a language name")
            if name not in langs:
                raise Unfit(f"{where}: {name!r} is not a language of the class")
            move = langs[name]
        elif kind == "output":
            raise ConfigError(f"{where}: an adversary rule gives 'show' (a cell) or 'stay'")
        elif kind == "stay":
            move = STAY
        else:
            move = _cell_ref(hc, names, rule["show"], where + " 'show'")
        if strategy.get((F, U), move) != move:
            raise Unfit(f"{where}: a second, different rule for forced {hc.describe(F)}, outputs cover "
                        f"{hc.describe(U)}")
        strategy[(F, U)] = move
    return player, replay, strategy


def load(hc: HypothesisClass, path: str, replay: bool = True) -> tuple[str, bool, dict]:
    """Read the certificate file at ``path`` for the game ``replay`` (see :func:`from_json`)."""
    return from_json(hc, loads_json(read_text(path, "certificate file"), path, "certificate"), path, replay)
