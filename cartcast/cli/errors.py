"""Errors every `cartcast` command reports the same way: one line, non-zero exit, no trace."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from cartcast.errors import CartcastError, DbtError, WarehouseBusy

# Distinct from 1 (a failed build or bad input), so schedulers can retry a busy warehouse later.
BUSY_EXIT_CODE = 75


def headline(err: CartcastError) -> str:
    """What the user reads. dbt has already printed its own log, so its first line suffices."""
    text = str(err)
    return text.splitlines()[0] if isinstance(err, DbtError) and text else text


class CartcastGroup(TyperGroup):
    """The top-level command group: wraps every subcommand, nested ones included, so no
    command catches cartcast's errors itself."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WarehouseBusy as err:
            typer.secho(str(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(BUSY_EXIT_CODE) from None
        except CartcastError as err:
            typer.secho(headline(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from err
