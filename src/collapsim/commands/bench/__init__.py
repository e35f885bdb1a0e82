"""``collapsim bench``: the same simulation timed against reference implementations in one run (ratios only;
the machines are noisy). The GPT-2 benchmark lives with the backend in :mod:`collapsim.commands.bench.llm`."""
