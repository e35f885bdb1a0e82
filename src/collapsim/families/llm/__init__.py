"""The LLM collapse protocol as one family (``collapsim run gpt2``): a language whose truth is known
(:mod:`~collapsim.families.llm.source`), a pretrained base model (:mod:`~collapsim.families.llm.pretrain`),
the protocol's presets (:mod:`~collapsim.families.llm.presets`, :mod:`~collapsim.families.llm.loop`), and the
GPT-2 model as a :class:`collapsim.engine.Family` (:mod:`~collapsim.families.llm.family`). The model itself is
the backend :mod:`collapsim.gpt2`."""

from __future__ import annotations

from collapsim.families.entry import Entry, Loop, Option


def _gpt2_build(spec) -> Loop:
    from collapsim.families.llm.loop import build

    return build(spec)


def _gpt2_predict_runs(spec, loop, per_chain):
    from collapsim.families.llm.loop import predict_runs

    return predict_runs(spec, loop, per_chain)


def _gpt2_title(spec) -> str:
    from collapsim.families.llm.loop import title

    return title(spec)


ENTRY = Entry(
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
        Option("forecast", bool, True, "Draw the forecast from the calibration (S one-generation fine-tunes of "
               "the base model, cached; collapsim predict gpt2) beside the LM, or not (--no-forecast).",
               flag="no-forecast"),
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
    # a training loop per generation: the contract test runs it in its slow set
    smallest=({"preset": "micro", "samples": 1, "seeds": 2},),  # RunSpec needs two chains (a standard error)
)
