"""collapsim: a theory simulator for model collapse.

The package is deliberately light to import: the CLI, the replay solver and the GPT-2 backend load only
what they need. The generation loop lives in :mod:`collapsim.engine`, model families in
:mod:`collapsim.families`, closed-form predictions in :mod:`collapsim.theory`.
"""

__version__ = "0.1.0"
