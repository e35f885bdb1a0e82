"""``collapsim run categorical`` and ``collapsim bench categorical`` (being built)."""

import click


@click.command()
def categorical_cmd():
    """Categorical token distributions (being built)."""
    raise click.ClickException("the categorical family is not built yet")


@click.command()
def bench_categorical_cmd():
    """Categorical benchmark (being built)."""
    raise click.ClickException("the categorical benchmark is not built yet")
