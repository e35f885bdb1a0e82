"""Sweeps: a grid over a family's parameters x seeds, in resumable chunks (see :mod:`collapsim.sweeps.run`).

Rooms: :mod:`~collapsim.sweeps.spec` (axes, the grid, validation), :mod:`~collapsim.sweeps.plan` (points
grouped by compiled shape, chunks sized to memory), :mod:`~collapsim.sweeps.chunks` (resumable chunk files),
:mod:`~collapsim.sweeps.exchange` (several processes), :mod:`~collapsim.sweeps.collapse` (the until-collapse
driver) and :mod:`~collapsim.sweeps.run` (running a sweep into its partial folder). The output folder is
written by :mod:`collapsim.output.sweep_folder`.
"""
