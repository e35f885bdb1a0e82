import click


@click.command()
def bench_gaussian_cmd():
    """Gaussian benchmark (being built)."""
