"""The `cartcast` command line."""

from __future__ import annotations

from pathlib import Path

import typer

from cartcast.cli_errors import CartcastGroup
from cartcast.dbt_runner import DbtError, run_dbt
from cartcast.paths import Warehouse

app = typer.Typer(cls=CartcastGroup, no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def build(
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild incremental models."),
    scoring: bool = typer.Option(
        True,
        "--scoring/--no-scoring",
        help="Also score and monitor (needs a champion per model: `cartcast train --all`).",
    ),
) -> None:
    """Run `dbt build` on the warehouse, then print the load summary. A warehouse the demo
    built with pseudonymized ids is rebuilt the same way (dbt stops a run that would mix)."""
    warehouse = Warehouse.from_env()
    args = ["build", *(["--full-refresh"] if full_refresh else [])]
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
    import duckdb

    if not warehouse.duckdb_path.exists():
        return False
    from cartcast.warehouse_connection import connect

    con = connect(warehouse, read_only=True)
    try:
        row = con.execute("select mode from audit.id_mode").fetchone()
    except duckdb.CatalogException:
        row = None
    finally:
        con.close()
    return row is not None and row[0].startswith("pseudonymized")


def _dbt(
    args: list[str],
    warehouse: Warehouse,
    dbt_vars: dict | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    try:
        run_dbt(args, warehouse, dbt_vars, echo=True, extra_env=extra_env)
    except DbtError as err:
        typer.secho(str(err).splitlines()[0], fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@app.command()
def demo() -> None:
    """The whole job on the configured data: dbt build, summary, Feast apply and materialize,
    one customer's online features, every model trained, compared and registered, the
    prediction and monitoring tables, the top customers and the HTML report."""
    from cartcast import feature_store
    from cartcast.online import online_features
    from cartcast.warehouse_connection import connect

    warehouse = Warehouse.from_env()
    dbt_vars, salt_env, note = demo_privacy()
    if note:
        typer.secho(note, fg=typer.colors.YELLOW)
    # A full refresh: the demo is the whole job, and a warehouse built before with raw ids
    # must not keep them in its incremental tables.
    _dbt(["build", "--full-refresh", "--exclude", "tag:scoring"], warehouse, dbt_vars, salt_env)
    summary()
    typer.echo("\nFeast: applying definitions and materializing the online store ...")
    try:
        feature_store.apply(warehouse)
        feature_store.materialize(warehouse)
    except _feature_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    con = connect(warehouse, read_only=True)
    (customer,) = con.sql(
        "select customer_id from marts.customer_features "
        "order by as_of desc, orders_lifetime desc, customer_id limit 1"
    ).fetchone()
    con.close()
    typer.echo(
        f"\nOnline features of customer {customer} (cartcast features get --customer {customer}):"
    )
    values = online_features(customer=customer, warehouse=warehouse)
    _print_features(values, indent="  ")
    typer.echo("\nTraining every model (cartcast train --all) ...")
    try:
        train_and_report(list(MODEL_NAMES), warehouse)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    typer.echo("\nScoring and monitoring (dbt build --select tag:scoring) ...")
    _dbt(["build", "--full-refresh", "--select", "tag:scoring"], warehouse, dbt_vars, salt_env)
    _print_top_customers(warehouse)
    typer.echo(f"\nOnline score of customer {customer} (cartcast predict --customer {customer}):")
    predict(
        customer=customer, user=None, model="purchase_30d", version=None, show=False, raw_id=False
    )
    typer.echo("\nWriting the report (cartcast report) ...")
    report(out=None, model=None)


# Used only by `cartcast demo` when CARTCAST_ID_SALT is unset: it is public, so it protects
# nothing; it lets the demo run the privacy option on a fresh machine with no set-up.
DEMO_ID_SALT = "cartcast-demo-salt-not-secret"


def demo_privacy(
    env: dict[str, str] | None = None,
) -> tuple[dict[str, bool], dict[str, str], str | None]:
    """The demo's dbt vars (ids pseudonymized), the salt's environment, and a note to print
    when the fixed demo salt stands in for an unset CARTCAST_ID_SALT."""
    import os

    from cartcast.privacy import SALT_ENV

    env = os.environ if env is None else env
    dbt_vars = {"cartcast_pseudonymize_ids": True}
    if env.get(SALT_ENV):
        return dbt_vars, {SALT_ENV: env[SALT_ENV]}, None
    note = (
        f"{SALT_ENV} is not set: the demo pseudonymizes customer and user ids with the fixed "
        f"demo salt {DEMO_ID_SALT!r}. Look customers up by raw id with "
        f"`{SALT_ENV}={DEMO_ID_SALT} cartcast predict --customer <id> --raw-id`. Real "
        f"deployments must set {SALT_ENV} to their own secret."
    )
    return dbt_vars, {SALT_ENV: DEMO_ID_SALT}, note


def _print_top_customers(warehouse: Warehouse, limit: int = 10) -> None:
    from cartcast.warehouse_connection import connect

    con = connect(warehouse, read_only=True)
    rows = con.execute(
        "select customer_id, as_of, score, score_decile, model_version "
        "from predictions.purchase_30d_latest order by score desc, customer_id limit ?",
        [limit],
    ).fetchall()
    con.close()
    typer.echo(f"\nTop {limit} customers by purchase probability (purchase_30d_latest):")
    # pseudonymized ids are 64 hex characters, raw ones a few digits
    width = max([12, *(len(str(r[0])) for r in rows)])
    header = f"{'customer_id':<{width}} {'as_of':<20} {'p(order in 30 days)':>20}  decile  version"
    typer.echo(f"  {header}")
    for customer_id, as_of, score, decile, version in rows:
        typer.echo(
            f"  {customer_id:<{width}} {as_of!s:<20} {score:>20.3f}  {decile:>6}  {version:>7}"
        )


MODEL_NAMES = ("purchase_30d", "churn_90d", "spend_90d", "intent_session")


def train_and_report(
    names: list[str],
    warehouse: Warehouse,
    seed: int = 0,
    cutoff: str | None = None,
    epochs: int | None = None,
    quick: bool = False,
    feature_service: str | None = None,
) -> list:
    """Train each model, with a progress bar per torch candidate; print the tables at the end."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cartcast import feature_store
    from scoring.train import TrainOptions, train_model

    options = TrainOptions(
        seed=seed,
        cutoff=_parse_time(cutoff),
        epochs=epochs,
        quick=quick,
        feature_service=feature_service,
    )
    store = feature_store.get_store(warehouse)
    results = []
    for name in names:
        typer.echo(f"\n== {name} ==")
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("epoch {task.completed:.0f}/{task.total:.0f}  {task.fields[status]}"),
            TimeElapsedColumn(),
        ) as bar:
            tasks: dict[str, int] = {}

            def progress(
                label: str,
                epoch: int,
                total: int,
                loss: float,
                metric: float,
                bar=bar,
                tasks=tasks,
            ) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total, status="")
                bar.update(
                    tasks[label],
                    completed=epoch,
                    status=f"loss {loss:.4f}  validation metric {metric:.4f}",
                )

            result = train_model(
                name, warehouse, options, store=store, echo=typer.echo, progress=progress
            )
        typer.echo(
            f"registered {name} v{result.version} ({result.family}, {result.champion}) at "
            f"{result.path}; ONNX vs torch max difference {result.parity:.1e}"
        )
        results.append(result)
    for result in results:
        split_line = result.split_summary.splitlines()[0].split(": ", 1)[1]
        typer.echo(f"\n{result.spec.name}: validation metrics ({split_line})")
        typer.echo(result.table)
        typer.echo(result.verdict)
    return results


def _training_errors():
    from scoring.errors import RegistryError, TrainingError

    return (*_feature_errors(), TrainingError, RegistryError)


@app.command()
def train(
    model: str = typer.Option(None, "--model", help=f"One of {', '.join(MODEL_NAMES)}."),
    all_models: bool = typer.Option(False, "--all", help="Train every model."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same metrics."),
    cutoff: str = typer.Option(
        None, help="ISO time: validate on snapshots from here on (default: last 20%)."
    ),
    epochs: int = typer.Option(None, min=1, help="Epochs of the torch models."),
    quick: bool = typer.Option(False, help="One epoch per torch model (smoke runs)."),
    feature_service: str = typer.Option(
        None, help="Feature service to train on (default: the model's own)."
    ),
) -> None:
    """Train on a Feast training set with a time-based split, compare with baselines, export
    the champion to ONNX and register it in ml.model_registry."""
    if all_models == (model is not None):
        raise typer.BadParameter("Give exactly one of --model NAME or --all.")
    if model is not None and model not in MODEL_NAMES:
        raise typer.BadParameter(f"Unknown model {model!r}; known: {', '.join(MODEL_NAMES)}.")
    names = list(MODEL_NAMES) if all_models else [model]
    try:
        train_and_report(names, Warehouse.from_env(), seed, cutoff, epochs, quick, feature_service)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@app.command()
def report(
    out: Path = typer.Option(
        None, help="Folder for the HTML files (default: reports/ in the artifacts folder)."
    ),
    model: list[str] = typer.Option(
        None, "--model", help="Only these models (repeatable; default: every champion)."
    ),
) -> None:
    """Write one self-contained HTML report per model (curves, importance, drift, comparison
    with the baselines) and an overview with the data summary; print their paths."""
    from scoring.report import write_reports

    unknown = [m for m in model or [] if m not in MODEL_NAMES]
    if unknown:
        raise typer.BadParameter(f"Unknown model(s) {unknown}; known: {', '.join(MODEL_NAMES)}.")
    try:
        paths = write_reports(Warehouse.from_env(), out, model or None)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    for path in paths:
        typer.echo(str(path))


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


def _print_features(values: dict, indent: str = "") -> None:
    width = max(len(k) for k in values)
    for name, value in values.items():
        typer.echo(f"{indent}{name:<{width}}  {value}")


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


models_app = typer.Typer(no_args_is_help=True, help="The model registry: list, promote, roll back.")
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(name: str = typer.Argument(None, help="Only this model.")) -> None:
    """Every registered version: status, family, validation metric, file."""
    import json

    from scoring import registry

    try:
        frame = registry.list_models(Warehouse.from_env(), name)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    if frame.empty:
        typer.echo("No models registered: run `cartcast train --all`.")
        return
    typer.echo(
        f"{'name':<16}{'version':>8}  {'status':<10}{'family':<15}{'metric':<22}"
        f"{'created_at':<21}path"
    )
    for row in frame.itertuples():
        metrics = json.loads(row.metrics)
        key = metrics["selection_metric"]
        value = metrics[metrics["champion"]][key]
        typer.echo(
            f"{row.name:<16}{row.version:>8}  {row.status:<10}{row.family:<15}"
            f"{f'{key} {value:.4f}':<22}{row.created_at:%Y-%m-%d %H:%M:%S}  {row.path}"
        )


@models_app.command("promote")
def models_promote(name: str, version: int) -> None:
    """Make a version the champion (the one scoring uses); the former champion is archived."""
    from scoring import registry

    try:
        entry = registry.promote(Warehouse.from_env(), name, version)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    typer.echo(f"{entry.name} v{entry.version} is the champion.")


@models_app.command("check")
def models_check(name: str = typer.Argument(None, help="Only this model.")) -> None:
    """Check that every version can serve: its file is there, matches its sha256, loads in
    ONNX Runtime and fits the feature marts. Exits 1 if any version is broken."""
    from scoring import model_check, registry

    warehouse = Warehouse.from_env()
    try:
        frame = registry.list_models(warehouse, name)
        broken = 0
        with registry.connect(warehouse, read_only=True) as con:
            for row in frame.itertuples():
                cause = model_check.problem(con, registry.get_on(con, row.name, row.version))
                broken += cause is not None
                verdict = "ok" if cause is None else f"BROKEN: {cause}"
                typer.echo(f"{row.name:<16}{row.version:>8}  {row.status:<10}{verdict}")
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    if broken:
        typer.secho(f"{broken} broken version(s).", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@models_app.command("rollback")
def models_rollback(name: str) -> None:
    """Archive the current champion and bring back the previous one."""
    from scoring import registry

    try:
        entry = registry.rollback(Warehouse.from_env(), name)
    except _training_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    typer.echo(f"Rolled back: {entry.name} v{entry.version} is the champion again.")


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
    _print_features(values)


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


def _scoring_errors():
    from scoring.errors import RegistryError, ScoringError

    return (*_feature_errors(), ScoringError, RegistryError)


@app.command()
def score(
    model: str = typer.Option(None, "--model", help=f"One of {', '.join(MODEL_NAMES)}."),
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
    memory_limit: str = typer.Option(None, help="DuckDB memory cap, e.g. 1GB (default 1GB)."),
) -> None:
    """Score feature snapshots with ONNX Runtime into predictions.<model> (idempotent: a
    rerun replaces the same as_of and version in one transaction)."""
    import logging

    from scoring.batch import DEFAULT_BATCH_ROWS
    from scoring.batch import score as run_score
    from scoring.feature_source import AsOf

    if all_models == (model is not None):
        raise typer.BadParameter("Give --model NAME or --all.")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    times = tuple(_parse_time(t).replace(tzinfo=None) for t in as_of or ())
    window = AsOf(
        times,
        _parse_time(start).replace(tzinfo=None) if start else None,
        _parse_time(end).replace(tzinfo=None) if end else None,
    )
    warehouse = Warehouse.from_env()
    for name in MODEL_NAMES if all_models else [model]:
        try:
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
        except _scoring_errors() as err:
            typer.secho(str(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from err
        typer.echo(run.describe())


@app.command()
def predict(
    customer: str = typer.Option(None, help="Customer id."),
    user: str = typer.Option(None, help="Clickstream user id (intent_session)."),
    model: str = typer.Option("purchase_30d", help=f"One of {', '.join(MODEL_NAMES)}."),
    version: int = typer.Option(None, help="A registered version instead of the champion."),
    show: bool = typer.Option(False, "--show-features", help="Print the features used."),
    raw_id: bool = typer.Option(
        False,
        "--raw-id",
        help="The id is a raw one and the warehouse holds pseudonymized ids (the privacy "
        "option): hash it with CARTCAST_ID_SALT first.",
    ),
) -> None:
    """Score one customer (or user) now, from the online store and the champion model."""
    from cartcast.feature_store import get_store
    from cartcast.privacy import MissingSalt, pseudonymize, salt_from_env
    from scoring.online_score import open_model, predict_one

    if (customer is None) == (user is None):
        raise typer.BadParameter("Give exactly one of --customer or --user.")
    entity = customer or user
    if raw_id:
        try:
            # the same salted hash staging computed, so the raw id finds its row
            entity = pseudonymize(entity, salt_from_env())
        except MissingSalt as err:
            typer.secho(str(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from err
    warehouse = Warehouse.from_env()
    try:
        scorer = open_model(warehouse, model, version)
        result = predict_one(entity, scorer, get_store(warehouse), warehouse)
    except _scoring_errors() as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err
    typer.echo(f"{result.model} v{result.version} {result.key}={result.entity}: {result.score:.6g}")
    if show:
        _print_features(result.features, indent="  ")


if __name__ == "__main__":
    app()
