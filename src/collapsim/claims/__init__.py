"""Published claims about model collapse, each tested by collapsim (``collapsim reproduce``).

One module per claim, each ending in ``CLAIM = Claim(...)`` (:mod:`collapsim.claims.base`); :data:`ORDER`
lists them, cheapest and most certain first. Modules import numpy only at the top and load JAX and the
families inside ``run``, so listing the claims costs nothing.
"""

from __future__ import annotations

import importlib

from collapsim.errors import ConfigError

#: Module names under collapsim.claims, in the order --all runs them.
ORDER = (
    "shumailov_w2",
    "shumailov_variance",
    "gerstgrasser_replace",
    "gerstgrasser_accumulate",
    "suresh_survival",
    "suresh_gaussian",
    "zenil_anchoring",
    "ferbach_curation",
    "racca_replay",
    "kazdan_cells",
    "kazdan_collapse_time",
    "shumailov_gmm",
    "ainex",
)


def name_of(module: str) -> str:
    """The command-line name of a claim module (dashes for underscores)."""
    return module.replace("_", "-")


def load(name: str):
    """The claim module of a command-line name (``shumailov-w2``) or module name; a ConfigError otherwise."""
    module = name.replace("-", "_")
    if module not in ORDER:
        raise ConfigError(f"unknown claim {name!r}; `collapsim reproduce --list` lists them: "
                          + ", ".join(name_of(m) for m in ORDER))
    return importlib.import_module(f"collapsim.claims.{module}")


def claims(names=None) -> list:
    """The claims named (all of them, in :data:`ORDER`, when ``names`` is empty), each a Claim."""
    return [load(n).CLAIM for n in (names or ORDER)]
