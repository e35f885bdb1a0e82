"""``collapsim run gpt2``: from a run spec to the GPT-2 collapse loop and its fitted theory.

The registry entry (``ENTRY`` in :mod:`collapsim.families.llm`) calls :func:`build`, :func:`predict_runs` and
:func:`title`. A preset fixes the known source, the base model and the fine-tuning and decoding protocol;
command-line options override single settings. The base model is the cached pretrained model of
:mod:`collapsim.families.llm.pretrain` (trained on first use, a minute or so on a CPU).

Presets:
  ``tiny``   256-word source, texts of 32 words, GPT-2 2 layers x 64 wide; each generation fine-tunes 2
             epochs (batch 16, AdamW lr 1e-3) on n texts sampled at temperature 1 with no truncation, so the
             categorical theory applies without a decoding correction.
  ``micro``  a 64-word source and a 1 x 32 model, seconds per generation (tests, smoke runs).
  ``small``  tiny's source and protocol with a base model of GPT-2 small's shape (for a GPU).
  ``ainex``  the same source and base model under the Ainex study's protocol constants (2 epochs, batch 16,
             lr 5e-5, top-k 50, temperature 0.8, repetition penalty 1.05; pass ``--samples 250``): the
             theory follows temperature and top-k (the ideal learner's map, theory.decoded_chain) but not
             the repetition penalty (the run says so).

``--temperature`` and ``--top-k`` override any preset's decoding; the theory then composes the ideal
learner's decoded map with its Wright-Fisher noise (theory.llm, eq. L5).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from collapsim.errors import ConfigError


class LoopPreset(NamedTuple):
    vocab: int = 256
    branching: int = 8
    teleport: float = 0.05
    length: int = 32
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 2
    pretrain_steps: int = 1500
    pretrain_lr: float = 3e-3
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-3
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    eval_texts: int = 256


def _ainex() -> LoopPreset:
    from collapsim.families.llm.presets import AINEX

    return LoopPreset(epochs=AINEX.epochs, batch_size=AINEX.batch_size, lr=AINEX.lr, temperature=AINEX.temperature,
                      top_k=AINEX.top_k, repetition_penalty=AINEX.repetition_penalty)


#: ``micro``: a 64-word source, texts of 12 words, a 1 x 32 GPT-2 pretrained for 300 steps: seconds per
#: generation, for tests and smoke runs (it learns the source only roughly).
MICRO = LoopPreset(vocab=64, branching=4, length=12, n_layer=1, n_embd=32, n_head=2, pretrain_steps=300,
                   batch_size=16, lr=2e-3, eval_texts=64)

#: ``small``: tiny's source and protocol with a base model of GPT-2 small's shape (12 layers x 768 wide, 12
#: heads; 85M parameters besides the 257-token embedding), pretrained at GPT-2's rate of 6e-4 and fine-tuned
#: at 1e-4. Meant for a GPU: on one CPU core a pretraining step takes seconds. The rates are the usual ones
#: for this width, not yet checked by a run at this size.
SMALL = LoopPreset(n_layer=12, n_embd=768, n_head=12, pretrain_lr=6e-4, lr=1e-4)

#: The presets that name their own source and base model (``ainex`` reuses tiny's; see :func:`preset`).
LOOP_PRESETS = {"tiny": LoopPreset(), "micro": MICRO, "small": SMALL}


def pretrain_settings(p: LoopPreset):
    """The pretraining settings of a preset's base model (its cache key with the source and shape)."""
    from collapsim.families.llm import pretrain as P

    return P.PretrainSettings(steps=p.pretrain_steps, lr=p.pretrain_lr)


def preset(spec) -> LoopPreset:
    """The preset named by the spec with the spec's overrides applied (0 or None = the preset's value)."""
    o = spec.family_options
    name = o.get("preset", "tiny")
    base = LOOP_PRESETS[name] if name != "ainex" else _ainex()
    over = {k: o[k] for k in ("epochs", "lr", "eval_texts", "length", "temperature", "top_k") if o.get(k) not in (None, 0)}
    return base._replace(**over)


def _source(p: LoopPreset, seed: int = 0):
    from collapsim.families.llm import source as S

    return S.build_source(p.vocab, p.branching, p.teleport, p.length, seed)


def build(spec):
    """Spec -> :class:`collapsim.runs.registry.Loop` (pretraining the base model first if it is not cached)."""
    import sys

    from collapsim.families.llm import family as fam
    from collapsim.families.llm import pretrain as P
    from collapsim.families.llm import source as S
    from collapsim.gpt2.checkpoint import load_checkpoint
    from collapsim.families.entry import Loop

    o = spec.family_options
    p = preset(spec)
    _check(p)  # before any pretraining or loading
    if o.get("checkpoint") or o.get("corpus"):
        return _build_real(spec, p)
    if p.length + 1 > 1024:
        raise ConfigError(f"--length {p.length} is longer than a GPT-2 context allows")
    src = _source(p)
    shape, settings = P.ModelShape(p.n_layer, p.n_embd, p.n_head), pretrain_settings(p)
    folder = P.cache_root() / "pretrain" / P.content_hash(src, shape, settings)
    if not (folder / P.INFO_FILE).is_file():
        print(f"gpt2: pretraining the base model on the known source (once; cached in {folder})", file=sys.stderr)

        def report(i, n, loss):
            if i % 250 == 1 or i == n:
                print(f"gpt2: pretraining step {i}/{n}, loss {loss:.3f}", file=sys.stderr)

        folder = P.pretrain(src, shape, settings, progress=report)
    ck = load_checkpoint(folder)
    info = P.read_info(folder)
    lm = lm_settings(spec, p, ck.config, src)
    fam.validate(lm)
    progress = fam.Progress(spec.generations, spec.seeds, lm.epochs)
    family = fam.gpt2_family(lm, progress)
    params = fam.make_params(src, ck.params, seed=0)
    q = fam.base_unigram(ck.params, lm, texts=4 * lm.eval_texts)  # 1024 for tiny
    derived = {
        "truth": "known source: sparse Markov chain over the wordfreq English top-%d words" % src.vocab,
        "source": src.settings,
        "source_entropy_per_word": S.text_entropy_per_word(src),
        "source_entropy_rate": S.entropy_rate(src),
        "source_unigram_entropy": S.entropy(S.unigram_law(src)),
        "base_model": {"folder": str(folder), **{k: info[k] for k in ("shape", "train", "heldout_cross_entropy")}},
        "protocol": p._asdict() | {"continue_training": lm.continue_training, "carry_optimizer": lm.carry_optimizer},
        "base_unigram_entropy": S.entropy(q),
        "base_unigram": q,
        "true_unigram": S.unigram_law(src),
    }
    return Loop(family, params, False, derived)


def lm_settings(spec, p: LoopPreset, cfg, src):
    """The GPT-2 learner's settings for a spec on the known source (its preset ``p``, model config ``cfg``)."""
    from collapsim.families.llm import family as fam

    o = spec.family_options
    return fam.LMSettings(cfg, src.vocab, src.eot, p.length, p.epochs, p.batch_size, float(p.lr),
                          bool(o.get("continue_training", True)), float(p.temperature), int(p.top_k), float(p.top_p),
                          float(p.repetition_penalty), int(p.eval_texts),
                          carry_optimizer=bool(o.get("carry_optimizer", True)))


def _check(p: LoopPreset) -> None:
    import math

    if p.epochs < 1 or p.eval_texts < 2 or p.length < 2:
        raise ConfigError(f"--epochs must be at least 1, --eval-texts at least 2 and --length at least 2 (got "
                          f"{p.epochs}, {p.eval_texts}, {p.length}; 0 means the preset's value)")
    if not (math.isfinite(p.lr) and p.lr > 0):
        raise ConfigError(f"--lr must be a positive number (0 means the preset's), got {p.lr}")
    if not (math.isfinite(p.temperature) and p.temperature > 0) or p.top_k < 0:
        raise ConfigError(f"--temperature must be a positive number and --top-k at least 0 (0 means the preset's), "
                          f"got {p.temperature} and {p.top_k}")


def read_corpus(path) -> list[str]:
    """Non-empty lines of a UTF-8 text file; one-line errors for a missing folder, a folder, other bytes."""
    from pathlib import Path

    f = Path(path)
    if f.is_dir() or not f.is_file():
        raise ConfigError(f"--corpus {f}: {'is a folder' if f.is_dir() else 'no such file'}; give a text file, one text per line")
    try:
        text = f.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"--corpus {f}: not UTF-8 text (byte {e.start})") from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _build_real(spec, p: LoopPreset):
    """The loop on the real thing: a local Hugging Face GPT-2 folder fine-tuned on lines of a text corpus.

    The true vocabulary is the corpus's K most common words (K = the preset's vocabulary), u their corpus
    frequencies; generated texts are decoded and split into words to be counted against it.
    """
    from collapsim.families.llm import family as fam
    from collapsim.gpt2.checkpoint import load_checkpoint
    from collapsim.gpt2.tokenizer import load_tokenizer
    from collapsim.families.entry import Loop

    o = spec.family_options
    if not (o.get("checkpoint") and o.get("corpus")):
        raise ConfigError("--checkpoint and --corpus go together (a Hugging Face GPT-2 folder and the real texts); "
                          "without both the loop runs on the known source")
    lines = read_corpus(o["corpus"])
    ck = load_checkpoint(o["checkpoint"])
    if ck.tokenizer_path is None:
        raise ConfigError(f"--checkpoint {o['checkpoint']}: no tokenizer.json (needed to read the corpus)")
    eot = ck.config.eos_token_id
    if not 0 <= eot < ck.config.vocab_size:
        raise ConfigError(f"--checkpoint {o['checkpoint']}: eos_token_id {eot} is outside its vocabulary")
    tok = load_tokenizer(ck.tokenizer_path)
    row_tokens = min(p.length + 1, ck.config.n_positions)
    params, words, u = fam.corpus_params(ck.params, tok, lines, eot, row_tokens, p.vocab)
    lm = fam.LMSettings(ck.config, len(words), eot, row_tokens - 1, p.epochs, p.batch_size, float(p.lr),
                        bool(o.get("continue_training", True)), float(p.temperature), int(p.top_k), float(p.top_p),
                        float(p.repetition_penalty), int(p.eval_texts), str(ck.tokenizer_path), words,
                        carry_optimizer=bool(o.get("carry_optimizer", True)))
    fam.validate(lm)
    family = fam.gpt2_family(lm, fam.Progress(spec.generations, spec.seeds, lm.epochs))
    import jax

    rows, out = fam.generate(jax.random.key(0), ck.params, 1024, lm)
    texts = fam.word_ids(np.asarray(rows)[:, 1:], np.asarray(out.valid), lm)
    counts = np.bincount(np.concatenate([t[t >= 0] for t in texts] + [np.zeros(0, np.int64)]), minlength=len(words))
    q = counts / max(counts.sum(), 1)
    derived = {
        "truth": f"corpus {o['corpus']}: its {len(words)} most common words",
        "checkpoint": str(o["checkpoint"]), "corpus_lines": len(lines),
        "protocol": p._asdict() | {"continue_training": lm.continue_training, "row_tokens": row_tokens},
        "words_per_text": float(np.mean([(t >= 0).sum() for t in texts])),
        "base_unigram": q, "true_unigram": u, "vocabulary": list(words),
    }
    return Loop(family, params, False, derived)


def _decoded(p: LoopPreset) -> bool:
    return p.temperature != 1.0 or p.top_k > 0 or p.top_p < 1.0 or p.repetition_penalty != 1.0


def decoding_factors(p: LoopPreset, alpha):
    """The decoded loop's per-word factors (T, K) of eq. (L5) for the preset's source, temperature and
    top-k (:func:`collapsim.theory.decoded_chain.unigram_factors`); None when sampling does not decode."""
    if p.temperature == 1.0 and p.top_k == 0:
        return None
    from collapsim.theory import decoded_chain as D

    src = _source(p)
    return D.unigram_factors(src.initial, src.transition, src.length, alpha, p.temperature, p.top_k)


def calibration(spec, loop, fits: int = 0, quiet: bool = False) -> dict:
    """The cached calibration of the spec's learner (:func:`collapsim.families.llm.calibration.calibrate`): S
    one-generation fine-tunes of the base model on ``spec.samples`` fresh texts (``fits`` 0: the default S)."""
    from pathlib import Path

    from collapsim.families.llm import calibration as cal
    from collapsim.families.llm import pretrain as P

    p = preset(spec)
    src = _source(p)
    shape = P.ModelShape(p.n_layer, p.n_embd, p.n_head)
    base_hash = P.content_hash(src, shape, pretrain_settings(p))
    assert Path(loop.derived["base_model"]["folder"]).name == base_hash
    cfg = _model_config(loop)
    lm = lm_settings(spec, p, cfg, src)
    return cal.calibrate(lm, loop.params, base_hash, spec.samples, fits or cal.DEFAULT_FITS, quiet=quiet)


#: The policies the forecast covers: eq. (L1)'s training law a_t u + (1 - a_t) p_{t-1}.
FORECAST_POLICIES = ("replace", "mix")
#: The forecast's noise models: "binomial" (eq. L1, one n_eff, or per band with bands > 0) and "relative"
#: (eq. L2m: a binomial part plus c x_i^2, (n_eff, c) by eq. C5).
NOISE_MODELS = ("binomial", "relative")


def forecast(spec, loop, fits: int = 0, quiet: bool = False, bands: int = 0, noise: str = "binomial") -> dict:
    """The forecast of the spec's loop from its calibration alone (no loop run): eqs. (L2)-(L5) at the
    calibrated n_eff and at n_eff's one-SE band, started at the base model's measured metrics. bands > 0:
    each word at its frequency band's n_eff (eq. C4 of :mod:`collapsim.theory.calibration`, the words
    ranked by the source's law), the band at every band's rho -+ SE. noise="relative": each word's noise
    x_i (1 - x_i) / n_eff + c x_i^2 (eqs. L2m, C5), the band the forecast's jackknife SE (bands ignored).

    Returns {"calibration": the calibration dict, "label": the curve's label, "forecast" / "lo" / "hi" / "se":
    metric -> (T + 1,)} for the theory's PREDICTED metrics."""
    from collapsim.theory import calibration as C
    from collapsim.theory import llm as th

    if spec.policy not in FORECAST_POLICIES or "words_per_text" in loop.derived:
        raise ConfigError(f"no forecast for policy {spec.policy!r} or a corpus run: the forecast covers "
                          f"{' and '.join(FORECAST_POLICIES)} on the known source")
    if noise not in NOISE_MODELS:
        raise ConfigError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
    cal = calibration(spec, loop, fits, quiet)
    if noise == "relative" and "halves" not in cal:
        raise ConfigError("the relative noise model needs a calibration with per-fit halves (version 2)")
    p = preset(spec)
    q = np.asarray(loop.derived["base_unigram"], np.float64)
    u = np.asarray(loop.derived["true_unigram"], np.float64)
    alpha = spec.alpha_schedule() if spec.policy == "mix" else np.zeros(spec.generations)
    per_band = rel = None
    factors = decoding_factors(p, alpha)
    if noise == "relative":
        rel = C.estimate_relative_noise(halves=np.asarray(cal["halves"]))
        fc = C.forecast_relative(q, u, rel, alpha, p.eval_texts * p.length, factors)
    else:
        if bands:
            per_band = C.estimate_noise_by_band(halves=np.asarray(cal["halves"]), band_law=u, bands=bands)
        fc = C.forecast(q, u, C.NoiseEstimate(cal["rho"], cal["rho_se"], np.asarray(cal["mean_law"]), cal["spread"],
                                              cal["measurement"], cal["fits"]),
                        alpha, p.eval_texts * p.length, factors, per_band)
    for k in th.PREDICTED:  # start at the base model's measured value (generation 0 of every protocol)
        shift = cal["base_metrics"][k] - fc["forecast"][k][0]
        for part in ("forecast", "lo", "hi"):
            fc[part][k] = fc[part][k] + shift
    label = f"forecast from calibration (n_eff = {cal['n_eff']:.4g} +- {cal['n_eff_se']:.2g})"
    if per_band is not None:
        label = (f"forecast from calibration (n_eff per frequency band = "
                 f"{', '.join(f'{x:.3g}' for x in per_band.n_eff)})")
        cal = cal | {"bands": C.bands_to_json(per_band)}
    if rel is not None:
        label = (f"forecast from calibration (relative noise: n_eff = {rel.n_eff:.4g}, "
                 f"c = {rel.c:.2g} +- {rel.c_se:.1g})")
        cal = cal | {"relative_noise": {"rho": rel.rho, "rho_se": rel.rho_se, "c": rel.c, "c_se": rel.c_se,
                                        "n_eff": rel.n_eff if math.isfinite(rel.n_eff) else None}}
    return {"calibration": cal, "label": label, **fc}


def forecast_report(fc: dict, per_chain: dict) -> dict:
    """Per generation and metric: LM mean, seed SE, forecast, calibration SE and the error in combined SE."""
    from collapsim.theory import calibration as C

    out = {}
    for k, f in fc["forecast"].items():
        vals = np.asarray(per_chain[k], np.float64)
        mean = vals.mean(0)
        se = vals.std(0, ddof=1) / np.sqrt(vals.shape[0])
        z = C.forecast_error(mean, se, f, fc["se"][k])
        out[k] = {"lm_mean": mean.tolist(), "seed_se": se.tolist(), "forecast": np.asarray(f).tolist(),
                  "calibration_se": np.asarray(fc["se"][k]).tolist(), "error_combined_se": z.tolist(),
                  "max_abs_error_combined_se": float(np.nanmax(np.abs(z[1:]))) if z.size > 1 else None}
    return out


def forecast_table(rep: dict, generations) -> str:
    """The printed per-generation forecast error: one row per generation, LM / forecast / z per metric."""
    names = list(rep)
    head = "gen " + "".join(f"{k:>30}" for k in names)
    lines = ["forecast from calibration vs LM: mean (forecast) [error in combined SE = sqrt(seed SE^2 + "
             "calibration SE^2)]", head]
    for g in generations:
        cells = []
        for k in names:
            r = rep[k]
            z = r["error_combined_se"][g]
            cells.append(f"{r['lm_mean'][g]:.4g} ({r['forecast'][g]:.4g}) [{z:+.1f}]".rjust(30))
        lines.append(f"{g:<4}" + "".join(cells))
    return "\n".join(lines)


def _model_config(loop):
    from collapsim.gpt2.checkpoint import load_checkpoint

    return load_checkpoint(loop.derived["base_model"]["folder"]).config


def predict_runs(spec, loop, per_chain: dict):
    """(Prediction with the fitted Wright-Fisher curves, what config.json records about the fit)."""
    from collapsim.theory import Prediction
    from collapsim.theory import llm as th

    if spec.policy not in ("replace", "mix"):
        return Prediction({}, {}, f"no theory for policy {spec.policy!r} (Wright-Fisher covers replace and mix)"), {}
    p = preset(spec)
    q = np.asarray(loop.derived["base_unigram"], np.float64)
    u = np.asarray(loop.derived["true_unigram"], np.float64)
    alpha = spec.alpha_schedule() if spec.policy == "mix" else np.zeros(spec.generations)
    words_per_text = loop.derived.get("words_per_text", p.length)  # a corpus run counts its decoded words
    factors = decoding_factors(p, alpha) if "words_per_text" not in loop.derived else None
    rep = th.fit_and_predict(per_chain, q, u, alpha, max(1, int(round(p.eval_texts * words_per_text))),
                             factors=factors)
    fitted = (f"n_eff at the end of its range ({rep.n_eff:.3g}: no drift the theory can fit)" if rep.at_bound
              else f"n_eff = {rep.n_eff:.4g} tokens ({rep.interval_text()})")
    note = (f"fitted, not exact: Wright-Fisher unigram drift, {fitted}, fitted on generations 1..{rep.fit_generations} "
            f"(in-sample)\n(Gini-Simpson exact given n_eff, entropy/support/tail small-noise Beta law), anchored at generation 0")
    errors = ", ".join(f"{k} {v['mean_abs']:.3g} (|z| <= {v['max_abs_z']:.2g})" for k, v in rep.heldout_error.items()
                       if v["mean_abs"] is not None and v["max_abs_z"] is not None)
    if errors:
        note += f";\nheld-out generations {rep.fit_generations + 1}..{spec.generations}, mean |LM - theory|: {errors}"
    if factors is not None:
        note += (f";\ndecoding (temperature {p.temperature:g}, top-k {p.top_k or 'none'}) as the ideal learner's exact map "
                 f"on the source's chain (eqs. D1-D3, L5)")
        if p.top_p < 1.0 or p.repetition_penalty != 1.0:
            note += "; top-p and repetition penalty not modelled"
    elif _decoded(p):
        note += "; decoding truncates per context, which the unigram theory does not model"
    words = spec.samples * words_per_text
    config = {"theory_fit": rep.to_config() | {"tokens_per_generation": words, "n_eff_over_tokens": rep.n_eff / words,
                                               "decoding_map": factors is not None}}
    label = f"Wright-Fisher drift (n_eff fitted on gens 1..{rep.fit_generations})"
    fitted_curves = {k: {label: curve} for k, curve in rep.curves.items()}
    approx = {}
    if spec.family_options.get("forecast", True) and "words_per_text" not in loop.derived:
        fc = forecast(spec, loop)
        frep = forecast_report(fc, per_chain)
        approx = {k: {fc["label"]: fc["forecast"][k], "forecast band: n_eff - 1 SE": fc["lo"][k],
                      "forecast band: n_eff + 1 SE": fc["hi"][k]} for k in fc["forecast"]}
        cal = {k: v for k, v in fc["calibration"].items() if k not in ("mean_law", "halves", "fit_measurement")}
        config["forecast"] = {"kind": "approximate: a forecast from a calibration that never saw the loop",
                              "label": fc["label"], "calibration": cal, "per_generation": frep,
                              "covers": "replace and mix from generation 1; with continued training the carried "
                                        "weights and AdamW state after generation 1 are not in the calibration"}
        gens = sorted(set(np.linspace(0, spec.generations, min(6, spec.generations + 1)).round().astype(int).tolist()))
        worst = ", ".join(f"{k} {v['max_abs_error_combined_se']:.2g}" for k, v in frep.items()
                          if v["max_abs_error_combined_se"] is not None)
        note += (f"\n{fc['label']}: approximate, from {cal['fits']} one-generation fine-tunes that never saw the "
                 f"loop\n" + forecast_table(frep, gens) + f"\nlargest |error| over generations 1..{spec.generations} "
                 f"in combined SE: {worst}")
    return Prediction({}, approx, note, fitted_curves, tuple(range(1, rep.fit_generations + 1))), config


def title(spec) -> str:
    p = preset(spec)
    how = "continued training" if spec.family_options.get("continue_training", True) else "from the base model"
    alpha = f", alpha={spec.alpha}" if spec.policy in ("mix", "keep-real") else ""
    decoding = "".join([f", temperature {p.temperature:g}" if p.temperature != 1.0 else "",
                        f", top-k {p.top_k}" if p.top_k else ""])
    return (f"gpt2 {p.n_layer}x{p.n_embd} on a {p.vocab}-word known source ({spec.family_options.get('preset', 'tiny')}), "
            f"n={spec.samples} texts of {p.length} words{decoding}, {spec.policy}{alpha}, {how}, {spec.seeds} seeds")
