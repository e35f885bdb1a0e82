"""A run spec to per-chain metrics: validate and resolve (:func:`resolve`), simulate by the spec's driver
(:func:`simulate`). The families' differences live in their entries (:mod:`collapsim.runs.registry`);
writing the run folder is :func:`collapsim.output.run.execute`'s.
"""

from __future__ import annotations

import contextlib
from typing import Optional

from collapsim.errors import ConfigError
from collapsim.runs.registry import check_float_ranges, check_memory, entry, with_defaults
from collapsim.runs.spec import RunSpec


def resolve(spec: RunSpec):
    """(the spec with defaults filled in and the method resolved, its registry entry, its Loop)."""
    spec = with_defaults(spec)
    spec.validate()
    e = entry(spec.family)
    if spec.precision != "float32" and e.driver == "host":
        raise ConfigError(f"--precision {spec.precision} applies to the scan families; {spec.family} trains in "
                          "float32 (a host training loop)")
    # The families store their parameters in float32 at either precision (float64 widens the state the loop
    # computes, not the truth it starts from): 1e39 would be inf after the run.
    check_float_ranges(spec, "float32")
    if e.check is not None:
        e.check(spec)
    check_memory(spec)
    spec.alpha_schedule()  # a bad schedule is refused before any work
    loop = e.build(spec)
    if spec.curate > 1:
        loop = with_reward_temperature(spec, loop)
    return spec.replace(method="shortcut" if loop.shortcut else "explicit"), e, loop


def loop_config(spec: RunSpec, loop):
    """The engine's static loop settings for a resolved spec and its Loop."""
    from collapsim.engine import LoopConfig

    return LoopConfig(spec.policy, spec.samples, spec.generations, loop.shortcut, spec.metrics_every, spec.curate)


def with_reward_temperature(spec: RunSpec, loop):
    """The Loop with beta = ``spec.reward_temperature`` in its parameters (``engine.REWARD_TEMPERATURE``), where
    the curated step reads it; a family that cannot curate is refused in one line."""
    import numpy as np

    from collapsim.engine import REWARD_TEMPERATURE

    if loop.family.reward is None:
        raise ConfigError(f"--curate {spec.curate}: family {spec.family!r} has no reward to curate by")
    if not isinstance(loop.params, dict):
        raise ConfigError(f"--curate {spec.curate}: family {spec.family!r} keeps no parameter dict for the reward temperature")
    return loop._replace(params={**loop.params, REWARD_TEMPERATURE: np.float32(spec.reward_temperature)})


def recorded(spec: RunSpec, loop) -> dict:
    """metric -> bool (T + 1,) of the generations that hold a value, for the metrics recorded only every
    ``spec.metrics_every``-th generation (empty when every metric is recorded every generation)."""
    from collapsim.engine import sparse_metrics

    return sparse_metrics(loop.family, loop_config(spec, loop))


def simulate(spec: RunSpec, loop, progress=None, checkpoint: Optional[str] = None) -> dict:
    """Per-chain metrics, metric -> (seeds, T + 1), by the spec's driver; a metric recorded only every k-th
    generation (:func:`recorded`) is NaN at the others."""
    import jax

    from collapsim.engine import check_finite, run_host, run_loop
    from collapsim.files.checkpoint import NpzCheckpoint

    cfg = loop_config(spec, loop)
    alpha = spec.alpha_schedule()
    # x64 scoped to this run (a later float32 run in the process is unchanged); a float32 run enters no
    # context at all, so it runs exactly as before the option existed.
    with jax.enable_x64(True) if spec.precision == "float64" else contextlib.nullcontext():
        params = with_precision(loop.params, spec.precision)
        if spec.driver == "host":
            writer = NpzCheckpoint(checkpoint, spec.to_json()) if checkpoint else None
            out = run_host(loop.family, cfg, params, alpha, spec.seeds, spec.seed, checkpoint=writer, progress=progress)
        else:
            out = run_loop(loop.family, cfg, params, alpha, spec.seeds, spec.seed, progress=progress)
    check_finite(out, recorded(spec, loop))
    return out


def with_precision(params, precision: str):
    """The family's parameter pytree with its floating leaves in ``precision`` (integer leaves unchanged).

    The families build their parameters in float32; under float64 every array the loop makes from them
    (draws, fits, metrics) follows their dtype by JAX's promotion rules."""
    import jax
    import numpy as np

    if precision == "float32":
        return params
    return jax.tree.map(lambda a: np.asarray(a, np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else a,
                        params)


def device_layout() -> dict:
    import jax

    devices = jax.local_devices()
    return {"backend": jax.default_backend(), "devices": len(devices), "kind": devices[0].device_kind}
