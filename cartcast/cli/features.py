"""`cartcast features apply | materialize | get | serve`: Feast."""

from __future__ import annotations

import typer

from cartcast.cli.common import parse_time, print_features

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
    customer: str = typer.Option(None, help="Customer id."),
    user: str = typer.Option(None, help="Clickstream user id."),
    service: str = typer.Option(
        None, help="Feature service (default: the first model's of that entity in the catalog)."
    ),
    online: str = typer.Option(None, help=ONLINE_HELP),
) -> None:
    """Print one customer's (or user's) online features."""
    from cartcast.features.online import online_features

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    print_features(online_features(customer=customer, user=user, service=service, online=online))


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
