"""The families ``collapsim run`` can run: the list of the families' entries, and the checks every spec
goes through whatever its family (options against their rules, float ranges, memory).

Each family's :class:`~collapsim.families.entry.Entry` lives beside its code (``ENTRY`` at the end of
``collapsim/families/<name>.py``); :data:`collapsim.families.FAMILIES` names the modules, and this module
reads their entries. Importing it imports the family modules (and so JAX: the CLI asks XLA for its host
devices before, in :mod:`collapsim.commands.launch`).
"""

from __future__ import annotations

import importlib

from collapsim.errors import ConfigError
from collapsim.families import FAMILIES
from collapsim.families.entry import Entry, Loop, Option  # noqa: F401 (the types every caller of the registry uses)


def _load(module: str) -> Entry:
    return importlib.import_module(f"collapsim.families.{module}").ENTRY


#: family name -> its entry, in the order of :data:`collapsim.families.FAMILIES`.
ENTRIES = {e.name: e for e in map(_load, FAMILIES)}


def check_memory(spec) -> None:
    """Refuse, before any allocation, a run whose largest buffers exceed the machine's memory.

    Counted: the per-chain results (seeds x (T + 1) x ~16 metrics, float64, a few copies), the keys and the
    alpha schedule, and one compiled call's working set (chains per call x (model + data floats) x ~8
    temporaries, in the run's precision); lower bounds, so a run that fits is never refused.
    """
    from collapsim.memory import check_fits

    e = entry(spec.family)
    model, point = e.footprint(spec)
    points = spec.samples * (spec.generations if spec.policy.startswith("accumulate") else 1)
    per_call = max(1, min(spec.seeds, 2**18 // max(points, 1)))
    results = float(spec.seeds) * (spec.generations + 1) * 16 * 8 * 3
    keys = float(spec.seeds) * 8 + float(spec.generations) * 8 * 4
    width = 8 if spec.precision == "float64" else 4
    working = per_call * (model + points * point) * width * 8
    check_fits(results + keys + working + model * 8 * 4,
               f"{spec.family} with {spec.seeds} seeds, {spec.generations} generations, {spec.samples} samples"
               + "".join(f", {o.flag_name} {spec.family_options[o.name]}" for o in e.options  # the sizes changed
                         if o.type is int and o.target == "family_options" and spec.family_options[o.name] != o.default))



def entry(name: str) -> Entry:
    if not isinstance(name, str) or name not in ENTRIES:
        from collapsim.schema import shown

        raise ConfigError(f"unknown family {shown(name)}; choose one of {', '.join(ENTRIES)}")
    return ENTRIES[name]


def check_options(family: str, family_options: dict, params: dict) -> tuple[dict, dict]:
    """(family_options, params) with every value checked against its option's rule (``collapsim.schema``) and
    whole-valued floats made ints; refuses an option the family does not have, or one given in the wrong
    section. The one check for the command line, ``run --config`` and sweep configs."""
    from collapsim.schema import check

    e = entry(family)
    options = {o.name: o for o in e.options}
    out = {"family_options": {}, "params": {}}
    for section, given in (("family_options", family_options), ("params", params)):
        unknown = sorted(set(given) - set(options), key=str)
        if unknown:
            raise ConfigError(f"family {family!r} has no option {', '.join(map(str, unknown))}")
        for name, value in given.items():
            o = options[name]
            if o.target != section:
                raise ConfigError(f"{o.flag_name} belongs in {o.target}, not {section}")
            out[section][name] = check(o.flag_name, value, o.rule())
    return out["family_options"], out["params"]


def check_float_ranges(spec, dtype) -> None:
    """Refuse a float option the run's floats (``dtype``) cannot hold (``collapsim.schema.check_float_range``):
    before simulating, rather than an inf that fails the run after it."""
    from collapsim.schema import check_float_range

    for o in entry(spec.family).options:
        if o.type is float:
            value = (spec.family_options if o.target == "family_options" else spec.params)[o.name]
            check_float_range(o.flag_name, value, dtype)


def with_defaults(spec):
    """The spec with every option the entry knows filled in (so config.json spells out the whole run), each
    value checked by :func:`check_options`."""
    e = entry(spec.family)
    fo, pa = check_options(spec.family, dict(spec.family_options), dict(spec.params))
    for o in e.options:
        (fo if o.target == "family_options" else pa).setdefault(o.name, o.default)
    return spec.replace(family_options=fo, params=pa)


