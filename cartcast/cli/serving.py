"""`cartcast score` (batch), `cartcast predict` (one entity, online) and `cartcast recommend`
(one customer's next products, online)."""

from __future__ import annotations

import typer

from cartcast import catalog
from cartcast.cli.common import (
    NOW_HELP,
    check_models,
    model_help,
    one_or_all,
    parse_time,
    print_features,
    print_freshness,
)
from cartcast.warehouse.paths import Warehouse


def score(
    model: str = typer.Option(None, "--model", help=model_help()),
    all_models: bool = typer.Option(False, "--all", help="Score every model."),
    as_of: list[str] = typer.Option(None, "--as-of", help="A snapshot to score (repeatable)."),
    start: str = typer.Option(None, help="Score snapshots from this time (inclusive)."),
    end: str = typer.Option(None, help="Score snapshots up to this time (inclusive)."),
    version: int = typer.Option(None, help="A registered version instead of the champion."),
    batch_rows: int = typer.Option(None, min=1, help="Rows per record batch."),
    threads: int = typer.Option(None, min=1, help="ONNX Runtime threads (default: all cores)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or tensorrt."),
    explain: str = typer.Option(
        "latest", help="Reasons for the newest snapshot (latest), every row (all) or none."
    ),
    memory_limit: str = typer.Option(None, help="DuckDB memory cap, e.g. 1GB (default 256MB)."),
    engine: str = typer.Option(
        "duckdb", help="duckdb, or spark: score the Spark-built marts on Spark's executors."
    ),
    master: str = typer.Option(None, help="Spark master (default $CARTCAST_SPARK_MASTER)."),
) -> None:
    """Score feature snapshots with ONNX Runtime into predictions.<model> (idempotent: a
    rerun replaces the same as_of and version in one transaction), then publish the tables
    BI tools read (`cartcast bi publish`). `--engine spark` writes the Spark table
    predictions.<model> instead (no reasons there), from the marts `cartcast build --engine
    spark` built."""
    import logging

    from cartcast.bi.publish import publish
    from scoring.batch import DEFAULT_BATCH_ROWS
    from scoring.batch import score as run_score
    from scoring.feature_source import AsOf

    names = one_or_all(model, all_models)
    if model in catalog.RECOMMENDERS:
        raise typer.BadParameter(
            f"{model} lists are written by `dbt build --select {model}` (and one customer's by "
            f"`cartcast recommend`), not by `cartcast score`."
        )
    # --all: the scoring models; the recommenders' lists are built by dbt
    names = [n for n in names if n not in catalog.RECOMMENDERS]
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    times = tuple(parse_time(t).replace(tzinfo=None) for t in as_of or ())
    window = AsOf(
        times,
        parse_time(start).replace(tzinfo=None) if start else None,
        parse_time(end).replace(tzinfo=None) if end else None,
    )
    warehouse = Warehouse.from_env()
    if engine == "spark":
        from scoring.spark_job import score_on_spark

        for name in names:
            typer.echo(score_on_spark(warehouse, name, version, window, master).describe())
        return
    if engine != "duckdb":
        raise typer.BadParameter(f"--engine must be duckdb or spark, not {engine!r}.")
    for name in names:
        run = run_score(
            warehouse,
            name,
            window,
            version,
            batch_rows or DEFAULT_BATCH_ROWS,
            threads,
            device,
            explain,
            memory_limit,
        )
        typer.echo(run.describe())
    # dbt publishes after a build (on-run-end); scoring outside dbt publishes here
    typer.echo(publish(warehouse, source="cartcast score").describe())


def warehouse_id(entity: str, warehouse: Warehouse, raw_id: bool) -> str:
    """The key the warehouse and Feast hold for an id given on the command line: the same
    salted hash staging computed, so a raw id finds its row in a pseudonymized warehouse."""
    from cartcast.warehouse.privacy import pseudonymize, salt_from_env, warehouse_key

    return pseudonymize(entity, salt_from_env()) if raw_id else warehouse_key(entity, warehouse)


RAW_ID_HELP = (
    "Hash the id with CARTCAST_ID_SALT even if it looks like a key (a raw id is hashed anyway "
    "when the warehouse holds pseudonymized ids)."
)


def predict(
    customer: str = typer.Option(None, help="Customer id (raw or the warehouse's key)."),
    user: str = typer.Option(None, help="Clickstream user id (raw or the warehouse's key)."),
    model: str = typer.Option(
        None, help=f"{model_help()} Default: the entity's first model in the catalog."
    ),
    version: int = typer.Option(None, help="A registered version instead of the champion."),
    show: bool = typer.Option(False, "--show-features", help="Print the features used."),
    raw_id: bool = typer.Option(False, "--raw-id", help=RAW_ID_HELP),
    now: str = typer.Option(None, help=NOW_HELP),
    allow_stale: bool = typer.Option(
        False,
        "--allow-stale",
        help="Score features older than their view's TTL, with a warning, instead of refusing.",
    ),
) -> None:
    """Score one customer (or user) at --now, from the online store and the champion model.
    Features older than their feature view's TTL at that time are refused."""
    from cartcast.features.store import get_store
    from scoring.online import open_model, predict_one

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    entity = customer or user
    key = catalog.CUSTOMER.key if customer is not None else catalog.USER.key
    model = check_models([model])[0] if model else catalog.default_model(key).name
    warehouse = Warehouse.from_env()
    entity = warehouse_id(entity, warehouse, raw_id)
    scorer = open_model(warehouse, model, version)
    result = predict_one(
        entity,
        scorer,
        get_store(warehouse),
        warehouse,
        now=parse_time(now),
        allow_stale=allow_stale,
    )
    for view in result.stale:
        typer.secho(f"warning: stale features, {view.describe()}", fg=typer.colors.YELLOW)
    typer.echo(f"{result.model} v{result.version} {result.key}={result.entity}: {result.score:.6g}")
    if show:
        print_features(result.features, indent="  ")
        print_freshness(result.freshness, result.now, indent="  ")


def recommend(
    customer: str = typer.Option(..., help="Customer id (raw or the warehouse's key)."),
    k: int = typer.Option(10, "--k", "-k", help="Products in the list (1..1000)."),
    model: str = typer.Option(
        None, help=f"One of {', '.join(catalog.RECOMMENDERS)} (default: the first)."
    ),
    version: int = typer.Option(None, help="A registered version instead of the champion."),
    raw_id: bool = typer.Option(False, "--raw-id", help=RAW_ID_HELP),
    now: str = typer.Option(None, help=NOW_HELP),
    allow_stale: bool = typer.Option(
        False,
        "--allow-stale",
        help="Use features older than their view's TTL, with a warning, instead of refusing.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the list as one JSON object."),
) -> None:
    """One customer's next products at --now, from the online store and the recommender's
    champion: rank, product, description, score and whether the customer bought it before.
    A customer with no purchase history (or unknown to the store) gets the cold-start list,
    led by the best sellers. Features older than their feature view's TTL are refused."""
    import json

    from scoring.recommend import check_k
    from scoring.recommend_online import DEFAULT_RECOMMENDER, open_recommender, recommend_one

    k = check_k(k)
    name = catalog.get_recommender(model or DEFAULT_RECOMMENDER).name
    warehouse = Warehouse.from_env()
    key = warehouse_id(customer, warehouse, raw_id)
    result = recommend_one(
        warehouse,
        key,
        k,
        parse_time(now),
        model=open_recommender(warehouse, name, version),
        allow_stale=allow_stale,
    )
    for view in result.stale:
        typer.secho(f"warning: stale features, {view.describe()}", fg=typer.colors.YELLOW, err=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    as_of = f"{result.as_of:%Y-%m-%d %H:%M}" if result.as_of else "unknown"
    note = ""
    if result.cold_start:
        why = "no purchase history" if result.known_customer else "not in the online store"
        note = f"  [cold start: {why}; best sellers first]"
    typer.echo(
        f"{result.model} v{result.version} customer_id={result.customer_id} as of {as_of}, "
        f"top {result.k}:{note}"
    )
    width = max([len("product"), *(len(i.product_id) for i in result.items)])
    typer.echo(f"  {'rank':>4}  {'product':<{width}}  {'score':>9}  {'repeat':<6}  description")
    for item in result.items:
        typer.echo(
            f"  {item.rank:>4}  {item.product_id:<{width}}  {item.score:>9.4f}  "
            f"{'yes' if item.is_repeat else 'no':<6}  {item.description or ''}"
        )
