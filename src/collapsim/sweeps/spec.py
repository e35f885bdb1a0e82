"""A sweep's spec: its axes (``alpha=0:1:21``, ``samples=50,200``...), the grid they span over a base
run spec, and its validation; the grid point, group and chunk types the planner makes."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from typing import Any, NamedTuple

import numpy as np

from collapsim.errors import ConfigError
from collapsim.engine.schedules import Schedule
from collapsim.runs.spec import NO_ALPHA, RunSpec


#: Axes the engine itself understands (the rest are the family's options).
ENGINE_AXES = {"alpha": float, "samples": int, "policy": str, "curate": int, "reward_temperature": float}
#: Spec fields that a sweep fixes for all points.
NOT_SWEEPABLE = ("generations", "seeds", "seed", "method", "driver", "metrics_every")
SUMMARY_STATS = ("mean", "stderr", "lo", "hi")
PARTIAL_SUFFIX = ".sweep-partial"
#: The most grid points a sweep takes (beyond it, planning alone takes hours).
MAX_POINTS = 10**6


class Axis(NamedTuple):
    name: str
    values: tuple


def _axis_kind(name: str, entry) -> tuple[type, tuple]:
    if name in ENGINE_AXES:
        from collapsim.engine.policies import POLICIES

        return ENGINE_AXES[name], (POLICIES if name == "policy" else ())
    for o in entry.options:
        if o.name == name:
            return o.type, tuple(o.choices)
    if name in NOT_SWEEPABLE:
        raise ConfigError(f"--grid {name}: {name} is fixed for the whole sweep; give it as --{name}")
    known = sorted(set(ENGINE_AXES) | {o.name for o in entry.options})
    raise ConfigError(f"--grid {name}: family {entry.name!r} has no parameter {name!r}; choose from {', '.join(known)}")


def config_axis_value(name: str, value, family: str):
    """One value of a sweep config's axis, checked by the rule of the option it sets (alpha: a number in
    [0, 1]); the message names it ``--grid NAME``."""
    from collapsim.runs.registry import entry
    from collapsim.runs.spec import ALPHA_RULE, ENGINE_RULES
    from collapsim.schema import check

    e = entry(family)
    _axis_kind(name, e)  # an axis the family does not have, or one fixed for the whole sweep
    rules = {"alpha": ALPHA_RULE, **ENGINE_RULES, **{o.name: o.rule() for o in e.options}}
    return check(f"--grid {name}", value, rules[name])


def _cast(kind: type, text: str, name: str):
    try:
        if kind is int:
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
        return kind(text.strip())
    except (ValueError, OverflowError):  # OverflowError: int(1e400)
        raise ConfigError(f"--grid {name}: cannot read {text.strip()!r} as {kind.__name__}") from None


def parse_axis(text: str, entry) -> Axis:
    """``NAME=a:b:n`` (n evenly spaced values from a to b) or ``NAME=v1,v2,...``; typed by the option."""
    name, sep, body = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name or not body.strip():
        raise ConfigError(f"--grid {text!r}: expected NAME=START:STOP:COUNT or NAME=V1,V2,...")
    kind, choices = _axis_kind(name, entry)
    if ":" in body and kind in (int, float):
        parts = body.split(":")
        if len(parts) != 3:
            raise ConfigError(f"--grid {text!r}: a range is START:STOP:COUNT")
        lo, hi = _cast(float, parts[0], name), _cast(float, parts[1], name)
        count = _cast(int, parts[2], name)
        if count < 1:
            raise ConfigError(f"--grid {text!r}: COUNT must be at least 1")
        if count > MAX_POINTS:  # before linspace allocates COUNT floats (1e11 of them: 745 GiB)
            raise ConfigError(f"--grid {text!r}: {count:,} values; a sweep takes at most {MAX_POINTS:,} points")
        raw = np.round(np.linspace(lo, hi, count), 12)  # 0.1, not 0.09999999999999999
        if not np.isfinite(raw).all():  # rounding to 12 decimals overflows beyond ~1e296
            raise ConfigError(f"--grid {text!r}: values too large")
        # Python floats and ints straight from the array (a million-value axis in a blink, not seconds).
        values = tuple(int(v) for v in np.round(raw).tolist()) if kind is int else tuple(raw.tolist())
    else:
        values = tuple(_cast(kind, v, name) for v in body.split(","))
    if choices:
        bad = [v for v in values if v not in choices]
        if bad:
            raise ConfigError(f"--grid {name}: {bad[0]!r} is not one of {', '.join(choices)}")
    repeat = first_repeat(values)
    if repeat is not None:
        raise ConfigError(f"--grid {name}: the value {repeat!r} appears twice (two grid points would share a row key)")
    return Axis(name, values)


def first_repeat(values) -> Any:
    """The first value of an axis that equals an earlier one (0.1 and 0.10, 1 and 1.0 are the same), or None."""
    seen = set()
    for v in values:
        try:
            if v in seen:
                return v
            seen.add(v)
        except TypeError:  # unhashable (a list in a hand-edited config): its type is refused elsewhere
            continue
    return None


SUMMARY_KINDS = ("final", "halving", "collapse")


def parse_summary(text: str) -> tuple[str, str]:
    """``final:METRIC`` (mean at the last generation), ``halving:METRIC`` (first generation at which the mean
    is at most half its generation-0 value), or ``collapse`` (mean collapse generation, with until-collapse)."""
    kind, _, metric = text.partition(":")
    if kind not in SUMMARY_KINDS or (kind != "collapse" and not metric):
        raise ConfigError(f"--summary {text!r}: use final:METRIC, halving:METRIC or collapse")
    return kind, metric


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A whole sweep: the base run spec (fixed settings), the axes, the summary drawn, the mode.

    ``until_collapse``: run each chain until it collapses or ``cap`` generations (then ``base.generations``
    is unused); see :mod:`collapsim.sweeps.collapse`.
    """

    base: RunSpec
    axes: tuple
    summary: str = "final:entropy"
    until_collapse: bool = False
    cap: int = 0

    def to_dict(self) -> dict:
        return {"sweep": {"axes": [[a.name, list(a.values)] for a in self.axes], "summary": self.summary,
                          "until_collapse": self.until_collapse, "cap": self.cap},
                **self.base.to_dict()}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_config(cls, config: dict) -> "SweepSpec":
        """The sweep in a sweep folder's ``config.json``: the base run, the axes and the sweep settings, each
        value checked by the rule of its option (``collapsim.schema``, as the command line is), so a
        hand-edited file is refused in one line before any work."""
        from collapsim.schema import Rule, check

        if not isinstance(config, dict) or not isinstance(config.get("sweep"), dict):
            raise ConfigError("config has no 'sweep' section: not a collapsim sweep config")
        s = config["sweep"]
        base = RunSpec.from_config(config)
        pairs = s.get("axes")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                                  and isinstance(p[1], list) for p in pairs):
            raise ConfigError("config's sweep axes must be a list of [NAME, [VALUE, ...]] pairs")
        axes = tuple(Axis(name, tuple(config_axis_value(name, v, base.family) for v in values)) for name, values in pairs)
        return cls(base, axes, check("--summary", s.get("summary", "final:entropy"), Rule(str)),
                   check("--until-collapse", s.get("until_collapse", False), Rule(bool)),
                   check("--cap", s.get("cap", 0), Rule(int, low=0)))

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]

    def assignments(self) -> list[dict]:
        """Every grid point as {axis name: value}, the first axis varying slowest."""
        return [dict(zip(self.names, combo)) for combo in itertools.product(*(a.values for a in self.axes))]

    def point_spec(self, assignment: dict) -> RunSpec:
        """The base spec with one grid point's values put in (family options, params, or engine fields)."""
        from collapsim.runs.registry import entry

        e = entry(self.base.family)
        spec = self.base
        fo, pa = dict(spec.family_options), dict(spec.params)
        for name, value in assignment.items():
            if name == "alpha":  # made from the number, not written out and read back (spelled repr(float))
                spec = spec.replace(alpha=Schedule.constant(value))
            elif name in ENGINE_AXES:
                spec = spec.replace(**{name: value})
            else:
                target = next(o.target for o in e.options if o.name == name)
                (fo if target == "family_options" else pa)[name] = value
        from collapsim.engine.policies import ALPHA_POLICIES

        # A policy axis mixes policies that read alpha with ones that ignore it: each gets what it reads.
        if spec.policy not in ALPHA_POLICIES:
            spec = spec.replace(alpha=NO_ALPHA)
        elif spec.alpha == NO_ALPHA:
            spec = spec.replace(alpha=None)  # the spec's default for the policy
        return spec.replace(family_options=fo, params=pa)


def check_sweepable(family: str) -> None:
    """Refuse a family whose fit is a host training loop: the grid driver vmaps compiled steps."""
    from collapsim.runs.registry import entry

    if entry(family).driver == "host":
        raise ConfigError(f"{family} trains on the host, one generation at a time, so it cannot be swept by the "
                          f"grid driver; run one `collapsim run {family}` per setting")


def validate(sweep: SweepSpec) -> None:
    """Refuse a sweep with no axes, a repeated axis, a bad summary, or more points than is sensible."""
    from collapsim.runs.registry import entry

    e = entry(sweep.base.family)
    check_sweepable(sweep.base.family)
    if not sweep.axes:
        raise ConfigError("a sweep needs at least one --grid NAME=VALUES")
    if sweep.base.metrics_every != 1:  # its table and summaries (halving times) need every generation's value
        raise ConfigError(f"a sweep records every metric every generation; metrics_every {sweep.base.metrics_every!r} "
                          "is for collapsim run")
    names = sweep.names
    if len(set(names)) != len(names):
        raise ConfigError(f"--grid {next(n for n in names if names.count(n) > 1)} is given twice")
    for a in sweep.axes:
        _axis_kind(a.name, e)
        if not a.values:
            raise ConfigError(f"--grid {a.name} has no values")
        repeat = first_repeat(a.values)
        if repeat is not None:  # a config file's axis lists are not parsed by parse_axis
            raise ConfigError(f"sweep axis {a.name}: the value {repeat!r} appears twice (two grid points would share "
                              "a row key)")
    kind, _ = parse_summary(sweep.summary)
    if (kind == "collapse") != sweep.until_collapse:
        raise ConfigError("--summary collapse goes with --until-collapse (and --until-collapse with --summary collapse)")
    if sweep.cap < 0:
        raise ConfigError(f"--cap must be positive, got {sweep.cap}")
    points = math.prod(len(a.values) for a in sweep.axes)
    if points > MAX_POINTS:
        raise ConfigError(f"the grid has {points:,} points; a sweep takes at most {MAX_POINTS:,}")


class Point(NamedTuple):
    index: int
    assignment: dict
    spec: RunSpec  # resolved (defaults filled in, method resolved)
    loop: Any


class Group(NamedTuple):
    """Points sharing one compiled program: family, loop configuration, parameter shapes."""

    family: Any
    cfg: Any
    points: list  # [Point]
    entry: Any


class Chunk(NamedTuple):
    index: int
    group: int
    points: tuple  # indices into group.points, padded to the group's chunk size with repeats
    real: int  # how many of them are real (the rest are padding)
