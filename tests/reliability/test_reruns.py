"""Reruns: the whole pipeline again on the same input (dbt build, Feast materialize, scoring
by `dbt build --select tag:scoring`, the registered models kept) gives identical tables,
Parquet files and online store rows (the customer embeddings included: the demo's order,
materialized again after the scoring build that writes them)."""

from __future__ import annotations

from cartcast import catalog
from cartcast.features import store as feature_store
from tests.conftest import BUILD
from tests.reliability.pipeline import PIPELINE_SCHEMAS, dbt, online_rows, table_checksums
from tests.reliability.summary import TALLY


def test_the_pipeline_rerun_on_the_same_input_gives_identical_tables(pipeline) -> None:
    warehouse, source_vars = pipeline
    first = table_checksums(warehouse, PIPELINE_SCHEMAS)
    first_online = online_rows(warehouse)
    # every schema and the feature files are there, so nothing is compared by accident
    assert {name.split(".")[0] for name in first} >= {*PIPELINE_SCHEMAS}
    assert any(name.startswith("parquet/") for name in first)
    assert first["predictions.purchase_30d"][0] > 0

    dbt(list(BUILD), warehouse, source_vars)
    feature_store.materialize(warehouse)
    dbt(["build", "--select", "tag:scoring"], warehouse, source_vars)
    feature_store.materialize(warehouse, feature_views=[catalog.EMBEDDINGS.name])

    second = table_checksums(warehouse, PIPELINE_SCHEMAS)
    second_online = online_rows(warehouse)
    differing = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    differing += [
        f"online store {t}"
        for t in first_online.keys() | second_online.keys()
        if first_online.get(t) != second_online.get(t)
    ]
    for name in differing:
        TALLY.mismatch(f"rerun changed {name}")
    TALLY.add("reruns compared")
    TALLY.add("tables compared", len(first) + len(first_online))
    assert not differing, differing
