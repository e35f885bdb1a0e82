"""The run layer: a run's spec (:mod:`~collapsim.runs.spec`), the families it can run
(:mod:`~collapsim.runs.registry`, the list of the families' entries), and the path from a spec to per-chain
metrics and their summary (:mod:`~collapsim.runs.execute`, :mod:`~collapsim.runs.summary`,
:mod:`~collapsim.runs.tails`). It writes no run folder; :mod:`collapsim.output` does."""
