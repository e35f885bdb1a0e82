"""What ``collapsim run`` can run: each family's options, how a run spec becomes a loop, and its title.

An :class:`Entry` is data plus three small functions; the CLI builds one ``collapsim run FAMILY`` command per
entry from its :class:`Option` list, and :func:`collapsim.execute.execute` runs any spec through the same
pipeline (validate, build, simulate, predict, summarise, write). A new family needs an entry here, nothing
else in the command layer. Importing this module loads neither JAX nor the families (the CLI must set XLA's
device count first); the functions import them when called.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

from collapsim.errors import ConfigError


class Option(NamedTuple):
    """One family option: ``--NAME`` on the command line, stored in the spec's ``family_options`` or
    ``params`` (``target``)."""

    name: str
    type: Any
    default: Any
    help: str
    target: str = "family_options"
    choices: tuple = ()
    flag: str = ""  # a boolean switch: "--NAME/--FLAG" (FLAG turns it off); "" for a valued option


class Loop(NamedTuple):
    """A spec made concrete: the family, its parameter pytree, whether the exact shortcut is used, and what
    config.json records beside the spec (the truth, derived settings)."""

    family: Any
    params: Any
    shortcut: bool
    derived: dict


class Entry(NamedTuple):
    name: str
    help: str
    defaults: dict  # generations, samples, seeds
    options: tuple
    build: Callable[[Any], Loop]  # spec -> Loop (validates the family's own settings)
    predict: Callable[[Any, Loop], Any]  # (spec, loop) -> theory.Prediction
    title: Callable[[Any], str]
    work: Callable[[Any, bool], float]  # rough count of random draws, for the progress bar
    footprint: Callable[[Any], tuple]  # (floats per chain for the model, per data point), for the memory check
    driver: str = "scan"  # the command's default --driver ("host" for families whose fit is a training loop)
    # Optional theory that needs the run's own numbers (a fitted parameter): (spec, loop, per_chain) ->
    # (theory.Prediction, dict recorded in config.json); used instead of ``predict`` when set.
    predict_runs: Optional[Callable[[Any, Loop, dict], tuple]] = None


def _resolve_method(spec, supported: bool, auto_shortcut: bool) -> bool:
    """Whether to use the shortcut: an explicit request must be supported; auto picks it when it is."""
    if spec.method == "shortcut" and not supported:
        raise ConfigError(f"the sufficient-statistics shortcut does not cover {spec.family} with policy {spec.policy!r} "
                          "in this configuration; use --method explicit")
    return spec.method == "shortcut" or (spec.method == "auto" and supported and auto_shortcut)


def _buffer_factor(spec) -> float:
    """Accumulating policies refit on the whole T n buffer each generation: about T / 2 times the work."""
    return max(1.0, spec.generations / 2) if spec.policy.startswith("accumulate") else 1.0


def check_memory(spec) -> None:
    """Refuse, before any allocation, a run whose largest buffers exceed the machine's memory.

    Counted: the per-chain results (seeds x (T + 1) x ~16 metrics, float64, a few copies), the keys and the
    alpha schedule, and one compiled call's working set (chains per call x (model + data floats) x ~8
    temporaries, float32); lower bounds, so a run that fits is never refused.
    """
    from collapsim.memory import check_fits

    e = entry(spec.family)
    model, point = e.footprint(spec)
    points = spec.samples * (spec.generations if spec.policy.startswith("accumulate") else 1)
    per_call = max(1, min(spec.seeds, 2**18 // max(points, 1)))
    results = float(spec.seeds) * (spec.generations + 1) * 16 * 8 * 3
    keys = float(spec.seeds) * 8 + float(spec.generations) * 8 * 4
    working = per_call * (model + points * point) * 4 * 8
    check_fits(results + keys + working + model * 8 * 4,
               f"{spec.family} with {spec.seeds} seeds, {spec.generations} generations, {spec.samples} samples")


def _alpha_title(spec) -> str:
    return f", alpha={spec.alpha}" if spec.policy in ("mix", "keep-real") else ""


# ------------------------------------------------------------------------------------------------ gaussian

#: Samples per generation from which ``auto`` prefers the Gaussian shortcut: below it, drawing n normals is
#: cheaper than the gamma draw the shortcut needs (measured: n = 20 explicit 1.5 s vs 2.2 s).
SHORTCUT_FROM_SAMPLES = 64


def _gaussian_build(spec) -> Loop:
    from collapsim.families import gaussian as fam

    o = spec.family_options
    dim, covariance, ddof = o["dim"], o["covariance"], o["ddof"]
    fam.validate(dim, covariance, ddof, spec.samples)
    variance = float(o.get("variance", 1.0))
    if not variance > 0 or variance == float("inf"):
        raise ConfigError(f"--variance must be positive and finite, got {variance}")
    supported = fam.shortcut_supports(dim, covariance, spec.policy, spec.samples)
    shortcut = _resolve_method(spec, supported, spec.samples >= SHORTCUT_FROM_SAMPLES)
    params = fam.default_params(dim, variance)
    return Loop(fam.gaussian(dim, covariance, ddof), params, shortcut, {"truth": f"N(0, {variance:g} I_{dim})"})


def _gaussian_predict(spec, loop):
    from collapsim.theory import gaussian

    return gaussian.predict(spec)


def _gaussian_title(spec) -> str:
    o = spec.family_options
    return (f"gaussian d={o['dim']} ({o['covariance']}), ddof={o['ddof']}, n={spec.samples}, {spec.policy}"
            + _alpha_title(spec) + f", {spec.seeds} chains")


GAUSSIAN = Entry(
    "gaussian", "Refit N(mu, Sigma) on its own samples, generation after generation (Shumailov et al. 2024).",
    {"generations": 100, "samples": 100, "seeds": 2000},
    (
        Option("dim", int, 1, "Dimension d."),
        Option("covariance", str, "full", "Fit the full covariance or s^2 I.", choices=("full", "isotropic")),
        Option("ddof", int, 1, "0: maximum likelihood, 1: unbiased variance."),
        Option("variance", float, 1.0, "Truth N(0, variance I)."),
    ),
    _gaussian_build, _gaussian_predict, _gaussian_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * (1 if shortcut else spec.samples) * spec.family_options["dim"]
    * _buffer_factor(spec),
    lambda spec: (float(spec.family_options["dim"]) ** 2 * 3, float(spec.family_options["dim"])),
)


# --------------------------------------------------------------------------------------------- categorical


def _categorical_build(spec) -> Loop:
    import numpy as np

    from collapsim.families import categorical as fam
    from collapsim.policies import SHORTCUT_POLICIES

    o, p = spec.family_options, spec.params
    fam.validate(o["vocab"], p["temperature"], o["top_k"], p["top_p"], p["smoothing"])
    params = fam.params_for(o, p, spec.seed)
    shortcut = _resolve_method(spec, spec.policy in SHORTCUT_POLICIES, True)
    family = fam.categorical(o["vocab"], o["top_k"], tempered=p["temperature"] != 1.0, nucleus=p["top_p"] < 1.0)
    derived = {"truth": fam.simulated_truth(params), "bottom_decile": np.flatnonzero(np.asarray(params["bottom"]))}
    return Loop(family, params, shortcut, derived)


def _categorical_predict(spec, loop):
    import numpy as np

    from collapsim.theory import categorical

    return categorical.predict(spec, loop.derived["truth"], np.asarray(loop.params["bottom"]))


def _categorical_title(spec) -> str:
    o, p = spec.family_options, spec.params
    decoding = [f"temperature={p['temperature']:g}"] if p["temperature"] != 1.0 else []
    decoding += [f"top-k={o['top_k']}"] if 0 < o["top_k"] < o["vocab"] else []
    decoding += [f"top-p={p['top_p']:g}"] if p["top_p"] < 1.0 else []
    return (f"categorical K={o['vocab']} ({o['init']}), n={spec.samples}, {spec.policy}" + _alpha_title(spec)
            + (", " + ", ".join(decoding) if decoding else "") + f", {spec.seeds} chains")


CATEGORICAL = Entry(
    "categorical", "Refit a K-category distribution on its own samples (Wright-Fisher drift), with LLM-style decoding.",
    {"generations": 100, "samples": 200, "seeds": 2000},
    (
        Option("vocab", int, 50, "Number of categories K."),
        Option("init", str, "zipf", "Initial truth; wordfreq: the K most common English words (needs the wordfreq extra).",
               choices=("zipf", "uniform", "dirichlet", "wordfreq")),
        Option("zipf_exponent", float, 1.0, "beta in p_i ~ i^-beta (init zipf)."),
        Option("dirichlet_concentration", float, 1.0, "Symmetric concentration (init dirichlet; the truth is drawn with --seed)."),
        Option("top_k", int, 0, "Keep the k most probable categories (0: off)."),
        Option("temperature", float, 1.0, "Decoding temperature when sampling.", target="params"),
        Option("top_p", float, 1.0, "Nucleus sampling mass in (0, 1] (1: off).", target="params"),
        Option("smoothing", float, 0.0, "Add-s smoothing of the refit counts.", target="params"),
    ),
    _categorical_build, _categorical_predict, _categorical_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * (2 if spec.policy == "mix" and not shortcut else 1)
    * _buffer_factor(spec),
    lambda spec: (float(spec.family_options["vocab"]) * 4, 1.0),
)


# -------------------------------------------------------------------------------------------------- gpt2


def _gpt2_build(spec) -> Loop:
    from collapsim.llm.loop import build

    return build(spec)


def _gpt2_predict_runs(spec, loop, per_chain):
    from collapsim.llm.loop import predict_runs

    return predict_runs(spec, loop, per_chain)


def _gpt2_title(spec) -> str:
    from collapsim.llm.loop import title

    return title(spec)


GPT2 = Entry(
    "gpt2", "Fine-tune GPT-2 on its own generated texts over a language whose truth is known, beside the fitted "
            "Wright-Fisher theory of its unigram law.",
    {"generations": 5, "samples": 128, "seeds": 2},
    (
        Option("preset", str, "tiny", "Protocol: tiny (fast CPU loop), ainex (the Ainex study's constants) or "
               "micro (seconds per generation, for tests).", choices=("tiny", "ainex", "micro")),
        Option("continue_training", bool, True, "Fine-tune each generation from the previous one (the published "
               "protocol), or from the base model with a fresh optimizer (--from-base).", flag="from-base"),
        Option("epochs", int, 0, "Fine-tuning epochs per generation (0: the preset's)."),
        Option("lr", float, 0.0, "Fine-tuning learning rate (0: the preset's)."),
        Option("length", int, 0, "Words per text (0: the preset's)."),
        Option("eval_texts", int, 0, "Texts generated per generation for the metrics (0: the preset's)."),
        Option("checkpoint", str, "", "A local Hugging Face GPT-2 folder as the base model (with --corpus)."),
        Option("corpus", str, "", "A text file, one text per line, as the real data (with --checkpoint)."),
    ),
    _gpt2_build, lambda spec, loop: None, _gpt2_title,
    lambda spec, shortcut: 0.0,  # the family draws its own progress line over generations, seeds and epochs
    lambda spec: (5e5, 33.0),
    driver="host",
    predict_runs=_gpt2_predict_runs,
)


ENTRIES = {e.name: e for e in (GAUSSIAN, CATEGORICAL, GPT2)}


def entry(name: str) -> Entry:
    if name not in ENTRIES:
        raise ConfigError(f"unknown family {name!r}; choose one of {', '.join(ENTRIES)}")
    return ENTRIES[name]


def with_defaults(spec):
    """The spec with every option the entry knows filled in (so config.json spells out the whole run)."""
    e = entry(spec.family)
    fo, pa = dict(spec.family_options), dict(spec.params)
    known = {o.name for o in e.options}
    unknown = (set(fo) | set(pa)) - known
    if unknown:
        raise ConfigError(f"family {spec.family!r} has no option {', '.join(sorted(unknown))}")
    for o in e.options:
        target = fo if o.target == "family_options" else pa
        target.setdefault(o.name, o.default)
        if o.choices and target[o.name] not in o.choices:
            raise ConfigError(f"--{o.name.replace('_', '-')} must be one of {', '.join(o.choices)}, got {target[o.name]!r}")
    return spec.replace(family_options=fo, params=pa)
