"""Click front end: thin typed overrides on each entry's defaults. No simulation code lives here.

Every user error (a :class:`~collapsim.errors.ConfigError` or a click usage error) is printed as a single
line ``collapsim: error: ...`` with exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import click

from collapsim.errors import ConfigError, NumericalError


class _OneLineErrors(click.Group):
    """A group whose user errors become one line on stderr and exit code 2."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click signature
        try:
            rv = super().main(args=args, prog_name=prog_name or "collapsim", standalone_mode=False, **extra)
        except click.exceptions.Exit as e:  # --help, or ctx.exit(n)
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("collapsim: aborted", err=True)
            sys.exit(130)
        except click.ClickException as e:
            click.echo(f"collapsim: error: {_one_line(e.format_message())}", err=True)
            sys.exit(2)
        except ConfigError as e:
            click.echo(f"collapsim: error: {_one_line(str(e))}", err=True)
            sys.exit(2)
        except NumericalError as e:
            click.echo(f"collapsim: error: {_one_line(str(e))}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


@click.group(cls=_OneLineErrors)
@click.version_option(package_name="collapsim")
def main():
    """collapsim: simulate model collapse and compare it with exact theory."""


@main.group(cls=click.Group)
def bench():
    """Time collapsim against reference implementations on the same work."""


def _register():
    # Each capability owns its commands; this file only wires them in.
    from collapsim.commands.run import run

    main.add_command(run, "run")

    from collapsim.commands.sweep import sweep

    main.add_command(sweep, "sweep")

    from collapsim.commands.bench.categorical import bench_categorical_cmd
    from collapsim.commands.bench.gaussian import bench_gaussian_cmd

    bench.add_command(bench_gaussian_cmd, "gaussian")
    bench.add_command(bench_categorical_cmd, "categorical")

    from collapsim.commands.bench.ngram import bench_ngram_cmd

    bench.add_command(bench_ngram_cmd, "ngram")

    from collapsim.commands.bench.sweep import bench_sweep_cmd

    bench.add_command(bench_sweep_cmd, "sweep")

    from collapsim.commands.bench.families import bench_families_cmd

    bench.add_command(bench_families_cmd, "families")

    from collapsim.commands.bench.replay import bench_replay_cmd

    bench.add_command(bench_replay_cmd, "replay")

    from collapsim.commands.bench.gmm import bench_gmm_cmd

    bench.add_command(bench_gmm_cmd, "gmm")

    from collapsim.commands.replay import replay

    main.add_command(replay, "replay")

    from collapsim.commands.reproduce import reproduce

    main.add_command(reproduce, "reproduce")

    from collapsim.commands.predict import predict

    main.add_command(predict, "predict")

    from collapsim.commands.llm import bench_llm_cmd, llm

    main.add_command(llm, "llm")
    bench.add_command(bench_llm_cmd, "llm")


_register()
