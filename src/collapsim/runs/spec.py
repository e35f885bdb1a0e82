"""The run spec: everything that determines a run's numbers, frozen and serialisable.

``config.json`` is a spec's fields plus what was derived from them (the truth, versions, timing, the device
layout); :meth:`RunSpec.from_config` reads the spec back out of it, so ``collapsim run --config
RUN/config.json`` re-runs a run and reproduces its ``metrics.csv`` byte for byte. A spec holds its options
checked and typed, and its alpha schedule read once (:attr:`RunSpec.schedule`). NumPy and JAX free to import.
"""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any, Mapping, Optional

from collapsim.errors import ConfigError
from collapsim.engine import schedules
from collapsim.engine.policies import ALPHA_POLICIES, POLICIES
from collapsim.schema import Rule, check, shown

DRIVERS = ("scan", "host")
#: Floating-point width of the scan families' state: float32 (the default, the speed of the GPU and of
#: vectorised CPU code) or float64 (JAX x64: for runs whose state spans more than float32's ~7 digits or
#: range, e.g. a covariance whose thinnest direction falls below 1e-7 of its widest).
PRECISIONS = ("float32", "float64")
METHODS = ("auto", "explicit", "shortcut")
#: Seeds are 32-bit: jax.random.key(s) keeps only the low 32 bits, so a larger or negative seed would
#: silently alias another run's numbers.
SEED_RANGE = (0, 2**32 - 1)
#: The engine's fields and what they take (``collapsim.schema``): the command line's options
#: (``collapsim.commands.options.engine_options``), :meth:`RunSpec.validate` and config files are checked by these rules.
ENGINE_RULES = {
    "samples": Rule(int, low=1),
    "generations": Rule(int, low=1),
    "seeds": Rule(int, low=2, why="a standard error needs two chains"),
    "seed": Rule(int, *SEED_RANGE, why="32-bit"),
    "metrics_every": Rule(int, low=1, why="1: every metric every generation"),
    "policy": Rule(str, choices=POLICIES),
    "method": Rule(str, choices=METHODS),
    "driver": Rule(str, choices=DRIVERS),
    "precision": Rule(str, choices=PRECISIONS),
    "curate": Rule(int, low=1, why="1: no curation"),
    "reward_temperature": Rule(float, low=0, open_low=True),
}
#: An alpha_t value where a number is read (a sweep's alpha axis).
ALPHA_RULE = Rule(float, 0, 1)
#: The alpha schedule of a policy that reads alpha_t when none is given (the one place this default is written:
#: the command line, the API, config files and sweeps take it from here), and the spelling of "no schedule",
#: what the policies that ignore alpha_t get.
DEFAULT_ALPHA = "0.1"
NO_ALPHA = "none"


def default_alpha(policy: str) -> str:
    """The alpha spelling a spec with no alpha given takes: :data:`DEFAULT_ALPHA` where ``policy`` reads alpha_t,
    else :data:`NO_ALPHA`."""
    return DEFAULT_ALPHA if policy in ALPHA_POLICIES else NO_ALPHA


def flag(name: str) -> str:
    """The command-line spelling of a field: metrics_every -> --metrics-every."""
    return f"--{name.replace('_', '-')}"


def _frozen(d) -> Mapping:
    return MappingProxyType(dict(d or {}))


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run: a family with its static options, parameter overrides, policy, schedule, sizes, seeds.

    Attributes:
      family: registry name (``collapsim.runs.registry``).
      family_options: static settings of the family (they set shapes or switches: dim, vocab, top_k ...).
      params: overrides of sweepable parameters (temperature, top_p, smoothing ...), plain numbers.
      policy: data policy; alpha: the alpha_t schedule's spelling (``collapsim.engine.schedules``), "none" when unused;
        given as None (the default), :func:`default_alpha` of the policy; given as a parsed
        :class:`~collapsim.engine.schedules.Schedule`, its spelling (and the schedule is kept as it is).
      samples, generations, seeds, seed: n, T, number of chains, base seed.
      method: "auto", "explicit" or "shortcut" (``execute`` records the resolved one).
      driver: "scan" (lax.scan + vmap) or "host" (Python loop with a checkpoint per generation).
      precision: "float32" or "float64" (:data:`PRECISIONS`; the model state, fits and metrics).
      metrics_every: k >= 1; the family's expensive metrics (``Family.expensive``) are recorded only at
        generation 0, every k-th generation and the last (``engine.recorded_generations``), the others every
        generation; 1 (the default) records everything every generation.
      curate: K >= 1; each synthetic training point is the Bradley-Terry winner of K draws of the model under
        the family's reward (``--reward``); 1 (the default) is no curation, the uncurated loop unchanged.
      reward_temperature: beta > 0 of the Bradley-Terry choice (draw j wins with probability softmax(r_j / beta));
        read only when curate > 1, where the run layer puts it in the family's parameters (a sweep axis that
        does not recompile).
      schedule: (not a field) the alpha spelling read once, when the spec is made, into a
        :class:`~collapsim.engine.schedules.Schedule` (None for "none"): a spelling that is no schedule is
        refused here, in one line; :meth:`replace` hands the parsed schedule on, so it is never read again.
    """

    family: str
    family_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    policy: str = "replace"
    alpha: Optional[str] = None
    samples: int = 100
    generations: int = 100
    seeds: int = 2000
    seed: int = 0
    method: str = "auto"
    driver: str = "scan"
    metrics_every: int = 1
    precision: str = "float32"
    curate: int = 1
    reward_temperature: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "family_options", _frozen(self.family_options))
        object.__setattr__(self, "params", _frozen(self.params))
        alpha = default_alpha(self.policy) if self.alpha is None else self.alpha
        if isinstance(alpha, schedules.Schedule):
            schedule = alpha
        else:
            alpha = alpha if isinstance(alpha, str) else alpha_spelling(alpha)
            schedule = None if alpha == NO_ALPHA else schedules.parse_schedule(alpha)
        object.__setattr__(self, "alpha", alpha if schedule is None else schedule.spelling)
        object.__setattr__(self, "schedule", schedule)

    def replace(self, **changes) -> "RunSpec":
        """A copy with ``changes``; the parsed schedule (and its values, if T stays) go along unread."""
        same_values = not {"alpha", "generations"} & set(changes)
        if "alpha" not in changes and self.schedule is not None:
            changes["alpha"] = self.schedule
        spec = dataclasses.replace(self, **changes)
        if same_values and "_alpha_values" in self.__dict__:
            object.__setattr__(spec, "_alpha_values", self._alpha_values)
        return spec

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["family_options"] = dict(self.family_options)
        out["params"] = dict(self.params)
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal specs give equal strings (a checkpoint's fingerprint)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_config(cls, config: Mapping) -> "RunSpec":
        """The spec inside a ``config.json`` dictionary (other keys are derived and ignored), every field and
        family option checked by the rules the command line uses (``collapsim.schema``), so a hand-edited
        file is refused in one line naming the field, not deep inside the run."""
        from collapsim.runs.registry import check_options, entry

        if not isinstance(config, Mapping):
            raise ConfigError(f"config is {shown(config)}, not a JSON object: not a collapsim run config")
        missing = {"family", "samples", "generations", "seeds"} - set(config)
        if missing:
            raise ConfigError(f"config has no {', '.join(sorted(missing))}: not a collapsim run config")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in config.items() if k in names}
        entry(fields["family"])  # an unknown family (or not a name) first: its options are checked by its rules
        for section in ("family_options", "params"):
            if not isinstance(fields.get(section, {}), Mapping):
                raise ConfigError(f"config's {section} must be a JSON object of option: value, got {shown(fields[section])}")
        for name, rule in ENGINE_RULES.items():
            if name in fields:
                fields[name] = check(flag(name), fields[name], rule)
        if "alpha" in fields:
            fields["alpha"] = alpha_spelling(fields["alpha"])
        fields["family_options"], fields["params"] = check_options(fields["family"], dict(fields.get("family_options", {})),
                                                                   dict(fields.get("params", {})))
        return cls(**fields)

    def validate(self) -> None:
        """The checks every family shares; raises :class:`ConfigError` naming the first problem."""
        for name, rule in ENGINE_RULES.items():
            check(flag(name), getattr(self, name), rule)
        if self.policy not in ALPHA_POLICIES and self.alpha != NO_ALPHA:
            raise ConfigError(f"--alpha applies only to the {' and '.join(ALPHA_POLICIES)} policies, not {self.policy!r}")

    def alpha_schedule(self):
        """alpha_t, a float64 array (T,), read-only (zeros for policies that ignore it): the parsed schedule's
        values, computed and range-checked once per spec (:meth:`Schedule.values`)."""
        import numpy as np

        if self.policy not in ALPHA_POLICIES:
            return np.zeros(self.generations)
        if "_alpha_values" not in self.__dict__:
            if self.schedule is None:
                raise ConfigError(f"--alpha {NO_ALPHA}: policy {self.policy!r} reads alpha_t; give a schedule "
                                  f"(a number, 1/t, 0.5/t^0.7, geom:A0:RATIO or a comma list)")
            values = self.schedule.values(self.generations)
            values.flags.writeable = False  # shared by every caller of this spec: the engine, the theory
            object.__setattr__(self, "_alpha_values", values)
        return self._alpha_values


#: field -> the spec's default (fields with one): the one place each is written; the command line's options
#: show these (a family's sizes, generations, samples and seeds, are its entry's ``defaults``).
SPEC_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec) if f.default is not dataclasses.MISSING}


def alpha_spelling(value) -> str:
    """An alpha schedule's spelling (``collapsim.engine.schedules``) from a config file: text as it is, a plain number
    as its text; anything else (null, a list, true) refused in one line."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    raise ConfigError(f"--alpha must be a schedule (a number, 1/t, 0.5/t^0.7, geom:A0:RATIO or a comma list), "
                      f"got {shown(value)}")
