"""The command layer: click commands built from the registry (``run``) and the benchmarks (``bench``).

No simulation code lives here; a command parses options into a :class:`~collapsim.runs.spec.RunSpec` and hands
it to :func:`collapsim.output.run.execute`.
"""
