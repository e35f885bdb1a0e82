import click


@click.command()
def gaussian_cmd():
    """Gaussian family (being built)."""
