"""The learner contract over every registered family (DESIGN habit 7), read from the registry
(:data:`collapsim.runs.registry.ENTRIES`, built from :data:`collapsim.families.FAMILIES`), so a family a user
registers is covered with no edit here. Each family runs through the run layer (``RunSpec`` ->
``execute.resolve`` -> ``execute.simulate``) under every policy, on both drivers (host only for a family whose
fit is a training loop, ``Entry.driver == "host"``):

- shapes (chains, T + 1), finite numbers, the same seed giving the same numbers, another seed other numbers,
  and the scan driver equal to the host-loop driver bit for bit;
- 200 generations at each of the family's smallest legal cases (``Entry.smallest``): finite numbers or a
  one-line refusal (a ``NumericalError`` or any NaN/inf fails);
- a refusal (``ConfigError`` in one line) is a legal outcome, except for the plain ``replace`` loop, which
  every family must run (otherwise a family whose every case is refused would be "covered" by nothing).

Compiling is what costs time here (one program per family, policy, method and size), so by default each scan
family runs only its first smallest case, under every policy with the method ``auto`` picks, on the scan
driver: 200 generations, shapes, finiteness, the same seed twice and another seed, from one compilation. The
slow set adds the host driver's equality with it there, the other smallest cases, the other method, every
policy x method x driver at the entry's own defaults (few generations and seeds), and the host-driver
families (GPT-2). By default the drivers' equality is checked on the toy family below.

Below, the engine-level tests that do not depend on the registry: a toy family whose data is an (x, y)
pytree and whose truth is not a model of the family, the grid driver, the host driver's checkpoint, and
validation.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from collapsim.engine import Family, LoopConfig, run_grid, run_host, run_loop
from collapsim.engine.policies import ALPHA_POLICIES, POLICIES
from collapsim.errors import ConfigError
from collapsim.families import gaussian as gauss
from collapsim.files.checkpoint import NpzCheckpoint
from collapsim.runs.execute import resolve, simulate
from collapsim.runs.registry import ENTRIES
from collapsim.runs.spec import RunSpec

#: The registry contract's sizes: a few chains and generations at the entry's defaults; 200 generations and
#: a handful of chains at its smallest cases.
FEW = {"generations": 3, "seeds": 2, "seed": 3}
COLLAPSE = {"generations": 200, "seeds": 8, "seed": 1}
#: alpha_t for the policies that read it: from 0.5 down to 0.0025 over 200 generations, so both a large
#: share of real data and nearly none are exercised.
ALPHA = "0.5/t"
#: The spec fields a smallest case may set beside the family's options.
SPEC_FIELDS = {f.name for f in dataclasses.fields(RunSpec)} - {"family", "family_options", "params"}


def _smallest(entry) -> tuple:
    """The entry's smallest cases as a tuple of dicts (one dict alone counts as one case)."""
    return (entry.smallest,) if isinstance(entry.smallest, Mapping) else tuple(entry.smallest)


def _spec(entry, policy: str, method: str, sizes: dict, case: Mapping = {}) -> RunSpec:
    """The entry's defaults, then ``sizes``, then ``case`` (spec fields and family options by name)."""
    options = {o.name: o for o in entry.options}
    given = {**entry.defaults, **sizes, "policy": policy, "method": method,
             "alpha": ALPHA if policy in ALPHA_POLICIES else "none", **case}
    fields, sections = {}, {"family_options": {}, "params": {}}
    for key, value in given.items():
        if key in options:
            sections[options[key].target][key] = value
        elif key in SPEC_FIELDS:
            fields[key] = value
        else:
            pytest.fail(f"{entry.name}: {key!r} (in its defaults or smallest case) is neither a RunSpec field nor "
                        "an option of the family")
    return RunSpec(entry.name, **sections, **fields)


def _drivers(entry) -> tuple:
    return ("host",) if entry.driver == "host" else ("scan", "host")


def _check_refusal(err: ConfigError, spec: RunSpec) -> None:
    message = str(err)
    assert message and "\n" not in message, f"a refusal must be one line, got {message!r}"
    assert not (spec.policy == "replace" and spec.method != "shortcut"), \
        f"{spec.family} refused its plain replace loop ({spec.method}): {message}"


def _assert_identical(a: dict, b: dict, what: str) -> None:
    assert set(a) == set(b), f"{what}: different metrics {sorted(set(a) ^ set(b))}"
    for metric, values in a.items():
        np.testing.assert_array_equal(values, b[metric], err_msg=f"{metric}: {what}")


def _contract(spec: RunSpec, drivers: tuple, repeat: bool = True) -> None:
    """Run ``spec`` through the run layer and check the contract; a refusal in one line passes.

    ``repeat``: also run it again (the same numbers), under a different seed (other numbers) and under the
    other drivers (the same numbers); without, one run's shapes and finiteness."""
    try:
        spec, _, loop = resolve(spec)
        first = spec.replace(driver=drivers[0])
        out = simulate(first, loop)  # a NumericalError (a non-finite metric) fails the test here
    except ConfigError as err:
        _check_refusal(err, spec)
        return
    assert out, "no metrics recorded"
    for metric, values in out.items():
        assert values.shape == (spec.seeds, spec.generations + 1), (metric, values.shape)
        bad = ~np.isfinite(values)
        assert not bad.any(), f"{metric} non-finite at (chain, generation) {np.argwhere(bad)[:3].tolist()}"
    if not repeat:
        return
    _assert_identical(out, simulate(first, loop), "same seed, different output")
    for driver in drivers[1:]:
        _assert_identical(out, simulate(spec.replace(driver=driver), loop), f"{drivers[0]} and {driver} drivers differ")
    other = simulate(first.replace(seed=spec.seed + 1), loop)
    assert any(not np.array_equal(v[:, 1:], other[m][:, 1:]) for m, v in out.items()), \
        "a different seed gave identical output"


#: What the 200-generation test runs at a smallest case: "scan", the method auto picks on the scan driver
#: alone (the default set for the first case of each scan family, the slow set for the others); "drivers", the
#: same on every driver, and "other", the method auto did not pick on every driver (slow, first case, replace).
VARIANTS = ("scan", "drivers", "other")


def _smallest_cases():
    for name, entry in ENTRIES.items():
        if entry.driver == "host":
            # A training loop per generation (GPT-2): 200 generations under every policy took over 20 minutes
            # of CPU for the micro preset, past CI's budget; its loop is covered by the policy x method x driver
            # test at the entry's defaults (below) and by tests/llm/test_gpt2_loop.py.
            continue
        for i, case in enumerate(_smallest(entry)):
            for policy in POLICIES:
                for variant in VARIANTS:
                    default = entry.driver == "scan" and i == 0 and variant == "scan"
                    # Every case and policy runs on the scan driver (the collapse check); the host driver and
                    # the other method over 200 generations run for the first case under replace only (about
                    # 15 s each on 2 cores; every policy x method x driver is checked at the entry's defaults).
                    if variant != "scan" and (i > 0 or policy != "replace"):
                        continue
                    yield pytest.param(name, i, policy, variant, id=f"{name}-smallest{i}-{policy}-{variant}",
                                       marks=() if default else (pytest.mark.slow,))


@pytest.mark.parametrize("name,case,policy,variant", list(_smallest_cases()))
def test_every_family_and_policy_at_its_smallest_case_for_200_generations(name, case, policy, variant):
    """Collapse is a legal state: no NaN or inf at the smallest n. A scan family also repeats the run (same
    seed, another seed, the other driver); a host-driver family (a training loop per generation) runs once."""
    entry = ENTRIES[name]
    spec = _spec(entry, policy, "auto", COLLAPSE, _smallest(entry)[case])
    if variant == "other":
        try:
            picked = resolve(spec)[0].method
        except ConfigError as err:
            _check_refusal(err, spec)
            return
        spec = spec.replace(method="shortcut" if picked == "explicit" else "explicit")
    drivers = ("scan",) if variant == "scan" else _drivers(entry)
    _contract(spec, drivers, repeat=entry.driver == "scan")


def _default_cases():
    for name, entry in ENTRIES.items():
        # A training loop per generation (GPT-2) takes about 4 minutes a policy here: replace only, in the slow
        # set; tests/llm/test_gpt2_loop.py runs its loop under mix and accumulate-subsample.
        for policy in POLICIES if entry.driver == "scan" else ("replace",):
            for method in ("explicit", "shortcut"):
                yield pytest.param(name, policy, method, id=f"{name}-{policy}-{method}", marks=pytest.mark.slow)


@pytest.mark.parametrize("name,policy,method", list(_default_cases()))
def test_every_family_policy_method_and_driver_at_the_entry_defaults(name, policy, method):
    entry = ENTRIES[name]
    _contract(_spec(entry, policy, method, FEW), _drivers(entry))


@pytest.mark.parametrize("name", list(ENTRIES))
def test_every_family_has_a_smallest_case_of_known_fields(name):
    """The 200-generation case is the family's own: without one the family would go untested at small n."""
    entry = ENTRIES[name]
    cases = _smallest(entry)
    assert cases and all(isinstance(c, Mapping) and c for c in cases), f"{name}: smallest = {entry.smallest!r}"
    for case in cases:
        _spec(entry, "replace", "auto", COLLAPSE, case)  # fails on a key that is neither a field nor an option


# --- engine level: no registry ----------------------------------------------------------------------------

T, N, SEEDS = 6, 12, 5


def pairs_family() -> Family:
    """A toy learner: y = slope * x fitted to data from a truth y = sin(3 x) + noise it cannot represent.

    Exercises every part of the contract: data is an (x, y) pytree; ``init`` fits generation 0 on a real
    sample (the truth is not a model); ``fit`` uses its key (a random half of the rows) and the previous model
    (a warm start, averaged in); ``metrics`` uses its key (a Monte Carlo risk against the truth).
    """

    def sample_real(key, params, n):
        kx, ke = jax.random.split(key)
        x = jax.random.uniform(kx, (n,), minval=-1.0, maxval=1.0)
        return {"x": x, "y": jnp.sin(params["freq"] * x) + params["noise"] * jax.random.normal(ke, (n,))}

    def sample(key, model, n, params):
        kx, ke = jax.random.split(key)
        x = jax.random.uniform(kx, (n,), minval=-1.0, maxval=1.0)
        return {"x": x, "y": model["slope"] * x + params["noise"] * jax.random.normal(ke, (n,))}

    def least_squares(key, data, weight):
        half = (jax.random.uniform(key, data["x"].shape) < 0.5).astype(jnp.float32) + 1e-3
        w = half if weight is None else half * weight
        return jnp.sum(w * data["x"] * data["y"]) / jnp.sum(w * data["x"] ** 2)

    def init(key, params):
        return {"slope": least_squares(key, sample_real(key, params, 64), None)}

    def fit(key, previous, data, weight, params):
        return {"slope": 0.5 * previous["slope"] + 0.5 * least_squares(key, data, weight)}

    def metrics(key, model, params):
        x = jax.random.uniform(key, (256,), minval=-1.0, maxval=1.0)
        return {"slope": model["slope"], "risk": jnp.mean((model["slope"] * x - jnp.sin(params["freq"] * x)) ** 2)}

    return Family("pairs", init, sample_real, sample, fit, metrics)


def pairs_params():
    return {"freq": jnp.float32(3.0), "noise": jnp.float32(0.1)}


#: One pairs family for the tests below: compiled programs are cached per family object and loop settings,
#: so the tests that share PAIRS and a LoopConfig share one compilation (compiling is what costs time here).
PAIRS = pairs_family()
#: The loop settings most tests below share (a pool in the carry, so the checkpoint round-trips one).
SHARED = LoopConfig("accumulate-subsample", N, T)


def _pytree_cases():
    # The shared policy by default; the registry's regression family, whose data is an (x, y) pytree too,
    # takes every policy by default.
    for policy in POLICIES:
        yield pytest.param(policy, marks=() if policy == SHARED.policy else (pytest.mark.slow,))


@pytest.mark.parametrize("policy", list(_pytree_cases()))
def test_a_pytree_family_through_every_policy_and_driver(policy):
    """(x, y) data through every policy's row selection and buffer; the engine called directly."""
    cfg = LoopConfig(policy, N, T)
    alpha = np.linspace(0.5, 0.1, T)
    out = run_loop(PAIRS, cfg, pairs_params(), alpha, SEEDS, seed=3)
    host = run_host(PAIRS, cfg, pairs_params(), alpha, SEEDS, seed=3)
    other = run_loop(PAIRS, cfg, pairs_params(), alpha, SEEDS, seed=4)
    assert set(out) == set(host) == {"slope", "risk"}
    for metric, values in out.items():
        assert values.shape == (SEEDS, T + 1) and np.all(np.isfinite(values)), metric
        np.testing.assert_array_equal(values, host[metric], err_msg=f"{metric}: scan and host-loop drivers differ")
    assert any(not np.array_equal(out[m][:, 1:], other[m][:, 1:]) for m in out), "a different seed gave identical output"


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
def test_a_pytree_family_at_n_1_for_200_generations(policy):
    out = run_loop(PAIRS, LoopConfig(policy, 1, 200), pairs_params(), np.full(200, 0.05), 8, seed=1)
    for metric, values in out.items():
        assert np.all(np.isfinite(values)), (metric, np.argwhere(~np.isfinite(values))[:3])


def test_grid_driver_equals_run_loop_at_every_point():
    """Each grid point runs with its own parameters (and alpha schedule, indexed alike), in chunks of 4 chains
    where run_loop runs one chunk of 5: the grid program and the chunking (a padded last chunk) at once."""
    batch = {"freq": jnp.asarray([1.0, 3.0, 5.0], jnp.float32), "noise": jnp.asarray([0.1, 0.5, 0.1], jnp.float32)}
    alphas = np.stack([np.full(T, a) for a in (0.0, 0.2, 0.5)])
    grid = run_grid(PAIRS, SHARED, batch, alphas, SEEDS, seed=2, chunk=4)
    for g in range(3):
        single = run_loop(PAIRS, SHARED, {k: v[g] for k, v in batch.items()}, alphas[g], SEEDS, seed=2)
        assert set(single) == set(grid)
        for metric, values in single.items():
            np.testing.assert_array_equal(grid[metric][g], values, err_msg=f"point {g} {metric}")
    assert not np.array_equal(grid["risk"][0], grid["risk"][1]), "the grid points shared their parameters"


def test_host_driver_resumes_from_its_checkpoint(tmp_path):
    params = pairs_params()
    whole = run_host(PAIRS, SHARED, params, np.zeros(T), SEEDS, seed=9)
    ckpt = str(tmp_path / "state.npz")

    class Killed(Exception):
        pass

    def die_after_3(t):
        if t == 3:
            raise Killed

    with pytest.raises(Killed):
        run_host(PAIRS, SHARED, params, np.zeros(T), SEEDS, seed=9, checkpoint=NpzCheckpoint(ckpt, "a"),
                 progress=die_after_3)
    with pytest.raises(ConfigError, match="different run"):
        run_host(PAIRS, SHARED, params, np.zeros(T), SEEDS, seed=9, checkpoint=NpzCheckpoint(ckpt, "b"))
    seen = []
    resumed = run_host(PAIRS, SHARED, params, np.zeros(T), SEEDS, seed=9, checkpoint=NpzCheckpoint(ckpt, "a"),
                       progress=seen.append)
    assert seen == [4, 5, 6], "the resumed run should start after the checkpointed generation"
    for metric in whole:
        np.testing.assert_array_equal(whole[metric], resumed[metric])


def test_a_family_whose_fit_is_a_host_loop_runs_under_the_host_driver_only(tmp_path):
    """jittable=False (GPT-2's case): run_host steps each chain eagerly, checkpoints and resumes; the scan
    driver refuses it. Same keys, so the numbers equal the jitted run's up to float32 rounding."""
    eager = PAIRS._replace(jittable=False)
    cfg, alpha, params = SHARED, np.zeros(T), pairs_params()
    with pytest.raises(ConfigError, match="host-loop driver"):
        run_loop(eager, cfg, params, alpha, SEEDS)
    ckpt = str(tmp_path / "state.npz")

    def stop_at_2(t):
        if t == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_host(eager, cfg, params, alpha, SEEDS, seed=5, checkpoint=NpzCheckpoint(ckpt, "x"), progress=stop_at_2)
    resumed = run_host(eager, cfg, params, alpha, SEEDS, seed=5, checkpoint=NpzCheckpoint(ckpt, "x"))
    jitted = run_loop(PAIRS, cfg, params, alpha, SEEDS, seed=5)
    for metric, values in jitted.items():
        np.testing.assert_allclose(resumed[metric], values, rtol=1e-5, atol=1e-6, err_msg=metric)


def _loop(family: str, **fields):
    """A registered family's Loop (its Family and parameter pytree), built by the run layer."""
    return resolve(RunSpec(family, **{"samples": N, "generations": T, "seeds": SEEDS, **fields}))[2]


def test_shortcut_mix_with_full_covariance_is_refused_by_the_library():
    """The old engine computed this configuration wrongly (sigma2 0.885 where theory gives 0.7895)."""
    with pytest.raises(ConfigError, match="does not support the shortcut"):
        run_loop(gauss.gaussian(3, "full", 0), LoopConfig("mix", 6, 10, True), gauss.default_params(3), np.full(10, 0.1), 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(policy="nope"), "unknown policy"), (dict(samples=0), "samples"), (dict(generations=0), "generations")],
)
def test_bad_loop_config_is_a_config_error(kwargs, match):
    loop = _loop("gaussian")
    base = dict(policy="replace", samples=N, generations=T)
    base.update(kwargs)
    cfg = LoopConfig(base["policy"], base["samples"], base["generations"])
    with pytest.raises(ConfigError, match=match):
        run_loop(loop.family, cfg, loop.params, np.zeros(max(base["generations"], 0)), SEEDS)


def test_alpha_outside_unit_interval_is_rejected():
    loop = _loop("gaussian")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        run_loop(loop.family, LoopConfig("mix", N, T), loop.params, np.full(T, 1.5), SEEDS)


@pytest.mark.slow  # a compilation for chunks of 3; the grid test compares chunks of 4 with one of 5 by default
def test_results_do_not_depend_on_chunking():
    whole = run_loop(PAIRS, SHARED, pairs_params(), np.zeros(T), SEEDS, seed=1)
    chunked = run_loop(PAIRS, SHARED, pairs_params(), np.zeros(T), SEEDS, seed=1, chunk=3)
    for metric in whole:
        np.testing.assert_array_equal(whole[metric], chunked[metric])
