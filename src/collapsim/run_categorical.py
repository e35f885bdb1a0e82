"""``collapsim run categorical``: a token distribution refit on its own samples, beside exact Wright-Fisher theory."""

from __future__ import annotations

import click

from collapsim.cli_common import check_engine_options, engine_options, resolve_alpha, use_all_cores
from collapsim.errors import ConfigError
from collapsim.policies import SHORTCUT_POLICIES
from collapsim.runfolder import check_out, default_out, finish_summary, simulate_with_progress, summary_table, timed, versions, write_run

METHODS = ("auto", "explicit", "shortcut")


#: A mix run skips its exact theory beyond this many multiply-adds of the forward method (about a minute).
MIX_THEORY_BUDGET = 3e10


def theory_note(policy: str, decoded: bool, smoothing: float, forward_cost: float = 0.0) -> str:
    """Why no exact theory is drawn, or '' when it is."""
    if decoded:
        return "no exact theory drawn: the decoding transform changes the sampling distribution"
    if smoothing > 0:
        return "no exact theory drawn: smoothing revives extinct categories"
    if policy not in ("replace", "mix"):
        return f"no exact theory for policy {policy!r}"
    if policy == "mix" and forward_cost > MIX_THEORY_BUDGET:
        return (f"exact theory skipped: the mix recursion needs {forward_cost:.2g} multiply-adds (minutes); "
                "fewer distinct truth probabilities, samples or generations bring it back")
    return ""


@click.command()
@engine_options(generations=100, samples=200, seeds=2000)
@click.option("--vocab", type=int, default=50, show_default=True, help="Number of categories K.")
@click.option("--init", type=click.Choice(["zipf", "uniform", "dirichlet", "wordfreq"]), default="zipf", show_default=True,
              help="Initial truth; wordfreq: the K most common English words (needs the wordfreq extra).")
@click.option("--zipf-exponent", type=float, default=1.0, show_default=True, help="beta in p_i ~ i^-beta (init zipf).")
@click.option("--dirichlet-concentration", type=float, default=1.0, show_default=True,
              help="Symmetric concentration (init dirichlet; the truth is drawn with --seed).")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="Decoding temperature when sampling.")
@click.option("--top-k", type=int, default=0, show_default=True, help="Keep the k most probable categories (0: off).")
@click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus sampling mass in (0, 1] (1: off).")
@click.option("--smoothing", type=float, default=0.0, show_default=True, help="Add-s smoothing of the refit counts.")
@click.option("--method", type=click.Choice(METHODS), default="auto", show_default=True,
              help="explicit samples, or the exact shortcut (one draw from the mixture; replace and mix only).")
def categorical_cmd(generations, samples, seeds, policy, alpha, seed, out, vocab, init, zipf_exponent,
                    dirichlet_concentration, temperature, top_k, top_p, smoothing, method):
    """Refit a K-category distribution on its own samples (Wright-Fisher drift), with LLM-style decoding."""
    use_all_cores()
    import numpy as np

    from collapsim.engine import LoopConfig, run_loop
    from collapsim.families import categorical as fam
    from collapsim.plots import plot_summary
    from collapsim.theory import categorical as theory

    check_engine_options(generations, samples, seeds)
    fam.validate(vocab, temperature, top_k, top_p, smoothing)
    alpha_t, alpha_spec = resolve_alpha(policy, alpha, generations)
    truth = fam.initial_truth(init, vocab, zipf_exponent, dirichlet_concentration, seed)
    out = check_out(out or default_out("categorical"))
    if method == "shortcut" and policy not in SHORTCUT_POLICIES:
        raise ConfigError(f"the exact shortcut covers the replace and mix policies, not {policy!r}")
    shortcut = method == "shortcut" or (method == "auto" and policy in SHORTCUT_POLICIES)

    decoded = fam.is_decoded(temperature, top_k, top_p, vocab)
    family = fam.categorical(vocab, top_k, tempered=temperature != 1.0, nucleus=top_p < 1.0)
    params = fam.make_params(truth, temperature, top_p, smoothing)
    cfg = LoopConfig(policy, samples, generations, shortcut)
    per_chain, elapsed = timed(
        simulate_with_progress,
        lambda progress: run_loop(family, cfg, params, alpha_t, seeds, seed, progress=progress),
        seeds, float(seeds) * generations * samples * (2 if policy == "mix" and not shortcut else 1), "simulating",
    )
    truth_sim = fam.simulated_truth(params)  # theory for exactly the distribution simulated
    theory_cost = theory.forward_cost(truth_sim, samples, generations)
    note = theory_note(policy, decoded, smoothing, theory_cost)
    bottom = np.asarray(params["bottom"])
    predicted, approx = {}, {}
    if not note:
        if policy == "mix" and theory_cost > MIX_THEORY_BUDGET / 10:
            click.echo("... computing the exact theory (up to a minute)", err=True)
        predicted = theory.predictions(policy, truth_sim, samples, alpha_t, bottom)
        approx = theory.approximations(policy, truth_sim, samples, alpha_t)
    summary = finish_summary(per_chain, predicted, approx)

    decoding = [f"temperature={temperature:g}"] if temperature != 1.0 else []
    decoding += [f"top-k={top_k}"] if 0 < top_k < vocab else []
    decoding += [f"top-p={top_p:g}"] if top_p < 1.0 else []
    title = (f"categorical K={vocab} ({init}), n={samples}, {policy}"
             + (f", alpha={alpha_spec}" if policy in ("mix", "keep-real") else "")
             + (", " + ", ".join(decoding) if decoding else "") + f", {seeds} chains")
    config = {
        "family": "categorical",
        "family_options": {
            "vocab": vocab, "init": init, "zipf_exponent": zipf_exponent,
            "dirichlet_concentration": dirichlet_concentration, "temperature": temperature, "top_k": top_k,
            "top_p": top_p, "smoothing": smoothing, "truth": truth_sim, "bottom_decile": np.flatnonzero(bottom),
        },
        "policy": policy, "alpha": alpha_spec, "alpha_t": alpha_t,
        "generations": generations, "samples": samples, "seeds": seeds, "seed": seed,
        "method": "shortcut" if shortcut else "explicit",
        "mix_meaning": "each training token is a fresh real draw with probability alpha_t",
        "theory": note or "exact (per-category Binomial Markov chains)",
        "elapsed_s": round(elapsed, 3), "versions": versions(),
    }
    path = write_run(out, config, summary, lambda p: plot_summary(summary, p, title, note))
    click.echo(summary_table(summary))
    if note:
        click.echo(note)
    click.echo(f"wrote {path}/ (config.json, metrics.csv, figure.png) in {elapsed:.1f}s of simulation")
