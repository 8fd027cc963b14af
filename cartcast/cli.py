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
def demo() -> None:
    """The whole job on the configured data: dbt build, summary, Feast apply and materialize,
    then one customer's online features."""
    import duckdb

    from cartcast import feature_store
    from cartcast.online import online_features

    build(full_refresh=False)
    warehouse = Warehouse.from_env()
    typer.echo("\nFeast: applying definitions and materializing the online store ...")
    try:
        feature_store.apply(warehouse)
        feature_store.materialize(warehouse)
    except _feature_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    (customer,) = con.sql(
        "select customer_id from marts.customer_features "
        "order by as_of desc, orders_lifetime desc, customer_id limit 1"
    ).fetchone()
    con.close()
    typer.echo(
        f"\nOnline features of customer {customer} (cartcast features get --customer {customer}):"
    )
    values = online_features(customer=customer, warehouse=warehouse)
    width = max(len(k) for k in values)
    for name, value in values.items():
        typer.echo(f"  {name:<{width}}  {value}")


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


features_app = typer.Typer(no_args_is_help=True, help="Feast: apply, materialize, look up.")
app.add_typer(features_app, name="features")


def _parse_time(value: str | None):
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or time (2011-12-01T00:00)"
        ) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _feature_errors():
    from cartcast.feature_store import FeatureStoreError
    from cartcast.training_set import TrainingSetError

    return (FeatureStoreError, TrainingSetError)


@features_app.command("apply")
def features_apply(
    online: str = typer.Option(None, help="sqlite or redis (default $CARTCAST_ONLINE_STORE)."),
) -> None:
    """Register the feature definitions (feature_repo/) and create the online tables."""
    from cartcast import feature_store

    try:
        feature_store.apply(online=online)
    except _feature_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@features_app.command("materialize")
def features_materialize(
    start: str = typer.Option(None, help="ISO time; default: the beginning of the data."),
    end: str = typer.Option(None, help="ISO time; default: now."),
    online: str = typer.Option(None, help="sqlite or redis (default $CARTCAST_ONLINE_STORE)."),
) -> None:
    """Load the newest features per customer and user in [start, end] into the online store."""
    from cartcast import feature_store

    try:
        feature_store.materialize(start=_parse_time(start), end=_parse_time(end), online=online)
    except _feature_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@features_app.command("get")
def features_get(
    customer: str = typer.Option(None, help="Customer id."),
    user: str = typer.Option(None, help="Clickstream user id."),
    service: str = typer.Option(
        None, help="Feature service (default: purchase_30d_v1 / intent_session_v1)."
    ),
    online: str = typer.Option(None, help="sqlite or redis (default $CARTCAST_ONLINE_STORE)."),
) -> None:
    """Print one customer's (or user's) online features."""
    from cartcast.online import online_features

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    try:
        values = online_features(customer=customer, user=user, service=service, online=online)
    except _feature_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    width = max(len(k) for k in values)
    for name, value in values.items():
        typer.echo(f"{name:<{width}}  {value}")


@features_app.command("serve")
def features_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(6566, help="Port to listen on."),
    online: str = typer.Option(None, help="sqlite or redis (default $CARTCAST_ONLINE_STORE)."),
) -> None:
    """Run the Feast feature server over this warehouse's online store (HTTP)."""
    import uvicorn
    from feast.feature_server import get_app

    from cartcast.feature_store import get_store

    uvicorn.run(get_app(get_store(online=online)), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    app()
