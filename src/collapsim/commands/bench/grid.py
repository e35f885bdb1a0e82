"""Helpers for the ``--grid`` benchmarks: time a spread of cells three ways in one run and print one row each.

Each cell is timed as collapsim (``engine.run_loop`` as ``collapsim run`` calls it, compile excluded and
reported apart), vectorised NumPy (all chains at once) and a per-chain Python loop written the way
published collapse code is (one chain, one generation at a time), the loop timed on as many chains as fit in
``loop_seconds`` (at least one) and scaled linearly to the cell's chains, since chains are independent work.
The machine is shared and noisy: only the ratios of one run mean anything.
"""

from __future__ import annotations

import time
from typing import Callable


def seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def scaled_loop_seconds(run_chains: Callable[[int], object], chains: int, loop_seconds: float) -> tuple[float, int]:
    """(seconds the per-chain loop would take for ``chains``, chains actually timed): doubles the number of
    chains run until one timing takes at least ``loop_seconds`` or all chains ran."""
    timed = 1
    while True:
        took = seconds(lambda: run_chains(timed))
        if took >= loop_seconds or timed >= chains:
            return took * chains / timed, timed
        timed = min(chains, timed * 2)


def format_grid(rows: list[dict], keys: list[tuple[str, str, str]]) -> str:
    """A text table: one row per cell, columns (header, key, format) from ``keys``."""
    head = "  ".join(f"{h:>{max(len(h), 8)}}" for h, _, _ in keys)
    lines = [head]
    for r in rows:
        cells = []
        for h, k, fmt in keys:
            v = r.get(k, "")
            cells.append(f"{(format(v, fmt) if v != '' else ''):>{max(len(h), 8)}}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def markdown_grid(rows: list[dict], keys: list[tuple[str, str, str]]) -> str:
    """The same table in Markdown, for benchmarks/ and the README."""
    lines = ["| " + " | ".join(h for h, _, _ in keys) + " |", "|" + "---:|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(format(r[k], fmt) if k in r else "" for _, k, fmt in keys) + " |")
    return "\n".join(lines)
