"""The run spec: everything that determines a run's numbers, frozen and serialisable.

``config.json`` is a spec's fields plus what was derived from them (the truth, versions, timing, the device
layout); :meth:`RunSpec.from_config` reads the spec back out of it, so ``collapsim run --config
RUN/config.json`` re-runs a run and reproduces its ``metrics.csv`` byte for byte. NumPy and JAX free.
"""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any, Mapping

from collapsim.errors import ConfigError
from collapsim.policies import ALPHA_POLICIES, POLICIES

DRIVERS = ("scan", "host")
#: Floating-point width of the scan families' state: float32 (the default, the speed of the GPU and of
#: vectorised CPU code) or float64 (JAX x64: for runs whose state spans more than float32's ~7 digits or
#: range, e.g. a covariance whose thinnest direction falls below 1e-7 of its widest).
PRECISIONS = ("float32", "float64")
METHODS = ("auto", "explicit", "shortcut")
#: Seeds are 32-bit: jax.random.key(s) keeps only the low 32 bits, so a larger or negative seed would
#: silently alias another run's numbers.
SEED_RANGE = (0, 2**32 - 1)


def _frozen(d) -> Mapping:
    return MappingProxyType(dict(d or {}))


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run: a family with its static options, parameter overrides, policy, schedule, sizes, seeds.

    Attributes:
      family: registry name (``collapsim.registry``).
      family_options: static settings of the family (they set shapes or switches: dim, vocab, top_k ...).
      params: overrides of sweepable parameters (temperature, top_p, smoothing ...), plain numbers.
      policy: data policy; alpha: the alpha_t schedule's spelling (``collapsim.schedules``), "none" when unused.
      samples, generations, seeds, seed: n, T, number of chains, base seed.
      method: "auto", "explicit" or "shortcut" (``execute`` records the resolved one).
      driver: "scan" (lax.scan + vmap) or "host" (Python loop with a checkpoint per generation).
      precision: "float32" or "float64" (:data:`PRECISIONS`; the model state, fits and metrics).
      metrics_every: k >= 1; the family's expensive metrics (``Family.expensive``) are recorded only at
        generation 0, every k-th generation and the last (``engine.recorded_generations``), the others every
        generation; 1 (the default) records everything every generation.
    """

    family: str
    family_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    policy: str = "replace"
    alpha: str = "none"
    samples: int = 100
    generations: int = 100
    seeds: int = 2000
    seed: int = 0
    method: str = "auto"
    driver: str = "scan"
    metrics_every: int = 1
    precision: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "family_options", _frozen(self.family_options))
        object.__setattr__(self, "params", _frozen(self.params))

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)

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
        """The spec inside a ``config.json`` dictionary (other keys are derived and ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        missing = {"family", "samples", "generations", "seeds"} - set(config)
        if missing:
            raise ConfigError(f"config has no {', '.join(sorted(missing))}: not a collapsim run config")
        return cls(**{k: v for k, v in config.items() if k in names})

    def validate(self) -> None:
        """The checks every family shares; raises :class:`ConfigError` naming the first problem."""
        for name in ("samples", "generations", "seeds", "seed", "metrics_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be a whole number, got {value!r}")
        if self.policy not in POLICIES:
            raise ConfigError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        if self.samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {self.samples}")
        if self.generations < 1:
            raise ConfigError(f"--generations must be at least 1, got {self.generations}")
        if self.seeds < 2:
            raise ConfigError(f"--seeds must be at least 2 (a standard error needs two chains), got {self.seeds}")
        if self.metrics_every < 1:
            raise ConfigError(f"--metrics-every must be at least 1 (1: every metric every generation), got {self.metrics_every}")
        lo, hi = SEED_RANGE
        if not lo <= self.seed <= hi:
            raise ConfigError(f"--seed must lie in [{lo}, {hi}] (32-bit), got {self.seed}")
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.driver not in DRIVERS:
            raise ConfigError(f"unknown driver {self.driver!r}; choose one of {', '.join(DRIVERS)}")
        if self.policy not in ALPHA_POLICIES and self.alpha not in ("none", None):
            raise ConfigError(f"--alpha applies only to the {' and '.join(ALPHA_POLICIES)} policies, not {self.policy!r}")

    def alpha_schedule(self):
        """alpha_t, an array (T,) (zeros for policies that ignore it)."""
        import numpy as np

        from collapsim.schedules import parse_alpha

        if self.policy in ALPHA_POLICIES:
            return parse_alpha(self.alpha, self.generations)
        return np.zeros(self.generations)
