"""`cartcast demo` end to end, as `make demo` runs it on a fresh clone (the data a real slice,
training quick): build, summary, Feast, training, scoring, the online score and the report."""

from __future__ import annotations

import re

import pytest

from cartcast import catalog
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.privacy import demo_salt, salt_fingerprint
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_stage_and_leaves_what_it_promises(demo_project) -> None:
    project, out = demo_project
    warehouse = Warehouse.under(project / "warehouse")
    stages = [
        "source                           rows in",
        "Feast: applying definitions and materializing",
        "Online features of customer",
        "Training every model (cartcast train --all --quick)",
        "Scoring and monitoring (dbt build --select tag:scoring)",
        "Top 10 customers by purchase probability",
        "Online score of customer",
        "Writing the report (cartcast report)",
    ]
    positions = [out.find(stage) for stage in stages]
    assert -1 not in positions, [s for s, p in zip(stages, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    # ids pseudonymized with the public demo salt, said aloud
    assert "fixed demo salt" in out
    ((mode,),) = fetch(warehouse, "select mode from audit.id_mode")
    assert mode == f"pseudonymized (salt {salt_fingerprint(demo_salt())})"
    # the online features are fresh as of the data's newest snapshot, and scored
    assert ": fresh" in out and "STALE" not in out
    score = re.search(r"Online score of customer .*\n.* customer_id=[0-9a-f]{64}: ([0-9.e-]+)", out)
    assert score and 0.0 <= float(score.group(1)) <= 1.0
    for spec in catalog.MODELS.values():
        champion = fetch(
            warehouse,
            f"select version from ml.model_registry where name = '{spec.name}' "
            "and status = 'champion'",
        )
        assert len(champion) == 1, spec.name
        (rows,) = fetch(warehouse, f"select count(*) from predictions.{spec.name}")[0]
        assert rows > 0, spec.name
    (monitored,) = fetch(
        warehouse, "select count(distinct model_name) from monitoring.score_distribution"
    )[0]
    assert monitored == len(catalog.MODELS)
    reports = project / "artifacts/reports"
    assert str(reports / "index.html") in out
    for spec in catalog.MODELS.values():
        page = (reports / f"{spec.name}.html").read_text()
        assert "Not scored yet" not in page and "data:image/png;base64," in page
    TALLY.add("demo runs end to end")
