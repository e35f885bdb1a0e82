"""The engine, the lowest layer: one step for every model family and data policy, and three drivers over it.

Every collapse experiment is the same loop::

    model_0 = init(key, params)                          # the truth, or a base model
    for t in 1..T:
        synthetic = sample(key, model_{t-1}, n, params)  # after decoding (temperature, top-k, top-p)
        fresh     = sample_real(key, params, n)          # the truth as a data source (if the policy needs it)
        data_t    = policy(synthetic, fresh, real_0, pool, alpha_t, t)   (collapsim.engine.policies)
        model_t   = fit(key, model_{t-1}, data_t, weight, params)
        record metrics(key, model_t, params)

A model family is a :class:`Family` of pure functions built by a factory that closes over static settings
(sizes, switches); everything sweepable (the truth, temperature, ...) travels in the ``params`` pytree of
arrays, so a new value never recompiles. :func:`make_step` composes a family and a policy into the one public
``step(carry, (key, alpha_t, t)) -> (carry, metrics)``; three drivers run it and all return
metric -> array (chains, T + 1), index t = generation t (generation 0 is the initial model):

- :func:`run_loop`: ``lax.scan`` over generations, ``vmap`` over chains, chunks of chains spread over the
  local devices (:func:`dispatch`);
- :func:`run_grid`: the same for a batch of parameter pytrees, (grid point, chain) flattened onto one axis;
- :func:`run_host`: a Python loop over generations calling the jitted step, the carry checkpointed after every
  generation and resumed on a re-run (for fits that are training loops).

Randomness: chain i of a run with base ``seed`` uses key ``split(key(seed), seeds)[i]``, whatever the chunk,
device count, driver or grid point (so grid points share random numbers, which sharpens comparisons). Within
a generation the synthetic draw uses key_t and every other consumer ``fold_in(key_t, TAG)`` of its own tag;
keys nobody uses are dead code that XLA removes, so the common replace loop derives none.

Rooms: :mod:`~collapsim.engine.step` (``Family``, ``LoopConfig``, the step), :mod:`~collapsim.engine.drivers`
(the three drivers), :mod:`~collapsim.engine.devices` (chunks of chains over devices),
:mod:`~collapsim.engine.policies`, :mod:`~collapsim.engine.schedules` (alpha_t),
:mod:`~collapsim.engine.rng` and :mod:`~collapsim.engine.decoding` (temperature, top-k, top-p). The engine
imports nothing above it and writes no file (the host driver's checkpoints go through a writer it is handed).
"""

import importlib

#: name -> the room it lives in; imported on first use (PEP 562), so that importing a light room such as
#: :mod:`collapsim.engine.policies` does not load JAX (the CLI lists the policies before it may).
_PUBLIC = {
    **dict.fromkeys(("CALL_POINTS_PER_DEVICE", "default_chunk", "dispatch", "one_blas_thread"), "devices"),
    **dict.fromkeys(("Checkpoint", "check_finite", "run_grid", "run_host", "run_loop"), "drivers"),
    **dict.fromkeys(("POLICIES", "SHORTCUT_POLICIES"), "policies"),
    **dict.fromkeys(("Carry", "Family", "LoopConfig", "REWARD_TEMPERATURE", "bradley_terry_winners", "curated_sample", "init_carry", "is_recorded", "make_step", "metrics_at",
                     "recorded_generations", "sparse_metrics", "validate_loop"), "step"),
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"collapsim.engine.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
