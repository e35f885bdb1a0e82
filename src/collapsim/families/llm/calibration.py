"""Running the calibration of :mod:`collapsim.theory.calibration`: S one-generation fits of a learner on
fresh real samples, each fit's law measured twice, and the GPT-2 calibration cached by content hash.

The fits (:func:`fit_laws`) use only the engine's :class:`~collapsim.engine.Family` interface (``init``,
``sample_real``, ``fit``) and a ``measure(key, model) -> law`` function, so the same code runs the GPT-2
protocol's fine-tuning step and a count learner whose n_eff is known (the tests' check). Fit s draws its
data, its fit and its measurements from ``fold_in(key(seed), s)``, so a calibration is reproducible and
its fits are independent.

What the GPT-2 calibration is (:func:`calibrate`): the protocol's fine-tuning step (``fit`` of
:func:`collapsim.families.llm.family.gpt2_family`, the preset's epochs, batch and learning rate) from the
base weights with a fresh AdamW state, on n fresh source texts, S times. That is generation 1 of the loop
under every protocol (at generation 1 the optimizer is fresh whether or not it is carried later). Each
fitted model's unigram law is read as the loop reads it (the mean next-token law along generated texts,
restricted to the K words), but *undecoded* (temperature 1, no truncation): the noise of eq. (L1) is the
learned law's, and a decoded loop's deterministic sharpening is the ideal learner's map
(:mod:`collapsim.theory.decoded_chain`), applied separately. The law is read on two independent halves of
``measure_texts`` generated texts, so their measurement noise can be removed (eq. C3).

The map (the learner's mean law) is estimated as the mean over the S fits, not from one fit on a very large
sample: with the protocol's epochs fixed, a 16x larger sample is 16x more optimizer steps, a different
learner (it moves further from the base weights), while the mean over S fits at the protocol's own n has
exactly the loop's step count. The calibration records its distance from the training texts' law (the bias).

Cached under ``$COLLAPSIM_CACHE/calibration/HASH.json``, HASH the content hash of the base model (its own
hash), the protocol's fine-tuning settings, n, S, the measurement texts and the seed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from typing import Callable, Optional

import numpy as np

from collapsim.files.cache import cache_root
from collapsim.theory import calibration as C

#: Bumped when the calibration procedure changes, so older cached calibrations are not reused (2: the S
#: per-fit laws and their two half-readings are stored, for the per-band n_eff).
CALIBRATION_VERSION = 2
#: Fits per calibration by default (>= 8 so the jackknife has something to work with; 16 measured affordable
#: on the tiny preset, see the README).
DEFAULT_FITS = 16


def fit_laws(family, params, n: int, fits: int, measure: Callable, seed: int = 0,
             progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """Two measurements (S, 2, K) of the law of each of S = ``fits`` one-generation fits of ``family``:
    each fit starts from ``family.init`` and is fitted on n fresh ``sample_real`` draws.

    measure(key, model) -> (K,) law; it is called twice per fit with independent keys."""
    import jax

    root = jax.random.key(seed)
    out = []
    for s in range(fits):
        k_init, k_data, k_fit, k_a, k_b = jax.random.split(jax.random.fold_in(root, s), 5)
        start = family.init(k_init, params)
        model = family.fit(k_fit, start, family.sample_real(k_data, params, n), None, params)
        out.append([np.asarray(measure(k_a, model), np.float64), np.asarray(measure(k_b, model), np.float64)])
        if progress is not None:
            progress(s + 1, fits)
    return np.asarray(out)


def _undecoded(lm):
    return lm._replace(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)


def gpt2_measure(lm, texts: int):
    """measure(key, model) for the GPT-2 family: the undecoded unigram law over ``texts`` generated texts."""
    from collapsim.families.llm import family as fam

    plain = _undecoded(lm)

    def measure(key, model):
        rows, out = fam.generate(key, model["params"], texts, plain)
        return fam.unigram_from_logits(fam._logits(model["params"], np.asarray(rows)[:, :-1], plain.cfg),
                                       np.asarray(out.valid), plain)

    return measure


#: Evaluations of the base model whose mean metrics anchor the forecast at generation 0.
BASE_EVALUATIONS = 8


def content_hash(base_hash: str, lm, n: int, fits: int, measure_texts: int, seed: int) -> str:
    blob = json.dumps({"base": base_hash, "epochs": lm.epochs, "batch_size": lm.batch_size, "lr": lm.lr,
                       "length": lm.length, "n": n, "fits": fits, "measure_texts": measure_texts, "seed": seed,
                       "eval_texts": lm.eval_texts, "decoding": [lm.temperature, lm.top_k, lm.top_p,
                                                                 lm.repetition_penalty],
                       "version": CALIBRATION_VERSION}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def calibrate(lm, params, base_hash: str, n: int, fits: int = DEFAULT_FITS, measure_texts: int = 1024,
              seed: int = 0, quiet: bool = False) -> dict:
    """The GPT-2 calibration (a JSON-able dict), from the cache or run now (and cached).

    lm: the run's :class:`~collapsim.families.llm.family.LMSettings`; params: the family's parameter pytree
    (:func:`~collapsim.families.llm.family.make_params`); base_hash: the base model's content hash.
    Keys: n_eff, n_eff_se, rho, rho_se, n_eff_band (one SE), fits, n, tokens, mean_law, spread,
    measurement, bias_l1 (|m - u|_1), halves (S, 2, K: each fit's law read on two independent halves of the
    measurement texts; the fit's law is their mean), fit_measurement (S,: each fit's reading noise, the
    summand of eq. C3; their mean is M), base_metrics (:func:`base_metrics`), seconds, hash, what (a sentence)."""
    from collapsim.families.llm import family as fam

    h = content_hash(base_hash, lm, n, fits, measure_texts, seed)
    path = cache_root() / "calibration" / f"{h}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if not quiet:
        print(f"gpt2: calibrating the learner ({fits} one-generation fine-tunes on {n} fresh texts each; "
              f"once, cached in {path})", file=sys.stderr)

    def report(i, total):
        if not quiet:
            print(f"gpt2: calibration fit {i}/{total}", file=sys.stderr)

    # a fresh optimizer from the base weights: generation 1 of every protocol
    family = fam.gpt2_family(lm._replace(continue_training=False))
    t0 = time.perf_counter()
    halves = fit_laws(family, params, n, fits, gpt2_measure(lm, measure_texts // 2), seed, report)
    est = C.estimate_noise(halves=halves)
    base = base_metrics(lm, params, seed)
    u = np.asarray(params["truth"], np.float64)
    u = u / u.sum()
    lo, hi = est.n_eff_band()
    cal = {"n_eff": est.n_eff, "n_eff_se": est.n_eff_se, "rho": est.rho, "rho_se": est.rho_se,
           "n_eff_band": [lo, hi if math.isfinite(hi) else None], "fits": fits, "n": n, "tokens": n * lm.length,
           "measure_texts": measure_texts, "seed": seed, "mean_law": est.mean_law.tolist(), "spread": est.spread,
           "measurement": est.measurement, "bias_l1": float(np.abs(est.mean_law - u).sum()),
           "halves": halves.tolist(),
           "fit_measurement": (((halves[:, 0] - halves[:, 1]) ** 2).sum(-1) / 4.0).tolist(),
           "base_metrics": base, "seconds": round(time.perf_counter() - t0, 2), "hash": h,
           "what": (f"{fits} fine-tunes of the base model (fresh AdamW, the protocol's epochs/batch/lr) on {n} "
                    f"fresh source texts each; n_eff by moments (eq. C2) with the measurement noise of "
                    f"{measure_texts // 2}+{measure_texts // 2} generated texts removed (eq. C3), SE jackknife "
                    f"over the fits")}
    _write(path, cal)
    return cal


def base_metrics(lm, params, seed: int = 0, evaluations: int = BASE_EVALUATIONS) -> dict:
    """The base model's metrics as the loop measures them (decoded, ``lm.eval_texts`` texts), the mean over
    ``evaluations`` independent draws: metric -> float. The forecast starts there (generation 0 is the base
    model in every protocol)."""
    import jax

    from collapsim.families.llm import family as fam

    root = jax.random.fold_in(jax.random.key(seed), 1 << 20)
    runs = [fam.lm_metrics(jax.random.fold_in(root, i), params["base"], params, lm) for i in range(evaluations)]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def _write(path, cal: dict) -> None:
    """Write atomically (a temporary sibling renamed into place); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(cal, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass
