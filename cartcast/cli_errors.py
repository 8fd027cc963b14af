"""Errors every `cartcast` command reports the same way: one line, non-zero exit, no trace."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from cartcast.warehouse_connection import WarehouseBusy

# Distinct from 1 (a failed build or bad input), so schedulers can retry a busy warehouse later.
BUSY_EXIT_CODE = 75


class CartcastGroup(TyperGroup):
    """The top-level command group: wraps every subcommand, nested ones included."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WarehouseBusy as err:
            typer.secho(str(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(BUSY_EXIT_CODE) from None
