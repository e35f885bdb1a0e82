"""The learner contract, over every registered family x policy x method x driver (DESIGN habit 7): shapes,
finiteness, determinism, and the scan driver equal to the host-loop driver; plus a family whose truth is not
a model of the family and whose data is an (x, y) pytree, the grid driver, and validation."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from collapsim.engine import POLICIES, Family, LoopConfig, run_grid, run_host, run_loop
from collapsim.errors import ConfigError
from collapsim.families import REGISTRY
from collapsim.families import gaussian as gauss
from collapsim.families.gmm import gmm, make_params as gmm_params, two_component_truth
from collapsim.families.kde import kde, make_params as kde_params
from collapsim.families.regression import default_params as regression_params, regression

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


FAMILIES = {**REGISTRY, "pairs": (pairs_family, pairs_params)}


#: Families whose step takes ~10 s to compile (EM): their replace case runs by default, the other policies
#: with the slow set, to keep the default suite's time.
SLOW_TO_COMPILE = {"gmm"}


def _cases():
    for name, (build, _) in FAMILIES.items():
        family = build()
        for policy in POLICIES:
            marks = (pytest.mark.slow,) if name in SLOW_TO_COMPILE and policy != "replace" else ()
            for method in ("explicit", "shortcut"):
                if method == "shortcut" and not (family.refit_mixture and family.supports(policy, method, N)):
                    continue
                yield pytest.param(name, policy, method == "shortcut", id=f"{name}-{policy}-{method}", marks=marks)


@pytest.mark.parametrize("name,policy,shortcut", list(_cases()))
def test_every_family_policy_method_and_driver(name, policy, shortcut):
    build, params = FAMILIES[name]
    family = build()
    cfg = LoopConfig(policy, N, T, shortcut)
    alpha = np.linspace(0.5, 0.1, T)
    out = run_loop(family, cfg, params(), alpha, SEEDS, seed=3)
    again = run_loop(family, cfg, params(), alpha, SEEDS, seed=3)
    other = run_loop(family, cfg, params(), alpha, SEEDS, seed=4)
    host = run_host(family, cfg, params(), alpha, SEEDS, seed=3)
    assert out and set(host) == set(out), "no metrics recorded, or the drivers record different ones"
    for metric, values in out.items():
        assert values.shape == (SEEDS, T + 1), metric
        assert np.all(np.isfinite(values)), metric
        np.testing.assert_array_equal(values, again[metric], err_msg=f"{metric}: same seed, different output")
        np.testing.assert_array_equal(values, host[metric], err_msg=f"{metric}: scan and host-loop drivers differ")
    assert any(not np.array_equal(out[m][:, 1:], other[m][:, 1:]) for m in out), "a different seed gave identical output"


SMALLEST = [  # (id, build, params, smallest n the family allows)
    ("gaussian-d1-mle", lambda: gauss.gaussian(1, "full", 0), lambda: gauss.default_params(1), 2),
    ("gaussian-d8-full-mle-n9", lambda: gauss.gaussian(8, "full", 0), lambda: gauss.default_params(8), 9),
    ("gaussian-d8-full-mle-n2", lambda: gauss.gaussian(8, "full", 0), lambda: gauss.default_params(8), 2),
    ("gaussian-d8-isotropic-unbiased", lambda: gauss.gaussian(8, "isotropic", 1), lambda: gauss.default_params(8), 2),
    ("categorical", *FAMILIES["categorical"], 1),
    ("categorical-decoded", *FAMILIES["categorical-decoded"], 1),
    ("pairs", pairs_family, pairs_params, 1),
    ("regression-d3-n1", lambda: regression(3, 1), lambda: regression_params(3), 1),
    ("kde-n1", lambda: kde(1, 1), lambda: kde_params("gaussian", 1, 0.3), 1),
    ("kde-moons-n1", lambda: kde(2, 1, "moons"), lambda: kde_params("moons", 2, 0.1), 1),
    ("kde-blobs-n1", lambda: kde(2, 1, "blobs"), lambda: kde_params("blobs", 2, 0.3), 1),
    ("gmm-diag-warm-n1", *FAMILIES["gmm"], 1),
    ("gmm-diag-kmeans-n1", lambda: gmm(1, 2, "diag", "kmeans++", 10), lambda: gmm_params(*two_component_truth(1), holdout_size=64), 1),
    ("gmm-full-n1", lambda: gmm(2, 2, "full", "kmeans++", 20), lambda: gmm_params(*two_component_truth(2), holdout_size=64), 1),
    ("gmm-diag-warm-k3-n1", lambda: gmm(1, 3, "diag", "warm", 20), lambda: gmm_params(*two_component_truth(1), holdout_size=64), 1),
    ("gmm-random-n2", lambda: gmm(2, 2, "full", "random", 20), lambda: gmm_params(*two_component_truth(2), holdout_size=64), 2),
    ("regression-fresh-ridge-d3-n1", lambda: regression(3, 1, "fresh"), lambda: regression_params(3, ridge=0.5), 1),
]


def _smallest_cases():
    # The hardest case runs by default; the rest (a minute or two of compiles) in the slow set.
    for case in SMALLEST:
        for policy in POLICIES:
            marks = () if case[0] == "gaussian-d8-full-mle-n9" else (pytest.mark.slow,)
            yield pytest.param(case, policy, marks=marks, id=f"{case[0]}-{policy}")


@pytest.mark.parametrize("case,policy", list(_smallest_cases()))
def test_collapse_is_a_legal_state_over_200_generations(case, policy):
    """No NaN or inf for any family and policy at its smallest sample size: collapsed models stay finite."""
    _, build, params, n = case
    family = build()
    methods = [False] + ([True] if family.refit_mixture and family.supports(policy, "shortcut", n) else [])
    for shortcut in methods:
        out = run_loop(family, LoopConfig(policy, n, 200, shortcut), params(), np.full(200, 0.05), 8, seed=1)
        for metric, values in out.items():
            assert np.all(np.isfinite(values)), (metric, shortcut, np.argwhere(~np.isfinite(values))[:3])


def test_grid_driver_equals_run_loop_at_every_point():
    family = FAMILIES["categorical-decoded"][0]()
    base = FAMILIES["categorical-decoded"][1]()
    temps = [0.6, 1.0, 1.4]
    batch = jax.tree.map(lambda a: jnp.stack([a] * len(temps)), base)
    batch["temperature"] = jnp.asarray(temps, jnp.float32)
    alphas = np.stack([np.full(T, a) for a in (0.0, 0.2, 0.5)])
    cfg = LoopConfig("mix", N, T)
    grid = run_grid(family, cfg, batch, alphas, 7, seed=2, chunk=4)
    for g, temp in enumerate(temps):
        params = dict(base, temperature=jnp.float32(temp))
        single = run_loop(family, cfg, params, alphas[g], 7, seed=2)
        for metric, values in single.items():
            np.testing.assert_array_equal(grid[metric][g], values, err_msg=f"point {g} {metric}")


def test_host_driver_resumes_from_its_checkpoint(tmp_path):
    family, params = FAMILIES["pairs"][0](), pairs_params()
    cfg = LoopConfig("accumulate-subsample", N, T)
    whole = run_host(family, cfg, params, np.zeros(T), SEEDS, seed=9)
    ckpt = str(tmp_path / "state.npz")

    class Killed(Exception):
        pass

    def die_after_3(t):
        if t == 3:
            raise Killed

    with pytest.raises(Killed):
        run_host(family, cfg, params, np.zeros(T), SEEDS, seed=9, checkpoint=ckpt, fingerprint="a", progress=die_after_3)
    with pytest.raises(ConfigError, match="different run"):
        run_host(family, cfg, params, np.zeros(T), SEEDS, seed=9, checkpoint=ckpt, fingerprint="b")
    seen = []
    resumed = run_host(family, cfg, params, np.zeros(T), SEEDS, seed=9, checkpoint=ckpt, fingerprint="a", progress=seen.append)
    assert seen == [4, 5, 6], "the resumed run should start after the checkpointed generation"
    for metric in whole:
        np.testing.assert_array_equal(whole[metric], resumed[metric])


def test_a_family_whose_fit_is_a_host_loop_runs_under_the_host_driver_only(tmp_path):
    """jittable=False (GPT-2's case): run_host steps each chain eagerly, checkpoints and resumes; the scan
    driver refuses it. Same keys, so the numbers equal the jitted run's up to float32 rounding."""
    eager = pairs_family()._replace(jittable=False)
    cfg = LoopConfig("mix", N, 4)
    with pytest.raises(ConfigError, match="host-loop driver"):
        run_loop(eager, cfg, pairs_params(), np.full(4, 0.3), 3)
    ckpt = str(tmp_path / "state.npz")

    def stop_at_2(t):
        if t == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_host(eager, cfg, pairs_params(), np.full(4, 0.3), 3, seed=5, checkpoint=ckpt, fingerprint="x", progress=stop_at_2)
    resumed = run_host(eager, cfg, pairs_params(), np.full(4, 0.3), 3, seed=5, checkpoint=ckpt, fingerprint="x")
    jitted = run_loop(pairs_family(), cfg, pairs_params(), np.full(4, 0.3), 3, seed=5)
    for metric, values in jitted.items():
        np.testing.assert_allclose(resumed[metric], values, rtol=1e-5, atol=1e-6, err_msg=metric)


def test_shortcut_mix_with_full_covariance_is_refused_by_the_library():
    """The old engine computed this configuration wrongly (sigma2 0.885 where theory gives 0.7895)."""
    with pytest.raises(ConfigError, match="does not support the shortcut"):
        run_loop(gauss.gaussian(3, "full", 0), LoopConfig("mix", 6, 10, True), gauss.default_params(3), np.full(10, 0.1), 4)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(policy="nope"), "unknown policy"), (dict(samples=0), "samples"), (dict(generations=0), "generations")],
)
def test_bad_loop_config_is_a_config_error(kwargs, match):
    build, params = REGISTRY["gaussian"]
    base = dict(policy="replace", samples=N, generations=T)
    base.update(kwargs)
    cfg = LoopConfig(base["policy"], base["samples"], base["generations"])
    with pytest.raises(ConfigError, match=match):
        run_loop(build(), cfg, params(), np.zeros(max(base["generations"], 0)), SEEDS)


def test_alpha_outside_unit_interval_is_rejected():
    build, params = REGISTRY["gaussian"]
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        run_loop(build(), LoopConfig("mix", N, T), params(), np.full(T, 1.5), SEEDS)


def test_results_do_not_depend_on_chunking():
    build, params = REGISTRY["gaussian"]
    cfg = LoopConfig("accumulate-subsample", N, T)
    whole = run_loop(build(), cfg, params(), np.zeros(T), 7, seed=1)
    chunked = run_loop(build(), cfg, params(), np.zeros(T), 7, seed=1, chunk=3)
    for metric in whole:
        np.testing.assert_array_equal(whole[metric], chunked[metric])
