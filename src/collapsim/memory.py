"""Refuse sizes that cannot fit in memory before allocating anything.

Why: ``bench llm --batch 100000000`` or ``finetune --batch-size 1000000000`` used to start allocating and
end in an out-of-memory kill (or a swap storm) instead of a message. A command estimates the bytes its
largest buffers need and calls :func:`check_fits`, which compares with the machine's memory (RAM on the
CPU; the accelerator's memory when JAX has already been set up on one and reports it).

Estimates are deliberately rough lower bounds (the dominant arrays only), so a run that fits is never
refused; what they catch is the order-of-magnitude mistake.
"""

from __future__ import annotations

import os

from collapsim.errors import ConfigError

GiB = 1024 ** 3


def total_ram_bytes() -> int:
    """Physical memory of this machine in bytes (os.sysconf, else /proc/meminfo's MemTotal)."""
    try:
        n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if n > 0:
            return int(n)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cgroup_limit() -> int:
    """A container's memory limit (cgroup v2 or v1), or 0 when there is none."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < (1 << 60):
            return int(text)
    return 0


def accelerator_bytes() -> int:
    """Memory of JAX's first device when it is an accelerator that reports it, else 0.

    Only consulted if jax is already imported (this module must not import it on its own).
    """
    import sys

    jax = sys.modules.get("jax")
    if jax is None:
        return 0
    try:
        dev = jax.devices()[0]
        if dev.platform == "cpu":
            return 0
        stats = dev.memory_stats() or {}
        return int(stats.get("bytes_limit", 0))
    except Exception:  # backends differ in what they report; no number means "do not limit by it"
        return 0


def available_bytes() -> int:
    """The memory a computation may use: the accelerator's if JAX runs on one, else the RAM (capped by a
    container limit). 0 when it cannot be determined (then nothing is refused)."""
    acc = accelerator_bytes()
    if acc:
        return acc
    ram = total_ram_bytes()
    cg = _cgroup_limit()
    return min(ram, cg) if ram and cg else (ram or cg)


def gib(nbytes: float) -> str:
    """A byte count in GiB for messages: '0.0041 GiB', '23.5 GiB', '11,023 GiB'."""
    g = nbytes / GiB
    return f"{g:.3g} GiB" if g < 100 else f"{g:,.0f} GiB"


def check_fits(nbytes: float, what: str, available: int | None = None) -> None:
    """Raise ConfigError "WHAT needs ~X GiB, this machine has Y GiB" when ``nbytes`` exceeds the memory.

    ``what`` names the request (e.g. "--batch 100000000 (sampling)"), so the message says what to lower.
    """
    avail = available_bytes() if available is None else available
    if avail and nbytes > avail:
        raise ConfigError(f"{what} needs ~{gib(nbytes)}, this machine has {gib(avail)}; use a smaller size")
