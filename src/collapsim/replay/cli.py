"""`collapsim replay ...` commands (check, play, search)."""

import click


@click.group()
def replay():
    """Generation in the limit with replay: check classes, play games, search for small failing classes."""
