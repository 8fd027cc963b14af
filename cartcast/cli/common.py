"""What several command groups share: model names from the catalog, times, feature printing."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from cartcast import catalog


def model_help() -> str:
    return f"One of {', '.join(catalog.all_names())}."


def check_models(names: list[str] | None) -> list[str]:
    """`names` when the catalog knows every one; a usage error naming the unknown ones."""
    unknown = [m for m in names or [] if m not in catalog.all_names()]
    if unknown:
        shown = unknown[0] if len(unknown) == 1 else unknown
        raise typer.BadParameter(
            f"Unknown model{'s' if len(unknown) > 1 else ''} {shown!r}; known: "
            f"{', '.join(catalog.all_names())}."
        )
    return list(names or [])


def one_or_all(model: str | None, all_models: bool) -> list[str]:
    """The models a `--model NAME | --all` command acts on."""
    if all_models == (model is not None):
        raise typer.BadParameter("Give exactly one of --model NAME or --all.")
    return list(catalog.all_names()) if all_models else check_models([model])


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(
            f"{value!r} is not an ISO date or time (2011-12-01T00:00)"
        ) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_features(values: dict, indent: str = "") -> None:
    width = max(len(k) for k in values)
    for name, value in values.items():
        typer.echo(f"{indent}{name:<{width}}  {value}")


def print_freshness(freshness, now: datetime, indent: str = "") -> None:
    """Each feature view's event time, age at `now` and TTL (Feast serves stale rows too)."""
    typer.echo(f"{indent}as seen at {now:%Y-%m-%d %H:%M:%S} UTC:")
    for view in freshness:
        typer.echo(f"{indent}  {view.describe()}")


NOW_HELP = (
    "The clock feature ages are measured against (ISO time; default: now). Set it to the "
    "data's time to use historical data, e.g. the bundled data's 2011-12-10."
)
