"""`collapsim llm ...` and `collapsim bench llm`."""

import click


@click.group()
def llm():
    """GPT-2 backend: load a local Hugging Face checkpoint, sample, fine-tune."""


@click.command()
def bench_llm_cmd():
    """Tokens per second of collapsim's GPT-2 sampler against Hugging Face generate."""
    raise click.ClickException("the llm benchmark is not built yet")
