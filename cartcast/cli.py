"""The `cartcast` command line."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def version() -> None:
    """Print the installed version."""
    from cartcast import __version__

    typer.echo(__version__)
