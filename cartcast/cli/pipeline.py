"""`cartcast build | demo | summary | generate | version`: the whole job and its data."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path

import typer

from cartcast import catalog
from cartcast.cli.common import parse_time, print_features
from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.privacy import PSEUDONYMIZED, demo_salt, recorded_id_mode

# Used only by `cartcast demo` when CARTCAST_ID_SALT is unset: it is public, so it protects
# nothing; it lets the demo run the privacy option on a fresh machine with no set-up. dbt
# knows it too (var cartcast_demo_id_salt), so a plain `dbt build` rebuilds a demo warehouse.
DEMO_ID_SALT = demo_salt()


def build(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild incremental models."),
    scoring: bool = typer.Option(
        True,
        "--scoring/--no-scoring",
        help="Also score and monitor (needs a champion per model: `cartcast train --all`).",
    ),
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="duckdb, or spark: the same models on Spark (`make spark-setup`); the text "
        "embeddings and scores by Spark jobs.",
    ),
    master: str = typer.Option(
        None, "--master", help="Spark master (default $CARTCAST_SPARK_MASTER, else local[*])."
    ),
) -> None:
    """Run `dbt build` on the warehouse, then print the load summary. A warehouse the demo
    built with pseudonymized ids is rebuilt the same way (dbt stops a run that would mix)."""
    warehouse = Warehouse.from_env()
    args = ["build", *(["--full-refresh"] if full_refresh else [])]
    if engine == "spark":
        from cartcast.pretraining.spark_text import embed_on_spark
        from cartcast.warehouse.spark import SQL_ONLY_EXCLUDE, spark_env

        # dbt-spark's session method runs SQL models only: the product text embeddings and
        # the scores are Spark jobs of cartcast's, in this process, after the SQL models
        _dbt([*args, "--exclude", *SQL_ONLY_EXCLUDE], warehouse, None, spark_env(warehouse, master))
        encoded = embed_on_spark(warehouse, master, full_refresh=full_refresh)
        typer.echo(f"Product text embeddings on Spark: {encoded:,} descriptions encoded.")
        if scoring:
            from scoring.spark_job import score_on_spark
            from scoring.spark_monitoring import monitor_on_spark

            # what the Python models do in a DuckDB build: every champion scores, then the
            # monitoring tables are built from the scores
            for name in catalog.MODELS:
                typer.echo(score_on_spark(warehouse, name, master=master).describe())
            monitor_on_spark(warehouse, master)
        typer.echo(f"Built on Spark: tables under {warehouse.spark_dir / 'tables'}.")
        return
    if engine != "duckdb":
        raise typer.BadParameter(f"--engine must be duckdb or spark, not {engine!r}.")
    if not scoring:
        args += ["--exclude", "tag:scoring"]
    dbt_vars, salt_env = None, None
    if _built_pseudonymized(warehouse):
        dbt_vars, salt_env, note = demo_privacy()
        if note:
            typer.secho(note, fg=typer.colors.YELLOW)
    _dbt(args, warehouse, dbt_vars, salt_env)
    summary()


def _built_pseudonymized(warehouse: Warehouse) -> bool:
    """Whether the warehouse's ids were last built pseudonymized (audit.id_mode)."""
    return (recorded_id_mode(warehouse) or "").startswith(PSEUDONYMIZED)


def _dbt(
    args: list[str],
    warehouse: Warehouse,
    dbt_vars: dict | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    run_dbt(args, warehouse, dbt_vars, echo=True, extra_env=extra_env)


def demo(
    quick: bool = typer.Option(
        False, "--quick", help="Train each torch model for one epoch (a fast end-to-end check)."
    ),
) -> None:
    """The whole job on the configured data: dbt build, summary, Feast apply and materialize,
    one customer's online features, every model trained, compared and registered, the
    prediction and monitoring tables, the top customers and the HTML report."""
    from cartcast.cli.common import print_freshness
    from cartcast.cli.models import train_and_report
    from cartcast.cli.report import report
    from cartcast.cli.serving import predict, recommend
    from cartcast.features import store as feature_store
    from cartcast.features.online import online_lookup
    from cartcast.warehouse.connection import connect

    warehouse = Warehouse.from_env()
    dbt_vars, salt_env, note = demo_privacy()
    if note:
        typer.secho(note, fg=typer.colors.YELLOW)
    # A full refresh: the demo is the whole job, and a warehouse built before with raw ids
    # must not keep them in its incremental tables.
    _dbt(["build", "--full-refresh", "--exclude", "tag:scoring"], warehouse, dbt_vars, salt_env)
    summary()
    typer.echo("\nFeast: applying definitions and materializing the online store ...")
    feature_store.apply(warehouse)
    feature_store.materialize(warehouse)
    con = connect(warehouse, read_only=True)
    customer, data_end = con.sql(
        "select customer_id, as_of from marts.customer_features "
        "order by as_of desc, orders_lifetime desc, customer_id limit 1"
    ).fetchone()
    con.close()
    # The bundled data is history: its features are years old by the wall clock, and online
    # reads measure their age. The demo looks at them as of the newest snapshot.
    now = data_end.replace(tzinfo=UTC).isoformat()
    typer.echo(
        f"\nOnline features of customer {customer} "
        f"(cartcast features get --customer {customer} --now {now}):"
    )
    found = online_lookup(customer=customer, warehouse=warehouse, now=parse_time(now))
    print_features(found.values, indent="  ")
    print_freshness(found.freshness, found.now, indent="  ")
    typer.echo(f"\nTraining every model (cartcast train --all{' --quick' if quick else ''}) ...")
    train_and_report(list(catalog.all_names()), warehouse, quick=quick)
    typer.echo("\nScoring and monitoring (dbt build --select tag:scoring) ...")
    _dbt(["build", "--full-refresh", "--select", "tag:scoring"], warehouse, dbt_vars, salt_env)
    embeddings = catalog.EMBEDDINGS.name
    typer.echo(
        f"\nFeast: materializing {embeddings} (written by the scoring build with the newest "
        f"encoder; `cartcast features get --customer {customer} "
        f"--service {catalog.EMBEDDINGS_SERVICE}`) ..."
    )
    feature_store.materialize(warehouse, feature_views=[embeddings])
    showcase = catalog.default_model(catalog.CUSTOMER.key).name
    _print_top_customers(warehouse, showcase)
    typer.echo(
        f"\nOnline score of customer {customer} "
        f"(cartcast predict --customer {customer} --now {now}):"
    )
    predict(
        customer=customer,
        user=None,
        model=showcase,
        version=None,
        show=False,
        raw_id=False,
        now=now,
        allow_stale=False,
    )
    typer.echo(
        f"\nNext products of customer {customer} "
        f"(cartcast recommend --customer {customer} --now {now} -k 5):"
    )
    recommend(
        customer=customer,
        k=5,
        model=None,
        version=None,
        raw_id=False,
        now=now,
        allow_stale=False,
        as_json=False,
    )
    typer.echo("\nWriting the report (cartcast report) ...")
    report(out=None, model=None)
    typer.echo(
        "\nDashboard on these predictions, with SQL Lab: `make bi` (or `cartcast bi`, once "
        "`make bi-setup` has installed Superset)."
    )


def demo_privacy(
    env: dict[str, str] | None = None,
) -> tuple[dict[str, bool], dict[str, str], str | None]:
    """The demo's dbt vars (ids pseudonymized), the salt's environment, and a note to print
    when the fixed demo salt stands in for an unset CARTCAST_ID_SALT."""
    from cartcast.warehouse.privacy import SALT_ENV

    env = os.environ if env is None else env
    dbt_vars = {"cartcast_pseudonymize_ids": True}
    if env.get(SALT_ENV):
        return dbt_vars, {SALT_ENV: env[SALT_ENV]}, None
    note = (
        f"{SALT_ENV} is not set: the demo pseudonymizes customer and user ids with the fixed "
        f"demo salt {DEMO_ID_SALT!r}. Commands that take an id accept the raw one "
        f"(`cartcast predict --customer 12347`) and hash it with that salt. Real "
        f"deployments must set {SALT_ENV} to their own secret."
    )
    return dbt_vars, {SALT_ENV: DEMO_ID_SALT}, note


# A pseudonymized id is 64 hex characters; this many tell customers apart in a table.
KEY_PREFIX = 12


def _print_top_customers(warehouse: Warehouse, model: str, limit: int = 10) -> None:
    from cartcast.warehouse.connection import connect
    from cartcast.warehouse.identifiers import qualified

    con = connect(warehouse, read_only=True)
    rows = con.execute(
        "select customer_id, as_of, score, score_decile, model_version "
        f"from {qualified('predictions', f'{model}_latest')} "
        "order by score desc, customer_id limit ?",
        [limit],
    ).fetchall()
    con.close()
    typer.echo(f"\nTop {limit} customers by purchase probability ({model}_latest):")
    keys = [str(r[0]) for r in rows]
    hashed = bool(keys) and all(len(k) == 64 for k in keys)
    shown = [f"{k[:KEY_PREFIX]}..." if hashed else k for k in keys]
    label = "customer (key)" if hashed else "customer_id"
    width = max([len(label), *(len(k) for k in shown)])
    header = f"{label:<{width}} {'as_of':<20} {'p(order in 30 days)':>20}  decile  version"
    typer.echo(f"  {header}")
    for key, (_, as_of, score, decile, version) in zip(shown, rows, strict=True):
        typer.echo(f"  {key:<{width}} {as_of!s:<20} {score:>20.3f}  {decile:>6}  {version:>7}")
    if hashed:
        lookups = (
            ("cartcast features key --customer 12347", "a raw id's full key"),
            (f"cartcast predict --customer 12347 --now {rows[0][1]:%Y-%m-%d}", "its score"),
            ("make bi", "the dashboard (cartcast bi)"),
        )
        width = max(len(command) for command, _ in lookups)
        typer.echo(
            f"  Ids are pseudonymized keys, shown by their first {KEY_PREFIX} characters.\n"
            "  To look a customer up, by raw id (or by full key):"
        )
        for command, what in lookups:
            typer.echo(f"    {command:<{width}}  # {what}")


def summary() -> None:
    """Print rows in, rows quarantined by reason, customers, snapshots and features."""
    from cartcast.warehouse.summary import load_summary, render_summary

    typer.echo(render_summary(load_summary(Warehouse.from_env())))


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
    from cartcast.synthetic.generate import generate as generate_files

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


def version() -> None:
    """Print the installed version."""
    from cartcast import __version__

    typer.echo(__version__)
