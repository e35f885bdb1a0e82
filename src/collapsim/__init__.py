"""collapsim: a theory simulator for model collapse.

The package is deliberately light to import: the CLI, the replay solver and the GPT-2 backend load only
what they need. Its layers, lowest first (each imports only from the layers below it; the contract is
``[tool.importlinter]`` in pyproject.toml, checked by the test suite): :mod:`collapsim.errors` and the
base utilities (:mod:`~collapsim.schema`, :mod:`~collapsim.memory`, :mod:`collapsim.files`); the engine
(:mod:`collapsim.engine`); theory (:mod:`collapsim.theory`), the GPT-2 backend (:mod:`collapsim.gpt2`),
integrity metrics (:mod:`collapsim.metrics`) and replay games (:mod:`collapsim.replay`); the families
(:mod:`collapsim.families`, one entry each); the run layer (:mod:`collapsim.runs`); sweeps
(:mod:`collapsim.sweeps`); output (:mod:`collapsim.output`); the commands (:mod:`collapsim.commands`) and
this Python API. The Python API,
``collapsim.run``, ``collapsim.sweep`` and ``collapsim.load`` (:mod:`collapsim.api`), loads on first use.
"""

__version__ = "0.1.0"

_API = ("run", "sweep", "load")


def __getattr__(name: str):
    """``collapsim.run``, ``collapsim.sweep``, ``collapsim.load``: imported when first asked for."""
    if name in _API:
        from collapsim import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
