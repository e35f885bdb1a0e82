"""``collapsim predict gpt2``: the forecast of a GPT-2 collapse loop from its calibration alone, no loop run.

The calibration (:mod:`collapsim.families.llm.calibration`, cached) fine-tunes the base model S times for
one generation on fresh real texts; the forecast (:func:`collapsim.families.llm.loop.forecast`) is the
Wright-Fisher theory at the calibrated n_eff with its one-SE band. jax is imported inside the command only.
"""

from __future__ import annotations

import click

from collapsim.commands.options import Checked
from collapsim.runs.spec import ENGINE_RULES


@click.group("predict")
def predict():
    """Forecast a loop before running it (from a calibration that never sees the loop)."""


@predict.command("gpt2")
@click.option("--preset", type=click.Choice(("tiny", "ainex", "micro", "small")), default="tiny", show_default=True,
              help="The protocol, as for `collapsim run gpt2`.")
@click.option("--generations", type=Checked(ENGINE_RULES["generations"]), default=15, show_default=True)
@click.option("--samples", type=Checked(ENGINE_RULES["samples"]), default=128, show_default=True,
              help="Texts per generation (n).")
@click.option("--policy", type=click.Choice(("replace", "mix")), default="replace", show_default=True)
@click.option("--alpha", type=str, default=None, help="Real share per generation under mix (a number or schedule).")
@click.option("--fits", type=click.IntRange(3, 1000), default=16, show_default=True,
              help="One-generation fine-tunes in the calibration (S).")
@click.option("--epochs", type=click.IntRange(0), default=0, help="Fine-tuning epochs (0: the preset's).")
@click.option("--lr", type=float, default=0.0, help="Fine-tuning learning rate (0: the preset's).")
@click.option("--temperature", type=float, default=0.0, help="Sampling temperature (0: the preset's).")
@click.option("--top-k", "top_k", type=click.IntRange(0), default=0, help="Top-k (0: the preset's).")
@click.option("--out", type=click.Path(), default=None, help="Forecast folder (default runs/predict-gpt2-TIME).")
def predict_gpt2(preset, generations, samples, policy, alpha, fits, epochs, lr, temperature, top_k, out):
    """Print and write the forecast curves (unigram entropy, Gini-Simpson, support, tail mass) with the
    calibration's one-SE band; labelled approximate. `collapsim run gpt2` with the same settings draws the
    same forecast beside the LM."""
    from collapsim.commands.options import use_all_cores

    use_all_cores()
    from collapsim.families.llm import loop as LP
    from collapsim.output import forecast as F
    from collapsim.runs.execute import resolve
    from collapsim.runs.spec import RunSpec

    requested = F.check_out(out) if out else None
    opts = {"preset": preset, "epochs": epochs, "lr": lr, "temperature": temperature, "top_k": top_k}
    spec, _, loop = resolve(RunSpec("gpt2", opts, {}, policy, alpha, samples, generations, 2, 0, driver="host"))
    fc = LP.forecast(spec, loop, fits)
    cal = {k: v for k, v in fc["calibration"].items() if k not in ("mean_law", "halves", "fit_measurement")}
    title = f"forecast: {LP.title(spec).rsplit(', ', 1)[0]}"
    config = {"family": "gpt2", "command": "predict", "policy": spec.policy, "alpha": spec.alpha,
              "generations": spec.generations, "samples": spec.samples, "family_options": dict(spec.family_options),
              "kind": "approximate: Wright-Fisher drift (theory.llm eqs. L2-L5) at the calibrated n_eff, started at "
                      "the base model's measured metrics; band: the curves at n_eff's one-SE ends",
              "label": fc["label"], "calibration": cal,
              "covers": "replace and mix; continued training's carried weights and AdamW state after generation 1 "
                        "are not in the calibration"}
    path = F.write(requested, config, fc, title)
    click.echo(f"{fc['label']} (approximate; {cal['fits']} one-generation fine-tunes on {cal['n']} fresh texts, "
               f"{cal['tokens']} tokens; no loop run)")
    click.echo(F.table(fc))
    click.echo(f"wrote {path}/ (config.json, forecast.csv, figure.png)")
