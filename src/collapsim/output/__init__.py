"""The output layer: run folders (:mod:`~collapsim.output.runfolder`: config.json, metrics.csv,
figure.png), a sweep's table and figures (:mod:`~collapsim.output.sweep_table`,
:mod:`~collapsim.output.sweep_plots`) and the figures of a run (:mod:`~collapsim.output.plots`)."""
