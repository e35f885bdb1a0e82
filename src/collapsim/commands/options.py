"""Options shared by every ``collapsim run FAMILY`` command, and the CPU device layout."""

from __future__ import annotations

import functools
import os
import sys

import click

from collapsim.engine.policies import POLICIES
from collapsim.runs.spec import DEFAULT_ALPHA, ENGINE_RULES, SPEC_DEFAULTS
from collapsim.schema import Rule, check, from_text, kind_name


class Checked(click.ParamType):
    """A click type that reads a value by its :class:`collapsim.schema.Rule`: the command line refuses a bad
    value with the one-line message a config file holding it gets (``--vocab must be a whole number >= 1,
    got 0``), raised as a ConfigError that the CLI prints as ``collapsim: error: ...`` with exit code 2."""

    def __init__(self, rule: Rule):
        self.rule = rule
        self.name = kind_name(rule)

    def convert(self, value, param, ctx):
        flag = max(param.opts, key=len) if param is not None and param.opts else "value"
        return from_text(flag, value, self.rule) if isinstance(value, str) else check(flag, value, self.rule)


def option_type(rule: Rule):
    """The click type of an option with this rule: a choice list (shown in --help) or :class:`Checked`."""
    return click.Choice(rule.choices) if rule.choices else Checked(rule)


def use_all_cores() -> None:
    """Ask XLA for one host device per CPU core, so the engine shards chains over the cores.

    Call it first thing in a command that runs the engine: it only works before JAX is imported, and is
    left out of library imports because it changes how JAX sees the machine. One vmapped computation runs
    mostly on one core; with a device per core :func:`collapsim.engine.dispatch` runs one call per core.
    Harmless on GPU machines (the GPU stays the default backend); a flag the user set wins.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" in sys.modules or "xla_force_host_platform_device_count" in flags:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores}".strip()


def engine_options(*, generations: int, samples: int, seeds: int):
    """Decorator adding the engine's options with family-specific defaults."""

    def wrap(f):
        opts = [
            click.option("--generations", type=Checked(ENGINE_RULES["generations"]), default=generations, show_default=True,
                         help="Generations T."),
            click.option("--samples", type=Checked(ENGINE_RULES["samples"]), default=samples, show_default=True,
                         help="Samples n per generation."),
            click.option("--seeds", type=Checked(ENGINE_RULES["seeds"]), default=seeds, show_default=True,
                         help="Independent chains."),
            click.option("--policy", type=click.Choice(POLICIES), default=SPEC_DEFAULTS["policy"], show_default=True,
                         help="How each generation's training data is assembled."),
            click.option("--alpha", type=str, default=None,
                         help="Real-data share alpha_t for mix / keep-real: a number, 1/t, 0.5/t^0.7, "
                              f"geom:0.5:0.9, or a comma list (default {DEFAULT_ALPHA})."),
            click.option("--seed", type=Checked(ENGINE_RULES["seed"]), default=SPEC_DEFAULTS["seed"], show_default=True,
                         help="Base random seed."),
            click.option("--out", type=click.Path(), default=None, help="Run folder (default runs/FAMILY-TIME)."),
        ]
        for opt in reversed(opts):
            f = opt(f)
        return functools.wraps(f)(f)

    return wrap



def curation_options() -> list:
    """``--curate K`` and ``--reward-temperature BETA`` (the run spec's ``curate`` and ``reward_temperature``),
    shared by ``run`` and ``sweep``; the reward itself is a family option (``--reward``)."""
    return [
        click.option("--curate", type=Checked(ENGINE_RULES["curate"]), default=SPEC_DEFAULTS["curate"], show_default=True,
                     help="K: each synthetic training point is the Bradley-Terry winner of K model draws under the "
                          "family's --reward (1: no curation)."),
        click.option("--reward-temperature", type=Checked(ENGINE_RULES["reward_temperature"]),
                     default=SPEC_DEFAULTS["reward_temperature"], show_default=True,
                     help="beta > 0: draw j of a K-tuple wins with probability softmax(r_j / beta)."),
    ]
