"""Each option's type and bounds, declared once (:class:`Rule`) and checked by one function (:func:`check`).

Why: the command line (click) and hand-edited config files used to be checked by different code, so a
config file holding ``"vocab": "5"``, ``"top_k": null`` or ``"vocab": 5.5`` got through to a traceback deep in
the run, or ran as 5 and recorded 5.5. Now the family options (:class:`collapsim.runs.registry.Option`), the
engine's fields (:data:`collapsim.runs.spec.ENGINE_RULES`) and the sweep config's axes all carry a
:class:`Rule`; the click option types (:class:`collapsim.commands.options.Checked`) and the config readers call
:func:`check`, so a bad value gets the same one-line message wherever it comes from. NumPy and JAX free,
except :func:`check_float_range`, which takes the run's float dtype.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple, Optional

from collapsim.errors import ConfigError

#: Whole numbers end up in NumPy or JAX integers (shapes, seeds, counts): anything wider than int64 is a typo.
INT_LIMIT = 2**63 - 1
#: Past this many digits a number is shown by its length (a message stays one readable line).
SHOWN_DIGITS = 30
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_KIND_NAMES = {int: "integer", float: "float", str: "text", bool: "boolean"}


class Rule(NamedTuple):
    """The values an option takes: its type, an optional range, an optional set of choices.

    ``low`` / ``high``: the range's ends (None: unbounded); ``open_low`` / ``open_high`` exclude them (a
    positive number is ``low=0, open_low=True``). ``why`` is added to the message in parentheses. Floats are
    always finite; whole numbers always fit an int64.
    """

    kind: type
    low: Optional[float] = None
    high: Optional[float] = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple = ()
    why: str = ""


def shown(value: Any) -> str:
    """A value as a message shows it, in JSON's spelling for JSON's values (null, true, [1, 2])."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:40]) + f"... ({len(value):,} characters)"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        digits = int(value.bit_length() * math.log10(2)) + 1
        return str(value) if digits <= SHOWN_DIGITS else f"a number of about {digits:,} digits"
    if isinstance(value, float):
        return repr(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # not JSON (a library caller's object)
        text = repr(value)
    return text if len(text) <= 60 else text[:40] + "..."


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def wanted(rule: Rule) -> str:
    """What the rule asks for, as the end of "--NAME must be ...": "a whole number >= 1", "a finite number in
    (0, 1]", "one of full, diag" ..."""
    if rule.choices:
        return f"one of {', '.join(map(str, rule.choices))}"
    if rule.kind in (str, bool):
        return "text" if rule.kind is str else "true or false"
    noun = "a whole number" if rule.kind is int else "a finite number"
    lo, hi = rule.low, rule.high
    if lo is not None and hi is not None:
        return f"{noun} in {'(' if rule.open_low else '['}{_number(lo)}, {_number(hi)}{')' if rule.open_high else ']'}"
    if lo == 0 and rule.open_low:
        return noun.replace("a ", "a positive ", 1)
    if lo is not None:
        return f"{noun} {'>' if rule.open_low else '>='} {_number(lo)}"
    if hi is not None:
        return f"{noun} {'<' if rule.open_high else '<='} {_number(hi)}"
    return noun


def refuse(flag: str, rule: Rule, value: Any) -> ConfigError:
    """The one message shape: ``--NAME must be <what the rule asks> (why), got <the value given>``."""
    why = f" ({rule.why})" if rule.why else ""
    return ConfigError(f"{flag} must be {wanted(rule)}{why}, got {shown(value)}")


def check(flag: str, value: Any, rule: Rule) -> Any:
    """``value`` if it satisfies ``rule`` (a whole-valued float becomes an int), else :class:`ConfigError`.

    ``flag`` names the option in the message (``--vocab``). Booleans are not numbers here (JSON's ``true``
    is no vocabulary size), text is not a number (``"5"`` in a config file is refused: the file was edited
    by hand, and a quoted number is as likely a slip as a number).
    """
    if rule.kind is bool:
        if not isinstance(value, bool):
            raise refuse(flag, rule, value)
        return value
    if rule.kind is str:
        if not isinstance(value, str):
            raise refuse(flag, rule, value)
        if rule.choices and value not in rule.choices:
            raise refuse(flag, rule, value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise refuse(flag, rule, value)
    if rule.kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise refuse(flag, rule, value)
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise refuse(flag, rule, value)
    lo, hi = rule.low, rule.high
    if lo is not None and (value < lo or (rule.open_low and value == lo)):
        raise refuse(flag, rule, value)
    if hi is not None and (value > hi or (rule.open_high and value == hi)):
        raise refuse(flag, rule, value)
    if rule.kind is int and abs(value) > INT_LIMIT:
        raise ConfigError(f"{flag} must fit a 64-bit integer, got {shown(value)}")
    return value


def from_text(flag: str, text: str, rule: Rule) -> Any:
    """A command-line value: the text read as the rule's kind, then :func:`check`ed (the same message as a
    config file holding that number). Text that is no number is shown as text ("got 'hot'")."""
    if rule.kind is str:
        return check(flag, text, rule)
    if rule.kind is bool:
        low = text.strip().lower()
        return check(flag, {"true": True, "false": False}.get(low, text), rule)
    if rule.kind is int and _INTEGER_TEXT.fullmatch(text):
        digits = len(text.strip().lstrip("+-"))
        if digits > SHOWN_DIGITS:  # int() refuses 4,300+ digits; such a number is outside every range anyway
            negative = text.strip().startswith("-")
            bounded = rule.low is not None if negative else rule.high is not None
            need = f"be {wanted(rule)}" if bounded else "fit a 64-bit integer"
            raise ConfigError(f"{flag} must {need}, got a{' negative' if negative else ''} number of {digits:,} digits")
        return check(flag, int(text), rule)
    try:
        number = float(text)
    except ValueError:
        return check(flag, text, rule)  # refused, shown as the text given
    return check(flag, number, rule)


def check_float_range(flag: str, value: float, dtype) -> None:
    """Refuse a number the run's floats (``dtype``, e.g. ``np.float32``) cannot hold: larger in magnitude
    than the largest, or nonzero and smaller than the smallest normal one (XLA flushes smaller ones to 0).

    Why: ``--variance 1e39`` became inf in float32 and the run failed after simulating.
    """
    import numpy as np

    info = np.finfo(dtype)
    name = np.dtype(dtype).name
    if abs(value) > float(info.max) or (value != 0 and abs(value) < float(info.tiny)):
        hint = "; the families keep their parameters in float32 at any --precision" if name == "float32" else ""
        raise ConfigError(f"{flag} {shown(value)} is outside {name}'s range (magnitudes {float(info.tiny):.3g} "
                          f"to {float(info.max):.3g}, or 0){hint}")


def kind_name(rule: Rule) -> str:
    """The metavar click shows for an option of this rule."""
    return _KIND_NAMES[rule.kind]
