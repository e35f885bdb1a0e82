"""Parse an alpha_t schedule (the share of real data per generation) from its command-line spelling.

Spellings, for generations t = 1..T:
  ``0.3``            constant
  ``1/t``, ``0.5/t``  c / t
  ``0.5/t^0.7``      c / t^p
  ``geom:0.5:0.9``   geometric decay a0 * r^(t - 1)
  ``0.5,0.3,0.1``    explicit values; a shorter list holds its last value for the remaining generations (an
                     empty item, ``0.1,,0.2`` or ``0.1,``, is refused: a slip, not a value)
Every value must lie in [0, 1]; a schedule that leaves that range is an error, never silently clipped.
"""

from __future__ import annotations

import re

import numpy as np

from collapsim.errors import ConfigError

_POWER = re.compile(r"^\s*(?P<c>[0-9.eE+-]+)?\s*/\s*t\s*(\^\s*(?P<p>[0-9.eE+-]+))?\s*$")


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"cannot read {text!r} in alpha schedule {spec!r}") from None


def parse_alpha(spec: str, generations: int) -> np.ndarray:
    """alpha_t for t = 1..T as a float64 array of shape (T,); raises :class:`ConfigError` on bad input."""
    spec = str(spec).strip()
    t = np.arange(1, generations + 1, dtype=np.float64)
    with np.errstate(all="ignore"):  # an overflow becomes inf, refused below in one line (no warning first)
        values = _values(spec, t, generations)
    if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
        bad = int(np.argmax(~np.isfinite(values) | (values < 0) | (values > 1)))
        raise ConfigError(f"alpha must lie in [0, 1]: schedule {spec!r} gives {values[bad]:g} at generation {bad + 1}")
    return values


def _values(spec: str, t: np.ndarray, generations: int) -> np.ndarray:
    if m := _POWER.match(spec):
        c = _number(m["c"], spec) if m["c"] else 1.0
        p = _number(m["p"], spec) if m["p"] else 1.0
        values = c / t**p
    elif spec.startswith("geom:"):
        parts = spec.split(":")
        if len(parts) != 3:
            raise ConfigError(f"geometric schedule must read geom:A0:RATIO, got {spec!r}")
        values = _number(parts[1], spec) * _number(parts[2], spec) ** (t - 1)
    else:
        if not spec:
            raise ConfigError("alpha schedule is empty")
        texts = spec.split(",")
        if not all(x.strip() for x in texts):  # "0.1,,0.2" is a slip, not two values (a sweep's --grid refuses it too)
            empty = next(i for i, x in enumerate(texts) if not x.strip())
            raise ConfigError(f"alpha schedule {spec!r} has an empty item (item {empty + 1})")
        items = [_number(x, spec) for x in texts]
        if len(items) > generations:
            raise ConfigError(f"alpha list has {len(items)} values but there are only {generations} generations")
        values = np.array(items + [items[-1]] * (generations - len(items)))
    return np.asarray(values, np.float64)
