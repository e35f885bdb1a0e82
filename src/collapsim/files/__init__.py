"""Writing to disk safely: the out-dir rule (:mod:`~collapsim.files.outdir`: staging, atomic publish,
locks), single output files (:mod:`~collapsim.files.outfile`) and the host driver's checkpoint file
(:mod:`~collapsim.files.checkpoint`). Below the engine: any layer may write through them."""
