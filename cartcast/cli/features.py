"""`cartcast features apply | materialize | get | serve`: Feast."""

from __future__ import annotations

import typer

from cartcast.cli.common import NOW_HELP, parse_time, print_features, print_freshness

features_app = typer.Typer(no_args_is_help=True, help="Feast: apply, materialize, look up.")

ONLINE_HELP = "sqlite or redis (default $CARTCAST_ONLINE_STORE)."


@features_app.command("apply")
def features_apply(online: str = typer.Option(None, help=ONLINE_HELP)) -> None:
    """Register the feature definitions (feature_repo/) and create the online tables."""
    from cartcast.features import store as feature_store

    feature_store.apply(online=online)


@features_app.command("materialize")
def features_materialize(
    start: str = typer.Option(None, help="ISO time; default: the beginning of the data."),
    end: str = typer.Option(None, help="ISO time; default: now."),
    online: str = typer.Option(None, help=ONLINE_HELP),
) -> None:
    """Load the newest features per customer and user in [start, end] into the online store."""
    from cartcast.features import store as feature_store

    feature_store.materialize(start=parse_time(start), end=parse_time(end), online=online)


@features_app.command("get")
def features_get(
    customer: str = typer.Option(None, help="Customer id (raw or the warehouse's key)."),
    user: str = typer.Option(None, help="Clickstream user id (raw or the warehouse's key)."),
    service: str = typer.Option(
        None, help="Feature service (default: the first model's of that entity in the catalog)."
    ),
    online: str = typer.Option(None, help=ONLINE_HELP),
    now: str = typer.Option(None, help=NOW_HELP),
) -> None:
    """Print one customer's (or user's) online features, and each feature view's event time
    and age. In a warehouse built with pseudonymized ids a raw id is hashed first."""
    from cartcast.features.online import online_lookup
    from cartcast.warehouse.paths import Warehouse
    from cartcast.warehouse.privacy import warehouse_key

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    warehouse = Warehouse.from_env()
    key = warehouse_key(customer if customer is not None else user, warehouse)
    found = online_lookup(
        customer=key if customer is not None else None,
        user=key if user is not None else None,
        service=service,
        online=online,
        warehouse=warehouse,
        now=parse_time(now),
    )
    print_features(found.values)
    print_freshness(found.freshness, found.now)


@features_app.command("key")
def features_key(
    customer: str = typer.Option(None, help="Raw customer id."),
    user: str = typer.Option(None, help="Raw clickstream user id."),
) -> None:
    """Print the key the warehouse and Feast hold for a raw id (its salted hash when the
    warehouse was built with pseudonymized ids, else the id), e.g. for the feature server."""
    from cartcast.warehouse.paths import Warehouse
    from cartcast.warehouse.privacy import warehouse_key

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    typer.echo(warehouse_key(customer if customer is not None else user, Warehouse.from_env()))


@features_app.command("serve")
def features_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(6566, help="Port to listen on."),
    online: str = typer.Option(None, help=ONLINE_HELP),
) -> None:
    """Run the Feast feature server over this warehouse's online store (HTTP)."""
    import uvicorn
    from feast.feature_server import get_app

    from cartcast.features.store import get_store

    uvicorn.run(get_app(get_store(online=online)), host=host, port=port, log_level="warning")
