"""``collapsim run FAMILY`` (one command per registry entry) and ``collapsim run --config RUN/config.json``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from collapsim.commands.options import Checked, curation_options, engine_options, option_type, use_all_cores
from collapsim.errors import ConfigError
from collapsim.runs.registry import ENTRIES, Entry
from collapsim.runs.spec import DRIVERS, ENGINE_RULES, METHODS, PRECISIONS, SPEC_DEFAULTS, RunSpec


def report(result) -> None:
    """Print the short table, the theory note and where the run went."""
    from collapsim.output.runfolder import summary_table

    click.echo(summary_table(result.summary))
    if result.note:
        click.echo(result.note)
    files = ", ".join(sorted(f.name for f in result.path.iterdir() if f.is_file()))
    click.echo(f"wrote {result.path}/ ({files}) in {result.elapsed:.1f}s of simulation")
    if result.requested is not None and result.path != result.requested:
        click.echo(f"note: another run wrote {result.requested} meanwhile; this run went to {result.path}")


def execute_and_report(spec: RunSpec, out) -> None:
    # A training loop's heap setting (collapsim.commands.heap) was made by the launcher, before JAX was
    # imported: `run gpt2 ...` and `run --config` of a gpt2 run alike.
    use_all_cores()
    from collapsim.output.run import execute

    report(execute(spec, out))


def spec_from_options(e: Entry, generations, samples, seeds, policy, alpha, seed, method, driver, metrics_every,
                      precision, curate=SPEC_DEFAULTS["curate"], reward_temperature=SPEC_DEFAULTS["reward_temperature"],
                      **options) -> RunSpec:
    """The run spec of ``collapsim run FAMILY``'s parsed options (also :func:`collapsim.api.run`'s); ``alpha``
    None (not given) takes the spec's default for the policy, and a given one is read there, once."""
    fo = {o.name: options[o.name] for o in e.options if o.target == "family_options"}
    pa = {o.name: options[o.name] for o in e.options if o.target == "params"}
    return RunSpec(e.name, fo, pa, policy, alpha, samples, generations, seeds, seed,
                   method, driver, metrics_every, precision, curate, reward_temperature)


def family_command(e: Entry) -> click.Command:
    """A click command whose options are the engine's plus the entry's own."""

    def callback(out, **options):
        execute_and_report(spec_from_options(e, **options), out)

    cmd = click.Command(e.name, callback=callback, help=e.help)
    for o in reversed(e.options):
        kind = option_type(o.rule())
        if o.flag:
            cmd = click.option(f"--{o.name.replace('_', '-')}/--{o.flag}", o.name, default=o.default, show_default=True,
                               help=o.help)(cmd)
            continue
        cmd = click.option(f"--{o.name.replace('_', '-')}", o.name, type=kind, default=o.default, show_default=True,
                           help=o.help)(cmd)
    for opt in reversed(curation_options()):
        cmd = opt(cmd)
    cmd = click.option("--metrics-every", type=Checked(ENGINE_RULES["metrics_every"]), default=SPEC_DEFAULTS["metrics_every"], show_default=True,
                       help="Record the family's expensive metrics (e.g. the Gaussian's W2) only every k-th "
                            "generation (and at 0 and the last); the others every generation.")(cmd)
    cmd = click.option("--precision", type=click.Choice(PRECISIONS), default=SPEC_DEFAULTS["precision"], show_default=True,
                       help="float64 (JAX x64) for runs whose state needs more than float32's 7 digits or its "
                            "range (slower, most of all on GPUs).")(cmd)
    cmd = click.option("--driver", type=click.Choice(DRIVERS), default=e.driver, show_default=True,
                       help="scan: lax.scan + vmap; host: a Python loop with a checkpoint per generation.")(cmd)
    cmd = click.option("--method", type=click.Choice(METHODS), default=SPEC_DEFAULTS["method"], show_default=True,
                       help="explicit samples, the exact sufficient-statistics shortcut, or auto.")(cmd)
    return engine_options(**e.defaults)(cmd)


@click.group("run", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Re-run the run recorded in RUN/config.json (reproduces its metrics.csv).")
@click.option("--out", type=click.Path(), default=None, help="Run folder for --config (default runs/FAMILY-TIME).")
@click.pass_context
def run(ctx, config_path, out):
    """Run a generation loop for one model family and write a run folder."""
    if ctx.invoked_subcommand is not None:
        if config_path or out:
            raise ConfigError("--config and --out before the family name apply only to re-runs: collapsim run --config RUN/config.json")
        return
    if not config_path:
        click.echo(ctx.get_help())
        return
    execute_and_report(RunSpec.from_config(read_config(config_path)), out)


def read_config(path) -> dict:
    """A run's config.json as a dictionary; one-line errors for a missing, unreadable or malformed file."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path}: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as err:
        raise ConfigError(f"--config {path}: not valid JSON ({err.__class__.__name__})") from None
    except ValueError:  # an integer of more digits than Python converts from text (sys.int_info.str_digits_check_threshold)
        raise ConfigError(f"--config {path}: holds an integer too long to read (thousands of digits); "
                          "no setting takes such a number") from None
    except OSError as err:
        raise ConfigError(f"--config {path}: cannot read ({err.strerror})") from None


for _entry in ENTRIES.values():
    run.add_command(family_command(_entry), _entry.name)
