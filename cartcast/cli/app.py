"""The `cartcast` command line: every command group, and the one place errors are reported."""

from __future__ import annotations

import typer

from cartcast.cli import bi, doctor, features, models, pipeline, report, serving
from cartcast.cli.errors import CartcastGroup

app = typer.Typer(cls=CartcastGroup, no_args_is_help=True, add_completion=False, help=__doc__)

for command in (
    pipeline.build,
    pipeline.demo,
    models.train,
    report.report,
    pipeline.summary,
    pipeline.generate,
    pipeline.version,
    doctor.doctor,
    serving.score,
    serving.predict,
    serving.recommend,
):
    app.command()(command)
app.add_typer(features.features_app, name="features")
app.add_typer(models.models_app, name="models")
app.add_typer(bi.bi_app, name="bi")

if __name__ == "__main__":
    app()
