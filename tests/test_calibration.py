"""The calibration machinery (theory.calibration, families.llm.calibration.fit_laws) on a count learner whose
n_eff is known exactly: the categorical family refits by the counts of n i.i.d. draws, so its law is
Multinomial(n, u) / n and n_eff = n (eq. C1 with equality). The same fit_laws / estimate_noise code the GPT-2
calibration runs; fixed seeds; tolerance 4 jackknife SE; and checks that the test would fail on plausible bugs
(measurement noise not removed, the 1 - sum m^2 normaliser dropped)."""

import math

import numpy as np
import pytest

from collapsim.families import categorical as cat
from collapsim.families.llm.calibration import fit_laws
from collapsim.theory import calibration as C

K, N, FITS = 12, 40, 300


@pytest.fixture(scope="module")
def learner():
    import jax.numpy as jnp

    import jax

    truth = cat.zipf_truth(K, 1.0)
    fam = cat.categorical(K)
    # compiled once (the GPT-2 family is called eagerly; 300 eager count fits would cost seconds)
    fam = fam._replace(sample_real=jax.jit(fam.sample_real, static_argnums=2), fit=jax.jit(fam.fit))
    return fam, cat.make_params(jnp.asarray(truth, jnp.float32)), np.asarray(truth, np.float64)


def _exact(key, model):
    return np.asarray(model["probs"], np.float64)


def _counted(m):
    """measure(key, model): the law read from m draws of the model (a noisy reading, like GPT-2's texts)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def read(key, probs):
        return jnp.bincount(cat.sample_tokens(key, probs, m), length=K) / m

    return lambda key, model: read(key, model["probs"])


def test_count_learner_n_eff_is_n_when_read_exactly(learner):
    family, params, u = learner
    est = C.estimate_noise(halves=fit_laws(family, params, N, FITS, _exact, seed=3))
    assert est.measurement == 0.0
    assert abs(est.n_eff - N) <= 4 * est.n_eff_se, (est.n_eff, est.n_eff_se)
    assert est.n_eff_se < 0.1 * N  # enough fits to say something
    # a bug that drops eq. C1's normaliser (1 - sum m^2, here ~0.75) would be caught: N sits outside its 4 SE
    wrong = 1.0 / (est.spread - est.measurement)
    assert abs(wrong - N) > 4 * est.n_eff_se, (wrong, est.n_eff_se)


def test_measurement_noise_is_removed(learner):
    family, params, u = learner
    halves = fit_laws(family, params, N, FITS, _counted(2 * N), seed=4)
    est = C.estimate_noise(halves=halves)
    assert est.measurement > 0
    assert abs(est.n_eff - N) <= 4 * est.n_eff_se, (est.n_eff, est.n_eff_se)
    # ignoring the measurement noise (each half reads m = 2N draws: the mean's extra variance is 1/(4N)) biases
    # n_eff to about 0.8 N, which the test sees
    naive = C.estimate_noise(laws=halves.mean(1))
    assert abs(naive.n_eff - N) > 4 * naive.n_eff_se, (naive.n_eff, naive.n_eff_se)


def test_jackknife_se_matches_the_spread_of_estimates():
    """Over 300 independent calibrations of S = 40 exact multinomial fits, the standard deviation of rho_hat
    is what the jackknife says (within 15%, the Monte Carlo error of a 300-sample SD being ~4%)."""
    rng = np.random.default_rng(7)
    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    rhos, ses = [], []
    for _ in range(300):
        laws = rng.multinomial(N, u, size=40) / N
        e = C.estimate_noise(laws=laws)
        rhos.append(e.rho)
        ses.append(e.rho_se)
    assert abs(np.mean(rhos) - 1 / N) < 4 * np.std(rhos) / np.sqrt(300)  # unbiased
    assert abs(np.std(rhos, ddof=1) / np.sqrt(np.mean(np.square(ses))) - 1) < 0.15


def test_forecast_band_brackets_the_forecast_and_shrinks_with_the_se():
    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    q = 0.9 * u + 0.1 / K
    alpha = np.zeros(6)
    wide = C.forecast(q, u, C.NoiseEstimate(1 / 200, 1 / 2000, u, 0, 0, 10), alpha, 500)
    none = C.forecast(q, u, C.NoiseEstimate(1 / 200, 0.0, u, 0, 0, 10), alpha, 500)
    for k in wide["forecast"]:
        assert np.all(wide["lo"][k] <= wide["forecast"][k] + 1e-12) and np.all(wide["forecast"][k] <= wide["hi"][k] + 1e-12)
        assert np.allclose(none["se"][k], 0.0)
    assert wide["se"]["gini_simpson"][-1] > 0
    z = C.forecast_error([1.0, 2.0], [0.3, 0.0], [0.7, 2.0], [0.4, 0.0])
    assert z[0] == pytest.approx(0.6) and np.isnan(z[1])


def test_predict_refuses_a_policy_it_does_not_cover_in_one_line():
    from click.testing import CliRunner

    from collapsim.commands.cli import main

    res = CliRunner().invoke(main, ["predict", "gpt2", "--policy", "accumulate"])
    assert res.exit_code == 2 and "accumulate" in res.output


@pytest.mark.slow  # pretrains the micro base in a fresh cache, 3 fine-tunes, a forecast: 351 s on the loaded 2-core machine
def test_predict_gpt2_writes_the_forecast_folder_without_a_loop(tmp_path, monkeypatch):
    import csv
    import json
    import subprocess
    import sys

    monkeypatch.setenv("COLLAPSIM_CACHE", str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "collapsim", "predict", "gpt2", "--preset", "micro", "--generations", "3",
           "--samples", "8", "--fits", "3", "--out", str(tmp_path / "f")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "forecast from calibration (n_eff = " in res.stdout and "no loop run" in res.stdout
    cfg = json.loads((tmp_path / "f" / "config.json").read_text())
    assert cfg["calibration"]["fits"] == 3 and cfg["kind"].startswith("approximate")
    rows = list(csv.DictReader(open(tmp_path / "f" / "forecast.csv")))
    assert {r["label"] for r in rows} == {"forecast", "band_lo", "band_hi", "calibration_se"}
    assert {r["kind"] for r in rows} == {"approximate"}
    first = (tmp_path / "f" / "forecast.csv").read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True)  # from the cached calibration: same numbers
    assert again.returncode == 0 and "calibrating" not in again.stderr
    assert (tmp_path / "f" / "forecast.csv").read_bytes() == first


def test_count_learner_has_the_same_n_eff_in_every_band(learner):
    """eq. C4 on the count learner read with noise: every band's rho_b is 1/N within 4 of its jackknife SE,
    and the bands' m (1 - m)-weighted mean is the scalar rho of eq. C2 (the pooling identity)."""
    family, params, u = learner
    halves = fit_laws(family, params, N, FITS, _counted(N), seed=5)
    b = C.estimate_noise_by_band(halves=halves, band_law=u, bands=3)
    assert b.band.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # zipf: word index is frequency rank
    for r, se in zip(b.rho, b.rho_se):
        assert abs(r - 1 / N) <= 4 * se and se < 0.2 / N, (b.rho, b.rho_se)
    m = halves.mean(1).mean(0)
    w = np.bincount(b.band, m * (1 - m)) / (1 - m @ m)
    assert float(w @ b.rho) == pytest.approx(C.estimate_noise(halves=halves).rho, rel=1e-12)
    # the measurement noise must be removed band by band: without it (each half reads N draws) every band reads ~1.5/N
    naive = C.estimate_noise_by_band(laws=halves.mean(1), band_law=u, bands=3)
    assert all(abs(r - 1 / N) > 4 * se for r, se in zip(naive.rho, naive.rho_se)), (naive.rho, naive.rho_se)


def test_bands_see_a_learner_that_smooths_its_rare_words():
    """A learner that shrinks its rare half halfway to the source (a smoother) has a quarter of the count
    learner's variance there: rho_rare / rho_head = 1/4, which the per-band estimate finds within its SE while
    the count learner's ratio is 1."""
    rng = np.random.default_rng(11)
    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    laws = rng.multinomial(N, u, size=FITS) / N
    smooth = laws.copy()
    smooth[:, 6:] = 0.5 * laws[:, 6:] + 0.5 * u[6:]
    smooth[:, :6] *= (1 - smooth[:, 6:].sum(1, keepdims=True)) / smooth[:, :6].sum(1, keepdims=True)
    b = C.estimate_noise_by_band(laws=smooth, band_law=u, bands=2)
    ratio = b.rho[1] / b.rho[0]
    ratio_se = ratio * math.hypot(b.rho_se[1] / b.rho[1], b.rho_se[0] / b.rho[0])
    assert abs(ratio - 0.25) <= 4 * ratio_se and abs(ratio - 1.0) > 4 * ratio_se, (ratio, ratio_se)
    assert np.all(b.per_word()[6:] > 3 * b.per_word()[:6])


def test_a_flat_per_word_n_eff_forecasts_what_the_scalar_does():
    """moments/curves with per_word=True and every word at the same n_eff reproduce the scalar path; a rare
    word given a larger n_eff survives more (support up)."""
    from collapsim.theory import llm as L

    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    q = 0.9 * u + 0.1 / K
    alpha = np.array([0.0, 0.2, 0.2, 0.0])
    one = L.curves(q, u, 60.0, alpha, 50)
    flat = L.curves(q, u, np.full(K, 60.0), alpha, 50, per_word=True)
    for k in one:
        assert np.allclose(one[k], flat[k], rtol=1e-12, atol=1e-15), k
    rare = L.curves(q, u, np.r_[np.full(6, 60.0), np.full(6, 600.0)], alpha, 50, per_word=True)
    assert np.all(rare["support"][1:] > one["support"][1:])
    with pytest.raises(ValueError, match="per-word"):
        L.curves(q, u, np.full(K + 1, 60.0), alpha, 50, per_word=True)


def _relative_learner(c: float, fits: int, seed: int, reading: float = 0.0):
    """(u, halves (fits, 2, K)) of a learner with known noise: p = B + u (G - 1), B ~ Multinomial(N, u) / N and
    G ~ Gamma(1/c, c) per word (mean 1, variance c), independent, so Var p_i = u_i (1 - u_i) / N + c u_i^2
    exactly (eq. L2m at x = u). Each law is read twice with Gaussian noise of SD reading * u_i (0: exact)."""
    rng = np.random.default_rng(seed)
    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    laws = rng.multinomial(N, u, size=fits) / N + u * (rng.gamma(1 / c, c, size=(fits, K)) - 1)
    halves = laws[:, None, :] + reading * u * rng.standard_normal((fits, 2, K))
    return u, halves


def test_relative_noise_recovers_n_eff_and_c():
    """eq. C5 on a learner with both parts known (rho = 1/N, c = 0.05): each within 4 jackknife SE, with SEs
    small enough to tell c from 0 and rho from 0; the reading noise (SD 0.3 u_i, adding 0.045 u_i^2 to each law's
    spread) must be removed by the halves: without them c reads ~0.095, outside 4 SE."""
    c = 0.05
    u, halves = _relative_learner(c, 1000, seed=21, reading=0.3)
    est = C.estimate_relative_noise(halves=halves)
    assert abs(est.c - c) <= 4 * est.c_se and est.c_se < c / 5, (est.c, est.c_se)
    assert abs(est.rho - 1 / N) <= 4 * est.rho_se and est.rho_se < 0.25 / N, (est.rho, est.rho_se)
    naive = C.estimate_relative_noise(laws=halves.mean(1))
    assert abs(naive.c - c) > 4 * naive.c_se, (naive.c, naive.c_se)
    # the binomial estimate of eq. C2 alone reads the relative part as a smaller n_eff (~0.75 N), outside its 4 SE
    one = C.estimate_noise(halves=halves)
    assert one.n_eff + 4 * one.n_eff_se < N, (one.n_eff, one.n_eff_se)


def test_relative_noise_of_a_count_learner_is_binomial(learner):
    """The count learner (Var = u (1 - u) / N exactly) has c = 0 within 4 SE and rho = 1/N within 4 SE."""
    family, params, u = learner
    est = C.estimate_relative_noise(halves=fit_laws(family, params, N, FITS, _exact, seed=3))
    assert abs(est.c) <= 4 * est.c_se and est.c_se < 0.02, (est.c, est.c_se)
    assert abs(est.rho - 1 / N) <= 4 * est.rho_se, (est.rho, est.rho_se)


def test_relative_forecast_at_c_zero_is_the_binomial_one_and_c_speeds_the_drift():
    """forecast_relative with c = 0 at every leave-one-out pair is the scalar-n_eff curve; c > 0 lowers
    Gini-Simpson by the exact one-step amount c sum x^2 (eq. L2m, replace from q) and its se is 0 when the
    leave-one-out pairs all agree."""
    from collapsim.theory import llm as L

    u = cat.zipf_truth(K, 1.0).astype(np.float64)
    u /= u.sum()
    q = 0.9 * u + 0.1 / K
    alpha = np.zeros(3)
    zero = C.RelativeNoise(1 / 60.0, 0.0, 0.0, 0.0, np.tile([1 / 60.0, 0.0], (5, 1)), 5)
    fc = C.forecast_relative(q, u, zero, alpha, 50)
    ref = L.curves(q, u, 60.0, alpha, 50)
    for k in ref:
        assert np.allclose(fc["forecast"][k], ref[k], rtol=1e-12, atol=1e-15), k
        assert np.all(fc["se"][k] < 1e-12)
    rel = C.forecast_relative(q, u, zero._replace(c=0.03, loo=np.tile([1 / 60.0, 0.03], (5, 1))), alpha, 50)
    drop = ref["gini_simpson"][1] - rel["forecast"]["gini_simpson"][1]
    assert drop == pytest.approx(0.03 * float(q @ q), rel=1e-9)
