"""collapsim: a theory simulator for model collapse.

The package is deliberately light to import: the CLI, the replay solver and the GPT-2 backend load only
what they need. The generation loop lives in :mod:`collapsim.engine`, model families in
:mod:`collapsim.families`, closed-form predictions in :mod:`collapsim.theory`. The Python API,
``collapsim.run``, ``collapsim.sweep`` and ``collapsim.load`` (:mod:`collapsim.api`), loads on first use.
"""

import sys
import types

__version__ = "0.1.0"

_API = ("run", "sweep", "load")


def __getattr__(name: str):
    """``collapsim.run``, ``collapsim.sweep``, ``collapsim.load``: imported when first asked for."""
    if name in _API:
        from collapsim import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """The package's module type: ``collapsim.sweep`` stays the API's function once the submodule
    ``collapsim/sweep.py`` (the sweep runner) is imported.

    Why: importing a submodule for the first time makes the import system bind it on its package,
    ``setattr(collapsim, "sweep", <module collapsim.sweep>)``; it happens inside every sweep, and it would
    replace the function by the module for the rest of the process. This type lets that one binding pass
    by: the module still lives in ``sys.modules`` and is imported by its full name (``from collapsim.sweep
    import SweepSpec``, ``importlib.import_module("collapsim.sweep")``), while the attribute ``sweep`` is
    left to :func:`__getattr__`. Renaming the submodule instead would change the import path that every
    module, test and benchmark of the sweep uses. The price: ``from collapsim import sweep`` and ``import
    collapsim.sweep as sw`` give the function, not the module (both read the package's attribute).
    """

    def __setattr__(self, name, value):
        if name == "sweep" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
