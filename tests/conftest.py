"""Suite-wide settings: the ``collapsim`` commands that tests start as subprocesses run without JAX's
persistent compilation cache (:mod:`collapsim.commands.compile_cache`), so the suite never writes into the
user's ``~/.cache/collapsim/jax``; tests/test_compile_cache.py switches it on in a temporary folder."""

import os

os.environ.setdefault("COLLAPSIM_NO_COMPILE_CACHE", "1")

# The ``collapsim`` subprocesses that tests start run on one host device. A command asks XLA for one device per
# core (commands.options.use_all_cores), and XLA compiles each program once per host device; under pytest-xdist
# the workers already use every core, so a second device only doubled each subprocess's compilation. Results do
# not depend on the device count: tests/test_devices.py (1, 2 and 3 devices) and the two-device tests set their
# own XLA_FLAGS, which wins. In-process tests see one device either way (nothing imports JAX before this file).
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
