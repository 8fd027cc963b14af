"""The `cartcast` command line."""

from __future__ import annotations

from pathlib import Path

import typer

from cartcast.dbt_runner import DbtError, run_dbt
from cartcast.paths import Warehouse

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def build(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild incremental models."),
) -> None:
    """Run `dbt build` on the warehouse, then print the load summary."""
    warehouse = Warehouse.from_env()
    args = ["build", *(["--full-refresh"] if full_refresh else [])]
    try:
        run_dbt(args, warehouse, echo=True)
    except DbtError as err:
        typer.secho(str(err).splitlines()[0], fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    summary()


@app.command()
def summary() -> None:
    """Print rows in, rows quarantined by reason, customers, snapshots and features."""
    from cartcast.summary import WarehouseNotBuilt, load_summary, render_summary

    try:
        typer.echo(render_summary(load_summary(Warehouse.from_env())))
    except WarehouseNotBuilt as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@app.command()
def generate(
    out: Path = typer.Option(Path("warehouse/synthetic"), help="Folder for the raw files."),
    customers: int = typer.Option(10_000, min=1, help="How many customers."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same files."),
    file_format: str = typer.Option("csv", "--format", help="csv (gzip) or parquet."),
    events: int | None = typer.Option(
        None, min=0, help="Clickstream events in all (default: 100 per customer)."
    ),
    event_users: int | None = typer.Option(
        None, min=1, help="Clickstream users (default: the customers, or 1 per 100 events)."
    ),
    event_days: float = typer.Option(9.0, min=0.05, help="Days the clickstream spans."),
) -> None:
    """Write synthetic orders and events in the raw formats, for benchmarks and scale tests.

    About 126 order lines per customer (the real data has 124, guest lines included).
    """
    from cartcast.generate import generate as generate_files

    written = generate_files(
        out,
        customers=customers,
        seed=seed,
        file_format=file_format,
        events=events,
        event_users=event_users,
        event_days=event_days,
    )
    for name, path in written.items():
        typer.echo(f"{name}: {path}")


@app.command()
def version() -> None:
    """Print the installed version."""
    from cartcast import __version__

    typer.echo(__version__)
