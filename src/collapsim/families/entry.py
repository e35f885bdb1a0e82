"""What a family tells the rest of the code: its :class:`Entry` (options, build, theory adapter, title, work
and memory footprint, collapse criterion, default sweep summary, smallest legal case), the :class:`Option`
each command-line flag comes from, and the :class:`Loop` a spec becomes.

A family module defines its :class:`collapsim.engine.Family` factory and, at its end, one ``ENTRY``; the
run layer (:mod:`collapsim.runs.registry`) lists the entries, and the CLI, sweeps, tables and the contract
test read everything from them.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

from collapsim.errors import ConfigError


class Option(NamedTuple):
    """One family option: ``--NAME`` on the command line, stored in the spec's ``family_options`` or
    ``params`` (``target``)."""

    name: str
    type: Any
    default: Any
    help: str
    target: str = "family_options"
    choices: tuple = ()
    flag: str = ""  # a boolean switch: "--NAME/--FLAG" (FLAG turns it off); "" for a valued option
    # The option's range (collapsim.schema.Rule): checked the same way on the command line and in config files.
    low: Any = None
    high: Any = None
    open_low: bool = False  # low itself refused (a positive number: low=0, open_low=True)
    open_high: bool = False

    @property
    def flag_name(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    def rule(self):
        """This option's :class:`collapsim.schema.Rule` (type, range, choices)."""
        from collapsim.schema import Rule

        return Rule(self.type, self.low, self.high, self.open_low, self.open_high, tuple(self.choices))


class Loop(NamedTuple):
    """A spec made concrete: the family, its parameter pytree, whether the exact shortcut is used, and what
    config.json records beside the spec (the truth, derived settings)."""

    family: Any
    params: Any
    shortcut: bool
    derived: dict
    floors: dict = {}  # metric -> the value a chain reads once rounding took its quantity to 0 (a log's floor)


class Criterion(NamedTuple):
    """A chain has collapsed when ``metric <= threshold`` (``text`` says so in words)."""

    metric: str
    threshold: float
    text: str


class Entry(NamedTuple):
    """Everything the rest of the code asks about a family; one per family, beside the family's code, and
    listed in :data:`collapsim.families.FAMILIES`."""

    name: str
    help: str
    defaults: dict  # generations, samples, seeds
    options: tuple
    build: Callable[[Any], Loop]  # spec -> Loop (validates the family's own settings)
    predict: Callable[[Any, Loop], Any]  # (spec, loop) -> theory.Prediction
    title: Callable[[Any], str]
    work: Callable[[Any, bool], float]  # rough count of random draws, for the progress bar
    footprint: Callable[[Any], tuple]  # (floats per chain for the model, per data point), for the memory check
    driver: str = "scan"  # the command's default --driver ("host" for families whose fit is a training loop)
    # Optional theory that needs the run's own numbers (a fitted parameter): (spec, loop, per_chain) ->
    # (theory.Prediction, dict recorded in config.json); used instead of ``predict`` when set.
    predict_runs: Optional[Callable[[Any, Loop, dict], tuple]] = None
    # Optional spec -> None refusing settings that cannot work on any machine (one option against another),
    # run before the memory estimate so that the message names the real problem.
    check: Optional[Callable[[Any], None]] = None
    # The metric a sweep summarises when --summary is not given ("": the family's first metric, alphabetically).
    sweep_metric: str = ""
    # When a chain counts as collapsed (``--until-collapse``); None: the family has no collapse criterion.
    criterion: Optional["Criterion"] = None
    # Optional (spec, loop) -> (exact mean collapse generation or None, an approximation or None, why none):
    # the theory column of an until-collapse sweep.
    collapse_theory: Optional[Callable[[Any, Loop], tuple]] = None
    # The smallest legal cases, each a dict of RunSpec fields and options over the entry's defaults: the
    # contract test runs each for 200 generations under every policy and needs finite numbers or a one-line
    # refusal (the first by default, the others in its slow set).
    smallest: tuple = ({"samples": 1},)


def resolve_method(spec, supported: bool, auto_shortcut: bool) -> bool:
    """Whether to use the shortcut: an explicit request must be supported; auto picks it when it is. Curated
    runs (``spec.curate`` > 1) draw explicit samples: no family has an exact curated shortcut yet."""
    if getattr(spec, "curate", 1) > 1:
        if spec.method == "shortcut":
            raise ConfigError(f"--method shortcut: no exact shortcut for curated data (--curate {spec.curate}); "
                              "use --method explicit or auto")
        return False
    if spec.method == "shortcut" and not supported:
        raise ConfigError(f"the sufficient-statistics shortcut does not cover {spec.family} with policy {spec.policy!r} "
                          "in this configuration; use --method explicit")
    return spec.method == "shortcut" or (spec.method == "auto" and supported and auto_shortcut)


def buffer_factor(spec) -> float:
    """Accumulating policies refit on the whole T n buffer each generation: about T / 2 times the work."""
    return max(1.0, spec.generations / 2) if spec.policy.startswith("accumulate") else 1.0



def alpha_title(spec) -> str:
    return f", alpha={spec.alpha}" if spec.policy in ("mix", "keep-real") else ""
