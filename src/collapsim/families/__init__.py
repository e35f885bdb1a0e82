"""Model families: one module (or package) per family, each with its :class:`collapsim.engine.Family`
factory and, at its end, its ``ENTRY`` (:class:`~collapsim.families.entry.Entry`: options, build, theory
adapter, title, footprint, collapse criterion, default sweep summary, smallest legal case).

To add a family, write ``collapsim/families/<name>.py`` ending in an ``ENTRY`` and add its module name to
:data:`FAMILIES`: ``collapsim run <name>``, ``collapsim sweep <name>`` and the contract test
(``tests/test_engine_contract.py``) pick it up from there.
"""

#: The family modules, in the order the CLI lists them (the one registration line per family).
FAMILIES = ("gaussian", "categorical", "llm", "regression", "kde", "gmm", "ngram")
