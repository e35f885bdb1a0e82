"""An alpha_t schedule (the share of real data per generation): read once from its spelling, then evaluated.

Spellings, for generations t = 1..T:
  ``0.3``            constant
  ``1/t``, ``0.5/t``  c / t
  ``0.5/t^0.7``      c / t^p
  ``geom:0.5:0.9``   geometric decay a0 * r^(t - 1)
  ``0.5,0.3,0.1``    explicit values; a shorter list holds its last value for the remaining generations (an
                     empty item, ``0.1,,0.2`` or ``0.1,``, is refused: a slip, not a value)
Every value must lie in [0, 1]; a schedule that leaves that range is an error, never silently clipped.

:func:`parse_schedule` reads the text once into a :class:`Schedule` (its spelling kept, for config.json and
titles, beside its numbers); :meth:`Schedule.values` computes alpha_t for a number of generations from the
numbers (no text is read again) and refuses values outside [0, 1], which depend on T (``2/t^-1`` leaves
the range only at t = 2). NumPy is imported by :meth:`Schedule.values` only: a run spec reads its schedule
without it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from collapsim.errors import ConfigError

_POWER = re.compile(r"^\s*(?P<c>[0-9.eE+-]+)?\s*/\s*t\s*(\^\s*(?P<p>[0-9.eE+-]+))?\s*$")
#: The forms a schedule takes, and what :attr:`Schedule.numbers` holds for each.
FORMS = {"power": "(c, p): c / t^p", "geom": "(a0, r): a0 r^(t - 1)", "list": "the values, the last held"}


class Schedule(NamedTuple):
    """A parsed alpha_t schedule, immutable and hashable.

    Attributes:
      spelling: the text it was read from, as given (what config.json and the titles show).
      form: "power", "geom" or "list" (:data:`FORMS`).
      numbers: the form's numbers as Python floats (:data:`FORMS`).
    """

    spelling: str
    form: str
    numbers: tuple

    def __str__(self) -> str:
        return self.spelling

    @classmethod
    def constant(cls, value: float) -> "Schedule":
        """The constant schedule ``value`` (a sweep's alpha axis), spelled as ``repr(float(value))``: equal
        to ``parse_schedule(repr(float(value)))``, without writing the number out and reading it back."""
        value = float(value)
        return cls(repr(value), "list", (value,))

    def values(self, generations: int):
        """alpha_t for t = 1..T as a float64 array of shape (T,); raises :class:`ConfigError` when a value
        leaves [0, 1] or a list has more values than there are generations."""
        import numpy as np

        text = self.spelling.strip()
        t = np.arange(1, generations + 1, dtype=np.float64)
        with np.errstate(all="ignore"):  # an overflow becomes inf, refused below in one line (no warning first)
            if self.form == "power":
                c, p = self.numbers
                values = c / t**p
            elif self.form == "geom":
                a0, r = self.numbers
                values = a0 * r ** (t - 1)
            else:
                items = list(self.numbers)
                if len(items) > generations:
                    raise ConfigError(f"alpha list has {len(items)} values but there are only {generations} generations")
                values = np.array(items + [items[-1]] * (generations - len(items)))
        values = np.asarray(values, np.float64)
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            bad = int(np.argmax(~np.isfinite(values) | (values < 0) | (values > 1)))
            raise ConfigError(f"alpha must lie in [0, 1]: schedule {text!r} gives {values[bad]:g} at generation {bad + 1}")
        return values


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"cannot read {text!r} in alpha schedule {spec!r}") from None


def parse_schedule(spelling) -> Schedule:
    """The :class:`Schedule` a spelling names (a number is read as its text); raises :class:`ConfigError`
    on text that is no schedule. The one place a schedule's text is read."""
    spelling = str(spelling)
    spec = spelling.strip()
    if m := _POWER.match(spec):
        c = _number(m["c"], spec) if m["c"] else 1.0
        p = _number(m["p"], spec) if m["p"] else 1.0
        return Schedule(spelling, "power", (c, p))
    if spec.startswith("geom:"):
        parts = spec.split(":")
        if len(parts) != 3:
            raise ConfigError(f"geometric schedule must read geom:A0:RATIO, got {spec!r}")
        return Schedule(spelling, "geom", (_number(parts[1], spec), _number(parts[2], spec)))
    if not spec:
        raise ConfigError("alpha schedule is empty")
    texts = spec.split(",")
    if not all(x.strip() for x in texts):  # "0.1,,0.2" is a slip, not two values (a sweep's --grid refuses it too)
        empty = next(i for i, x in enumerate(texts) if not x.strip())
        raise ConfigError(f"alpha schedule {spec!r} has an empty item (item {empty + 1})")
    return Schedule(spelling, "list", tuple(_number(x, spec) for x in texts))


def parse_alpha(spelling, generations: int):
    """alpha_t for t = 1..T as a float64 array of shape (T,), straight from a spelling (a one-off read: a run
    spec parses its schedule once, :attr:`collapsim.runs.spec.RunSpec.schedule`)."""
    return parse_schedule(spelling).values(generations)
