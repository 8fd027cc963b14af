"""`cartcast bi [serve | stop | publish]`: the BI server (Apache Superset) and what it reads."""

from __future__ import annotations

import typer

from cartcast.warehouse.paths import Warehouse

bi_app = typer.Typer(
    help="The BI server (Apache Superset, on 127.0.0.1) with the shipped dashboard, reading "
    "the tables published after each build. `cartcast bi` alone is `cartcast bi serve`."
)

PORT_HELP = "Port on 127.0.0.1."


@bi_app.callback(invoke_without_command=True)
def bi(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        serve()


@bi_app.command("serve")
def serve(
    port: int = typer.Option(8088, help=PORT_HELP),
    detach: bool = typer.Option(
        False, "--detach", help="Start in the background and return (`cartcast bi stop` ends it)."
    ),
) -> None:
    """Set Superset up (first time: a minute), import the dashboard, start the server and
    print its address and login. In the foreground, Ctrl-C stops it."""
    from cartcast.bi import superset
    from cartcast.bi.launch import prepare
    from cartcast.bi.paths import BIPaths
    from cartcast.errors import BIError

    superset.executable("superset")  # installed? (before any work)
    warehouse = Warehouse.from_env()
    pid = superset.running(BIPaths.for_warehouse(warehouse))
    if pid is not None:
        raise BIError(
            f"A BI server for this warehouse already runs (pid {pid}): `cartcast bi stop` first."
        )
    typer.echo("Preparing Superset (metadata, the dashboard) ...")
    prepared = prepare(warehouse)
    if prepared.published_now:
        typer.echo(prepared.publication.describe())
    process = superset.start(prepared.paths, port)
    login = prepared.login(port)
    publication = prepared.publication
    typer.echo(
        f"\nSuperset is running: {login.url}/superset/dashboard/{prepared.bundle.slug}/\n"
        f"  login:     {login.username} / {login.password}\n"
        f"  reads:     {prepared.paths.current_database} (read-only)\n"
        f"             published {publication.published_at:%Y-%m-%d %H:%M:%S} UTC by "
        f"{publication.source}; replaced after each successful `dbt build` or `cartcast score`\n"
        f"  SQL Lab:   {login.url}/sqllab/ (database 'cartcast')\n"
        f"  log:       {superset.home(prepared.paths) / 'server.log'}"
    )
    for chart, why in prepared.bundle.left_out.items():
        typer.echo(f"  not shown: {chart!r} ({why})")
    if not prepared.imported:
        typer.echo("  dashboard: as last imported (the shipped one has not changed since)")
    if detach:
        typer.echo(f"Running in the background (pid {process.pid}): `cartcast bi stop` ends it.")
        return
    typer.echo("Ctrl-C stops it.")
    try:
        process.wait()
    except KeyboardInterrupt:
        typer.echo("\nStopping Superset ...")
    finally:
        superset.stop_process(process)
        superset.forget(prepared.paths)


@bi_app.command("stop")
def stop() -> None:
    """Stop the BI server started with `--detach`."""
    from cartcast.bi import superset
    from cartcast.bi.paths import BIPaths

    pid = superset.stop(BIPaths.for_warehouse(Warehouse.from_env()))
    typer.echo(
        "No BI server was running." if pid is None else f"Stopped the BI server (pid {pid})."
    )


@bi_app.command("publish")
def publish() -> None:
    """Publish the BI-facing tables now (dbt builds and `cartcast score` do it themselves;
    run it after `cartcast models promote` or `rollback`, which change the *_latest views)."""
    from cartcast.bi.publish import publish as publish_now

    typer.echo(publish_now(Warehouse.from_env(), source="cartcast bi publish").describe())
