"""`cartcast train` and `cartcast models list | promote | check | rollback`."""

from __future__ import annotations

import typer

from cartcast.catalog import RECOMMENDERS
from cartcast.cli.common import model_help, one_or_all, parse_time
from cartcast.warehouse.paths import Warehouse

models_app = typer.Typer(no_args_is_help=True, help="The model registry: list, promote, roll back.")


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

    from cartcast.features import store as feature_store
    from cartcast.training.train import TrainOptions, train_model

    options = TrainOptions(
        seed=seed,
        cutoff=parse_time(cutoff),
        epochs=epochs,
        quick=quick,
        feature_service=feature_service,
    )
    store = feature_store.get_store(warehouse)
    results = []
    for name in names:
        typer.echo(f"\n== {name} ==")
        if name in RECOMMENDERS:
            results.append(train_recommender_and_report(name, warehouse, options))
            continue
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
        if result.spec.name in RECOMMENDERS:
            typer.echo(f"\n{result.spec.name}: validation metrics (one protocol for all lists)")
            typer.echo(result.table)
            typer.echo(result.verdict)
            continue
        split_line = result.split_summary.splitlines()[0].split(": ", 1)[1]
        typer.echo(f"\n{result.spec.name}: validation metrics ({split_line})")
        typer.echo(result.table)
        typer.echo(result.verdict)
    typer.echo(encoder_time(results))
    return results


def encoder_time(results: list) -> str:
    """One line: what pre-training and the candidates on the pre-trained encoders cost, of
    all the training time."""
    pretraining = sum(r.encoder_seconds[0] for r in results)
    tuning = sum(r.encoder_seconds[1] for r in results)
    total = sum(sum(r.seconds.values()) for r in results)
    return (
        f"\npre-training {pretraining:.0f} s + the candidates on pre-trained encoders "
        f"{tuning:.0f} s = {pretraining + tuning:.0f} s, of {total:.0f} s fitting "
        f"{len(results)} model(s) (each kept encoder is pre-trained once per cut-off and seed)"
    )


def train_recommender_and_report(name: str, warehouse: Warehouse, options):
    from cartcast.training.train_recommender import RecommenderOptions, train_recommender

    result = train_recommender(
        name,
        warehouse,
        RecommenderOptions(
            seed=options.seed, cutoff=options.cutoff, epochs=options.epochs, quick=options.quick
        ),
        echo=typer.echo,
    )
    typer.echo(
        f"registered {name} v{result.version} ({result.champion}) at {result.path}; ONNX vs "
        f"torch max difference {result.parity:.1e}"
    )
    return result


def train(
    model: str = typer.Option(None, "--model", help=model_help()),
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
    names = one_or_all(model, all_models)
    train_and_report(names, Warehouse.from_env(), seed, cutoff, epochs, quick, feature_service)


@models_app.command("list")
def models_list(name: str = typer.Argument(None, help="Only this model.")) -> None:
    """Every registered version: status, family, validation metric, file."""
    import json

    from cartcast.registry import versions

    frame = versions.list_models(Warehouse.from_env(), name)
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
    from scoring.promotion import promote

    entry = promote(Warehouse.from_env(), name, version)
    typer.echo(f"{entry.name} v{entry.version} is the champion.")


@models_app.command("check")
def models_check(name: str = typer.Argument(None, help="Only this model.")) -> None:
    """Check that every version can serve: its file is there, matches its sha256, loads in
    ONNX Runtime and fits the feature marts. Exits 1 if any version is broken."""
    from cartcast.registry import versions
    from scoring.promotion import problem

    warehouse = Warehouse.from_env()
    frame = versions.list_models(warehouse, name)
    broken = 0
    with versions.connect(warehouse, read_only=True) as con:
        for row in frame.itertuples():
            cause = problem(con, versions.get_on(con, row.name, row.version))
            broken += cause is not None
            verdict = "ok" if cause is None else f"BROKEN: {cause}"
            typer.echo(f"{row.name:<16}{row.version:>8}  {row.status:<10}{verdict}")
    if broken:
        typer.secho(f"{broken} broken version(s).", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@models_app.command("rollback")
def models_rollback(name: str) -> None:
    """Archive the current champion and bring back the previous one."""
    from cartcast.registry import versions

    entry = versions.rollback(Warehouse.from_env(), name)
    typer.echo(f"Rolled back: {entry.name} v{entry.version} is the champion again.")
