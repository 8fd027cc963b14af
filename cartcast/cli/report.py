"""`cartcast report`: the HTML pages."""

from __future__ import annotations

from pathlib import Path

import typer

from cartcast.cli.common import check_models
from cartcast.warehouse.paths import Warehouse


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
    from cartcast.report.pages import write_reports

    names = check_models(model)
    for path in write_reports(Warehouse.from_env(), out, names or None):
        typer.echo(str(path))
