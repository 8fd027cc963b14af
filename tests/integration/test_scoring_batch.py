"""Batch scoring, dbt's prediction models, the SQL functions and the online scorer, on the real
warehouse: they agree, reruns replace rather than add, a kill mid-write changes nothing, and a
model that does not fit the feature table is refused by name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import duckdb
import numpy as np
import pytest

import udfs
from cartcast.errors import RegistryError, ScoringError
from cartcast.features import store as feature_store
from cartcast.registry.versions import DDL
from cartcast.warehouse.faults import FAULT_ENV, FAULT_LOG_ENV, SCORING_BEFORE_COMMIT
from cartcast.warehouse.paths import Warehouse
from scoring import predictions
from scoring.batch import score, score_relations, scored_batches
from scoring.feature_source import AsOf, source_sql
from scoring.model import load
from scoring.online import open_model, predict_one
from tests.conftest import SCORED_MODELS

FEATURES = {
    "customer_id": "marts.customer_features",
    "user_id": "marts.user_event_features",
}


def read(warehouse: Warehouse, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def newest_as_of(warehouse: Warehouse, table: str) -> datetime:
    return read(warehouse, f"select max(as_of) from {table}")[0][0]


def table_digest(warehouse: Warehouse, model: str) -> tuple:
    """Rows and a checksum of everything but the scoring time."""
    key = "user_id" if model == "intent_session" else "customer_id"
    return read(
        warehouse,
        f"select count(*), sum(hash({key}, as_of, score, score_rank, score_decile, "
        f"model_version)) from {predictions.table(model)}",
    )[0]


@pytest.mark.parametrize("model", SCORED_MODELS)
def test_dbt_build_scores_every_snapshot(scored_warehouse: Warehouse, model: str) -> None:
    key = "user_id" if model == "intent_session" else "customer_id"
    ((features,),) = read(scored_warehouse, f"select count(*) from {FEATURES[key]}")
    ((scored, versions),) = read(
        scored_warehouse,
        f"select count(*), count(distinct model_version) from predictions.{model}",
    )
    assert scored == features * versions
    # A read-only connection (a BI tool) reads the latest view: one row per entity.
    ((rows, entities),) = read(
        scored_warehouse, f"select count(*), count(distinct {key}) from predictions.{model}_latest"
    )
    assert rows == entities > 0
    # Decile 1 holds the highest scores of each as_of.
    ((top, bottom),) = read(
        scored_warehouse,
        f"select avg(score) filter (where score_decile = 1), "
        f"avg(score) filter (where score_decile = 10) from predictions.{model}",
    )
    assert top > bottom


def test_monitoring_tables_are_populated(scored_warehouse: Warehouse) -> None:
    rows = dict(
        read(
            scored_warehouse,
            "select model_name, count(*) from monitoring.score_distribution group by 1",
        )
    )
    assert set(rows) == set(SCORED_MODELS)
    realized = read(
        scored_warehouse,
        "select model_name, avg(roc_auc), avg(mae) from monitoring.realized_performance "
        "group by 1 order by 1",
    )
    by_model = {name: (auc, mae) for name, auc, mae in realized}
    # Matured labels exist for the order models on the real data, and the models beat chance.
    for name in ("purchase_30d", "churn_90d"):
        assert by_model[name][0] > 0.6
    assert by_model["spend_90d"][1] > 0


def test_batch_udf_and_online_scores_agree(scored_warehouse: Warehouse) -> None:
    model = "purchase_30d"
    as_of = newest_as_of(scored_warehouse, "marts.customer_features")
    # dbt's rows for the newest snapshot, then the batch scorer rescoring them.
    dbt_scores = dict(
        read(
            scored_warehouse,
            f"select customer_id, score from predictions.{model} where as_of = ?",
            [as_of],
        )
    )
    run = score(scored_warehouse, model, AsOf(times=(as_of,)))
    assert run.rows == len(dbt_scores)
    batch = dict(
        read(
            scored_warehouse,
            f"select customer_id, score from predictions.{model} where as_of = ?",
            [as_of],
        )
    )
    assert batch.keys() == dbt_scores.keys()
    gap = max(abs(batch[k] - dbt_scores[k]) for k in batch)
    assert gap < 1e-6

    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    udfs.register(con)
    udf = dict(
        con.execute(
            f"""
            with f as (
                select * from marts.customer_features
                left join marts.customer_sequences using (customer_id, as_of)
                where as_of = ?
            )
            select customer_id, cartcast_predict('{model}', f) from f
            """,
            [as_of],
        ).fetchall()
    )
    con.close()
    assert max(abs(udf[k] - batch[k]) for k in batch) < 1e-6

    scorer = open_model(scored_warehouse, model)
    store = feature_store.get_store(scored_warehouse)
    # online features are judged fresh against the snapshot's own time
    now = as_of.replace(tzinfo=UTC)
    for customer in sorted(batch)[:5]:
        online = predict_one(customer, scorer, store, scored_warehouse, now=now)
        assert online.score == pytest.approx(batch[customer], abs=1e-6)


def test_rescoring_replaces_rows(scored_warehouse: Warehouse) -> None:
    model = "churn_90d"
    as_of = newest_as_of(scored_warehouse, "marts.customer_features")
    score(scored_warehouse, model, AsOf(times=(as_of,)))
    before = table_digest(scored_warehouse, model)
    score(scored_warehouse, model, AsOf(times=(as_of,)))
    assert table_digest(scored_warehouse, model) == before


SCORE_ALL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cartcast.warehouse.paths import Warehouse
    from scoring import batch
    from scoring.feature_source import AsOf

    batch.score(Warehouse(Path(sys.argv[1]), Path(sys.argv[2])), sys.argv[3], AsOf())
    """
)


def test_a_kill_mid_write_keeps_the_previous_predictions(
    scored_warehouse: Warehouse, tmp_path
) -> None:
    """The shipped `predictions.replace` killed at its fault point (rows deleted and
    inserted, not committed): the table keeps every row's checksum; a rerun completes."""
    model = "spend_90d"
    before = table_digest(scored_warehouse, model)
    assert before[0] > 0
    log = tmp_path / "faults.log"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            SCORE_ALL,
            str(scored_warehouse.duckdb_path),
            str(scored_warehouse.parquet_dir),
            model,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, FAULT_ENV: SCORING_BEFORE_COMMIT, FAULT_LOG_ENV: str(log)},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert log.read_text().startswith(SCORING_BEFORE_COMMIT)
    assert table_digest(scored_warehouse, model) == before
    rerun = score(scored_warehouse, model)
    assert rerun.rows > 0
    assert table_digest(scored_warehouse, model) == before


def test_a_mismatched_feature_table_is_refused_by_name(scored_warehouse: Warehouse) -> None:
    model = load(scored_warehouse, "churn_90d")
    sql, params = source_sql(model.key, model.inputs)
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        missing = f"select * exclude (recency_days) from ({sql})"
        with pytest.raises(ScoringError, match="recency_days is missing"):
            scored_batches(con, model, missing, params)
        retyped = f"select * replace (cast(tenure_days as varchar) as tenure_days) from ({sql})"
        with pytest.raises(ScoringError, match="tenure_days is string"):
            scored_batches(con, model, retyped, params)
        udfs.register(con)
        with pytest.raises(duckdb.Error, match="the features lack"):
            con.execute("select cartcast_predict('churn_90d', {'recency_days': 1.0}) ").fetchall()
    finally:
        con.close()


def test_scoring_without_a_champion_names_the_command() -> None:
    con = duckdb.connect()
    con.execute(DDL)
    with pytest.raises(RegistryError, match="cartcast train --model churn_90d"):
        score_relations(con, "churn_90d", {})
    con.close()


def test_unknown_model_is_refused(scored_warehouse: Warehouse) -> None:
    with pytest.raises(KeyError, match="Unknown model"):
        score(scored_warehouse, "drop_table")


def test_scores_are_finite_probabilities(scored_warehouse: Warehouse) -> None:
    scores = np.array(
        [s for (s,) in read(scored_warehouse, "select score from predictions.purchase_30d")]
    )
    assert np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


def test_feature_drift_matches_a_python_recount(scored_warehouse: Warehouse) -> None:
    """PSI of one feature at one as_of, recomputed from the reference bins in Python."""
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        drift = con.execute(
            "select model_version, as_of, feature, psi from monitoring.feature_drift "
            "where model_name = 'churn_90d' order by psi desc limit 1"
        ).fetchone()
        assert drift is not None, "no drift rows for churn_90d"
        version, as_of, feature, psi = drift
        bins = con.execute(
            "select bin, lower_bound, upper_bound, expected_share from ml.model_reference "
            "where model_name = 'churn_90d' and model_version = ? and feature = ?",
            [version, feature],
        ).fetchall()
        values = [
            v
            for (v,) in con.execute(
                f"select cast(f.{feature} as double) from predictions.churn_90d p "
                "join marts.customer_features f using (customer_id, as_of) "
                "where p.model_version = ? and p.as_of = ?",
                [version, as_of],
            ).fetchall()
        ]
    finally:
        con.close()
    total = 0.0
    for bin_, lower, upper, expected in bins:
        if bin_ == 0:
            inside = sum(v is None for v in values)
        else:
            inside = sum(
                v is not None and (lower is None or v >= lower) and (upper is None or v < upper)
                for v in values
            )
        actual = max(inside / len(values), 1e-4)
        expected = max(expected, 1e-4)
        total += (actual - expected) * np.log(actual / expected)
    assert psi == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert psi > 0


def test_score_distribution_matches_plain_sql(scored_warehouse: Warehouse) -> None:
    """The exact (order-independent) sums agree with DuckDB's own aggregates, amounts too."""
    rows = read(
        scored_warehouse,
        """
        select d.mean_score, d.stddev_score, avg(p.score), stddev_samp(p.score)
        from monitoring.score_distribution d
        join predictions.spend_90d p
            on p.model_version = d.model_version and p.as_of = d.as_of
        where d.model_name = 'spend_90d'
        group by d.model_version, d.as_of, d.mean_score, d.stddev_score
        """,
    )
    assert rows
    for mean, spread, plain_mean, plain_spread in rows:
        assert mean == pytest.approx(plain_mean, rel=1e-9)
        if plain_spread is not None:
            assert spread == pytest.approx(plain_spread, rel=1e-6)
