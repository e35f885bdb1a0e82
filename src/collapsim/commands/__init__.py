"""The command layer, the highest: the click front end (:mod:`~collapsim.commands.cli`), the console entry
point that sets up the process first (:mod:`~collapsim.commands.launch`, :mod:`~collapsim.commands.heap`),
shared option types (:mod:`~collapsim.commands.options`), and one module per command: ``run`` (one command per
family, built from the entries), ``sweep``, ``llm`` (the GPT-2 backend's tools), ``replay`` and ``bench``
(:mod:`collapsim.commands.bench`).

No simulation code lives here: a command parses options into a :class:`~collapsim.runs.spec.RunSpec` (or a
sweep spec) and hands it to :func:`collapsim.output.run.execute` (or
:func:`collapsim.output.sweep_folder.execute_sweep`).
"""
