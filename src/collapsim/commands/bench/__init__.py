"""``collapsim bench``: the same simulation timed against reference implementations in one run (ratios only;
the machines are noisy). The GPT-2 benchmarks are :mod:`~collapsim.commands.bench.llm` (forward, sampling,
training against PyTorch) and :mod:`~collapsim.commands.bench.llm_generation`."""
