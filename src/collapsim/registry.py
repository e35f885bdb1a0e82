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
    # The option's range (collapsim.schema.Rule): checked the same way on the command line and in config files.
    low: Any = None
    high: Any = None
    open_low: bool = False  # low itself refused (a positive number: low=0, open_low=True)
    open_high: bool = False

    @property
    def flag_name(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    def rule(self):
        """This option's :class:`collapsim.schema.Rule` (type, range, choices)."""
        from collapsim.schema import Rule

        return Rule(self.type, self.low, self.high, self.open_low, self.open_high, tuple(self.choices))


class Loop(NamedTuple):
    """A spec made concrete: the family, its parameter pytree, whether the exact shortcut is used, and what
    config.json records beside the spec (the truth, derived settings)."""

    family: Any
    params: Any
    shortcut: bool
    derived: dict
    floors: dict = {}  # metric -> the value a chain reads once rounding took its quantity to 0 (a log's floor)


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
    # Optional spec -> None refusing settings that cannot work on any machine (one option against another),
    # run before the memory estimate so that the message names the real problem.
    check: Optional[Callable[[Any], None]] = None


def _theory(module: str) -> Callable:
    """An entry's ``predict``: ``collapsim.theory.<module>.predict(spec)``, imported only when called."""

    def predict(spec, loop):
        import importlib

        return importlib.import_module(f"collapsim.theory.{module}").predict(spec)

    return predict


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
    temporaries, in the run's precision); lower bounds, so a run that fits is never refused.
    """
    from collapsim.memory import check_fits

    e = entry(spec.family)
    model, point = e.footprint(spec)
    points = spec.samples * (spec.generations if spec.policy.startswith("accumulate") else 1)
    per_call = max(1, min(spec.seeds, 2**18 // max(points, 1)))
    results = float(spec.seeds) * (spec.generations + 1) * 16 * 8 * 3
    keys = float(spec.seeds) * 8 + float(spec.generations) * 8 * 4
    width = 8 if spec.precision == "float64" else 4
    working = per_call * (model + points * point) * width * 8
    check_fits(results + keys + working + model * 8 * 4,
               f"{spec.family} with {spec.seeds} seeds, {spec.generations} generations, {spec.samples} samples"
               + "".join(f", {o.flag_name} {spec.family_options[o.name]}" for o in e.options  # the sizes changed
                         if o.type is int and o.target == "family_options" and spec.family_options[o.name] != o.default))


def _alpha_title(spec) -> str:
    return f", alpha={spec.alpha}" if spec.policy in ("mix", "keep-real") else ""


# ------------------------------------------------------------------------------------------------ gaussian

#: Samples per generation from which ``auto`` prefers the Gaussian shortcut for d = 1 or an isotropic fit:
#: below it, drawing n normals is cheaper than the gamma draw the shortcut needs (measured: n = 20 explicit
#: 1.5 s vs 2.2 s).
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
    # A full covariance in d > 1 takes the shortcut at any n: it carries log det exactly (a sum of log
    # chi-squares), where an explicit float32 fit loses a thin direction to rounding (d = 3, n = 10, ddof 0:
    # one chain in 2,000 by generation 15) and with it log det.
    full = dim > 1 and covariance == "full"
    shortcut = _resolve_method(spec, supported, full or spec.samples >= SHORTCUT_FROM_SAMPLES)
    params = fam.default_params(dim, variance)
    return Loop(fam.gaussian(dim, covariance, ddof, spec.samples), params, shortcut, {"truth": f"N(0, {variance:g} I_{dim})"},
                fam.log_floors(dim, params, spec.precision))


def _gaussian_title(spec) -> str:
    o = spec.family_options
    return (f"gaussian d={o['dim']} ({o['covariance']}), ddof={o['ddof']}, n={spec.samples}, {spec.policy}"
            + _alpha_title(spec) + f", {spec.seeds} chains")


GAUSSIAN = Entry(
    "gaussian", "Refit N(mu, Sigma) on its own samples, generation after generation (Shumailov et al. 2024).",
    {"generations": 100, "samples": 100, "seeds": 2000},
    (
        Option("dim", int, 1, "Dimension d.", low=1),
        Option("covariance", str, "full", "Fit the full covariance or s^2 I.", choices=("full", "isotropic")),
        Option("ddof", int, 1, "0: maximum likelihood, 1: unbiased variance.", low=0),
        Option("variance", float, 1.0, "Truth N(0, variance I).", low=0, open_low=True),
    ),
    _gaussian_build, _theory("gaussian"), _gaussian_title,
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
        Option("vocab", int, 50, "Number of categories K.", low=1),
        Option("init", str, "zipf", "Initial truth; wordfreq: the K most common English words (needs the wordfreq extra).",
               choices=("zipf", "uniform", "dirichlet", "wordfreq")),
        Option("zipf_exponent", float, 1.0, "beta in p_i ~ i^-beta (init zipf).", low=0),
        Option("dirichlet_concentration", float, 1.0, "Symmetric concentration (init dirichlet; the truth is drawn with --seed).",
               low=0, open_low=True),
        Option("top_k", int, 0, "Keep the k most probable categories (0: off).", low=0),
        Option("temperature", float, 1.0, "Decoding temperature when sampling.", target="params", low=0, open_low=True),
        Option("top_p", float, 1.0, "Nucleus sampling mass in (0, 1] (1: off).", target="params", low=0, high=1,
               open_low=True),
        Option("smoothing", float, 0.0, "Add-s smoothing of the refit counts.", target="params", low=0),
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
        Option("preset", str, "tiny", "Protocol: tiny (fast CPU loop), ainex (the Ainex study's constants), "
               "micro (seconds per generation, for tests) or small (tiny's with a GPT-2-small-shaped model, for a "
               "GPU).", choices=("tiny", "ainex", "micro", "small")),
        Option("continue_training", bool, True, "Fine-tune each generation from the previous one (the published "
               "protocol), or from the base model with a fresh optimizer (--from-base).", flag="from-base"),
        Option("carry_optimizer", bool, True, "With continued training, carry the AdamW state from generation to "
               "generation as well as the weights (the published protocol), or start a fresh optimizer on the "
               "carried weights (--fresh-optimizer).", flag="fresh-optimizer"),
        Option("epochs", int, 0, "Fine-tuning epochs per generation (0: the preset's).", low=0),
        Option("lr", float, 0.0, "Fine-tuning learning rate (0: the preset's).", low=0),
        Option("length", int, 0, "Words per text (0: the preset's).", low=0),
        Option("eval_texts", int, 0, "Texts generated per generation for the metrics (0: the preset's).", low=0),
        Option("temperature", float, 0.0, "Sampling temperature of the generated texts (0: the preset's; tiny 1, "
               "ainex 0.8).", low=0),
        Option("top_k", int, 0, "Keep only the k most probable next tokens when sampling (0: the preset's; tiny "
               "none, ainex 50).", low=0),
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
    if not isinstance(name, str) or name not in ENTRIES:
        from collapsim.schema import shown

        raise ConfigError(f"unknown family {shown(name)}; choose one of {', '.join(ENTRIES)}")
    return ENTRIES[name]


def check_options(family: str, family_options: dict, params: dict) -> tuple[dict, dict]:
    """(family_options, params) with every value checked against its option's rule (``collapsim.schema``) and
    whole-valued floats made ints; refuses an option the family does not have, or one given in the wrong
    section. The one check for the command line, ``run --config`` and sweep configs."""
    from collapsim.schema import check

    e = entry(family)
    options = {o.name: o for o in e.options}
    out = {"family_options": {}, "params": {}}
    for section, given in (("family_options", family_options), ("params", params)):
        unknown = sorted(set(given) - set(options), key=str)
        if unknown:
            raise ConfigError(f"family {family!r} has no option {', '.join(map(str, unknown))}")
        for name, value in given.items():
            o = options[name]
            if o.target != section:
                raise ConfigError(f"{o.flag_name} belongs in {o.target}, not {section}")
            out[section][name] = check(o.flag_name, value, o.rule())
    return out["family_options"], out["params"]


def check_float_ranges(spec, dtype) -> None:
    """Refuse a float option the run's floats (``dtype``) cannot hold (``collapsim.schema.check_float_range``):
    before simulating, rather than an inf that fails the run after it."""
    from collapsim.schema import check_float_range

    for o in entry(spec.family).options:
        if o.type is float:
            value = (spec.family_options if o.target == "family_options" else spec.params)[o.name]
            check_float_range(o.flag_name, value, dtype)


def with_defaults(spec):
    """The spec with every option the entry knows filled in (so config.json spells out the whole run), each
    value checked by :func:`check_options`."""
    e = entry(spec.family)
    fo, pa = check_options(spec.family, dict(spec.family_options), dict(spec.params))
    for o in e.options:
        (fo if o.target == "family_options" else pa).setdefault(o.name, o.default)
    return spec.replace(family_options=fo, params=pa)


# ---------------------------------------------------------------------------------------------- regression


def _regression_build(spec) -> Loop:
    from collapsim.families import regression as fam

    o, p = spec.family_options, spec.params
    fam.validate(o["dim"], spec.samples, o["design"])
    if spec.method == "shortcut":
        raise ConfigError("the regression family has no sufficient-statistics shortcut; use --method explicit")
    wn = float(o["weight_norm"])
    if not (wn >= 0 and wn != float("inf")):
        raise ConfigError(f"--weight-norm must be a finite number >= 0, got {wn}")
    params = fam.default_params(o["dim"], float(p["noise"]), float(p["ridge"]), wn)
    family = fam.regression(o["dim"], spec.samples, o["design"])
    return Loop(family, params, False, {"truth": f"y = x^T w* + {p['noise']:g} e, x ~ N(0, I_{o['dim']}), ||w*|| = {wn:g}"})


def _regression_title(spec) -> str:
    o, p = spec.family_options, spec.params
    ridge = f", ridge={p['ridge']:g}" if p["ridge"] else ""
    return (f"regression d={o['dim']}, n={spec.samples}, {o['design']} design, sigma={p['noise']:g}{ridge}, {spec.policy}"
            + _alpha_title(spec) + f", {spec.seeds} chains")


REGRESSION = Entry(
    "regression", "Least squares refit on labels from its previous fit (Gerstgrasser et al. 2024): replace vs accumulate.",
    {"generations": 20, "samples": 100, "seeds": 2000},
    (
        Option("dim", int, 10, "Number of features d.", low=1),
        Option("design", str, "fixed", "fixed: one design X per chain, relabelled each generation; fresh: a new X each generation.",
               choices=("fixed", "fresh")),
        Option("weight_norm", float, 1.0, "||w*|| of the truth (matters only with --ridge).", low=0),
        Option("noise", float, 1.0, "Label noise sd sigma.", target="params", low=0),
        Option("ridge", float, 0.0, "Ridge penalty lambda (0: ordinary least squares).", target="params", low=0),
    ),
    _regression_build, _theory("regression"), _regression_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["dim"] ** 2 * _buffer_factor(spec),
    # The model: w and the fixed design X (n, d); the fit's Gram matrix X^T X and its eigenvectors are d x d
    # each (eigh's workspace is of that order too): --dim 50,000 is 10 GB a matrix, per chain.
    lambda spec: (float(spec.family_options["dim"]) * (spec.samples + 1) + float(spec.family_options["dim"]) ** 2 * 2,
                  float(spec.family_options["dim"]) + 1),
)


ENTRIES[REGRESSION.name] = REGRESSION


# ------------------------------------------------------------------------------------------------------ kde


def _kde_build(spec) -> Loop:
    from collapsim.families import kde as fam

    o, p = spec.family_options, spec.params
    if spec.method == "shortcut":
        raise ConfigError("the kde family has no sufficient-statistics shortcut; use --method explicit")
    params = fam.make_params(o["truth"], o["dim"], float(p["bandwidth"]), float(o["scale"]), float(o["spread"]))
    mean0, tr0 = fam.truth_moments(o["truth"], o["dim"], float(o["scale"]), float(o["spread"]))
    return Loop(fam.kde(o["dim"], spec.samples, o["truth"]), params, False,
                {"truth": f"{o['truth']} (d={o['dim']}, scale {o['scale']:g}, spread {o['spread']:g}); mean {mean0.tolist()}, tr Cov {tr0:.6g}"})


def _kde_title(spec) -> str:
    o = spec.family_options
    return (f"kde {o['truth']} d={o['dim']}, h={spec.params['bandwidth']:g}, n={spec.samples}, {spec.policy}"
            + _alpha_title(spec) + f", {spec.seeds} chains")


KDE = Entry(
    "kde", "Refit a Gaussian kernel density estimate (fixed bandwidth) on its own samples: variance diffuses upward.",
    {"generations": 100, "samples": 50, "seeds": 2000},
    (
        Option("dim", int, 1, "Dimension d (blobs and moons: 2).", low=1),
        Option("truth", str, "gaussian", "The real data: N(0, scale^2 I), three blobs, or two moons.",
               choices=("gaussian", "blobs", "moons")),
        Option("scale", float, 1.0, "Truth scale: the Gaussian's sd, the blobs' circle radius, the moons' size.", low=0),
        Option("spread", float, 0.1, "Blob sd (blobs) or added noise sd (moons).", low=0),
        Option("bandwidth", float, 0.2, "Kernel bandwidth h.", target="params", low=0),
    ),
    _kde_build, _theory("kde"), _kde_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["dim"] * _buffer_factor(spec),
    lambda spec: (float(spec.samples) * (spec.family_options["dim"] + 1)
                  * (spec.generations if spec.policy == "accumulate" else 1), float(spec.family_options["dim"])),
)


ENTRIES[KDE.name] = KDE


# ------------------------------------------------------------------------------------------------------ gmm


def _gmm_build(spec) -> Loop:
    from collapsim.families import gmm as fam

    o, p = spec.family_options, spec.params
    fam.validate(o["dim"], o["components"], o["covariance"], o["init"], o["max_iter"])
    if spec.method == "shortcut":
        raise ConfigError("the gmm family has no sufficient-statistics shortcut; use --method explicit")
    if not 0 <= o["truth_weight"] <= 1:
        raise ConfigError(f"--truth-weight must lie in [0, 1], got {o['truth_weight']}")
    if o["holdout"] < 2:
        raise ConfigError(f"--holdout must be at least 2, got {o['holdout']}")
    for name in ("tol", "reg", "threshold"):
        if not (float(p[name]) >= 0 and float(p[name]) != float("inf")):
            raise ConfigError(f"--{name} must be a finite number >= 0, got {p[name]}")
    truth = fam.two_component_truth(o["dim"], float(o["separation"]), float(o["truth_weight"]))
    params = fam.make_params(*truth, holdout_size=o["holdout"], seed=spec.seed, tol=float(p["tol"]), reg=float(p["reg"]),
                             threshold=float(p["threshold"]))
    derived = {"truth": f"{o['truth_weight']:g} N(-{o['separation'] / 2:g} e1, I_{o['dim']}) + "
                        f"{1 - o['truth_weight']:g} N(+{o['separation'] / 2:g} e1, I_{o['dim']})",
               "truth_tail_mass": fam.truth_tail_mass(*truth, draws=200_000)}
    return Loop(fam.gmm(o["dim"], o["components"], o["covariance"], o["init"], o["max_iter"]), params, False, derived)


def _gmm_check(spec) -> None:
    o = spec.family_options
    if o["components"] > spec.samples:  # more components than points: k-means++ and EM have nothing to split
        raise ConfigError(f"--components {o['components']} is more than the {spec.samples} samples per generation; "
                          "a mixture fit needs at least one point per component")


def _gmm_holdout_floats(spec) -> float:
    """Floats per chain for the held-out sample's work (M = --holdout points): each chain draws M points from
    its model (M, d), projects and sorts them on P directions (M, P, twice), evaluates the held-out sample
    under its K components (M, K); generation 0 may fit EM on M real points (responsibilities and k-means
    distances, (M, K, d + 4)). ``--holdout 1,000,000,000`` is 8 GiB on the host and far more per chain."""
    o = spec.family_options
    M, K, d = float(o["holdout"]), float(o["components"]), float(o["dim"])
    P = 16.0 if d > 1 else 1.0  # gmm.make_params's projection directions
    return M * (K * (d + 4) + 2 * d + 2 * P)


def _gmm_predict(spec, loop):
    from collapsim.theory import Prediction

    return Prediction({}, {}, "no closed form for a mixture refit by EM (Monte Carlo only)")


def _gmm_title(spec) -> str:
    o = spec.family_options
    return (f"gmm K={o['components']} d={o['dim']} ({o['covariance']}, init {o['init']}), n={spec.samples}, {spec.policy}"
            + _alpha_title(spec) + f", {spec.seeds} chains")


GMM = Entry(
    "gmm", "Refit a Gaussian mixture by EM on its own samples (Shumailov et al. 2024): components collapse.",
    {"generations": 50, "samples": 1000, "seeds": 200},
    (
        Option("dim", int, 2, "Dimension d.", low=1),
        Option("components", int, 2, "Components K of the fitted mixture (at most the samples per generation).", low=1),
        Option("covariance", str, "full", "Full covariance matrices or diagonal variances.", choices=("full", "diag")),
        Option("init", str, "kmeans++", "EM start: k-means++ seeding, random responsibilities, or the previous model (warm).",
               choices=("kmeans++", "random", "warm")),
        Option("max_iter", int, 100, "Most EM iterations per fit.", low=1),
        Option("separation", float, 4.0, "Truth: distance between the two unit-covariance components.", low=0),
        Option("truth_weight", float, 0.5, "Truth: weight of the left component.", low=0, high=1),
        Option("holdout", int, 1000, "Size of the held-out real sample (log-likelihood, W2, tails).", low=2),
        Option("tol", float, 1e-3, "EM stops when the mean log-likelihood gains less.", target="params", low=0),
        Option("reg", float, 1e-6, "Added to every covariance's diagonal (scikit-learn's reg_covar).", target="params", low=0),
        # A weight is at most 1, so a threshold of 1 or more would count no component active, ever.
        Option("threshold", float, 0.05, "Weight above which a component counts as active, in [0, 1).", target="params",
               low=0, high=1, open_high=True),
    ),
    _gmm_build, _gmm_predict, _gmm_title,
    lambda spec, shortcut: float(spec.seeds) * spec.generations * spec.samples * spec.family_options["components"]
    * spec.family_options["dim"] ** 2 * 20 * _buffer_factor(spec),
    lambda spec: (float(spec.family_options["components"]) * spec.family_options["dim"] ** 2 * 3 + _gmm_holdout_floats(spec),
                  float(spec.family_options["dim"] * (spec.family_options["components"] * 4 + 1))),
    check=_gmm_check,
)


ENTRIES[GMM.name] = GMM
