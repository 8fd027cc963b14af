"""Faults: SIGKILL in the middle of `dbt build`, of Feast materialization and of scoring.

Each run goes from a known state (before) towards a different one (after, measured by the
same run left uninterrupted on a copy). After the kill the warehouse opens, every table,
Parquet file and online store table is in its before or its after state, never a mix, and a
rerun completes with exactly the uninterrupted result.
"""

from __future__ import annotations

import shutil
import signal
import textwrap
from datetime import UTC
from pathlib import Path

import pytest

from cartcast.features import store as feature_store
from cartcast.features.online import online_features
from cartcast.warehouse.faults import FAULT_ENV, FAULT_LOG_ENV, SCORING_BEFORE_COMMIT
from cartcast.warehouse.paths import Warehouse
from tests.conftest import BUILD_ONLY
from tests.reliability.pipeline import (
    BUILD_SCHEMAS,
    PIPELINE_SCHEMAS,
    copy_warehouse,
    dbt,
    dbt_killed_at,
    fault_log_line,
    model_wrote_before,
    online_rows,
    run_python,
    table_checksums,
    write_slice,
)
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch


def _check_before_or_after(
    state: dict, before: dict, after: dict, what: str, require_change: bool = True
) -> None:
    """Every name holds its before or its after value; at least one changed (else the
    fault hit nothing and proves nothing).

    dbt-duckdb writes an external mart to `tmp_<name>.parquet` and renames it when done, so a
    kill can leave that half-written file: nothing reads it (Feast and the mart's view read
    `<name>.parquet`), and the rerun's own write replaces it (`_rerun_matches` is strict)."""
    in_flight = [n for n in state if n.startswith("parquet/tmp_") and n not in after]
    TALLY.add("half-written temporary Parquet files left by a kill (never read)", len(in_flight))
    state = {n: v for n, v in state.items() if n not in in_flight}
    mixed = sorted(n for n in before.keys() | after.keys() | state.keys()
                   if state.get(n) not in (before.get(n), after.get(n)))  # fmt: skip
    for name in mixed:
        TALLY.mismatch(f"{what}: {name} is neither its before nor its after state")
    assert not mixed, mixed
    if require_change:
        assert any(before.get(n) != after.get(n) for n in after), f"{what}: nothing changes"


def _rerun_matches(state: dict, after: dict, what: str) -> None:
    differing = sorted(n for n in after.keys() | state.keys() if state.get(n) != after.get(n))
    for name in differing:
        TALLY.mismatch(f"{what}: the rerun differs from an uninterrupted run on {name}")
    assert not differing, differing


# ---- dbt build ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dbt_states(raw_paths, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A warehouse built on orders before October 2011 (before), and the same warehouse
    built again on all of them (after), with the checksums of both."""
    root = tmp_path_factory.mktemp("rel_faults_dbt")
    before_vars = write_slice(raw_paths, root / "raw_before", before="2011-10-01")
    after_vars = write_slice(raw_paths, root / "raw_after")
    pristine = Warehouse.under(root / "pristine")
    dbt(list(BUILD_ONLY), pristine, before_vars)
    after_wh = copy_warehouse(pristine, root / "after")
    dbt(list(BUILD_ONLY), after_wh, after_vars)
    return {
        "root": root,
        "pristine": pristine,
        "after_vars": after_vars,
        "before": table_checksums(pristine, BUILD_SCHEMAS),
        "after": table_checksums(after_wh, BUILD_SCHEMAS),
        "after_warehouse": after_wh,
    }


# the incremental snapshot model (a merge into an existing table), and a feature mart that
# dbt writes as Parquet and a view over it: each killed by its own post-hook fault point,
# after its write and before its commit
KILL_POINTS = {
    "incremental snapshot model": "int_customer_snapshot_features",
    "Parquet feature mart": "customer_features",
}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_mid_dbt_build_leaves_each_table_before_or_after(dbt_states, point: str) -> None:
    model = KILL_POINTS[point]
    work = copy_warehouse(dbt_states["pristine"], dbt_states["root"] / f"killed_{model}")
    dbt_killed_at(
        f"dbt:{model}",
        list(BUILD_ONLY),
        work,
        dbt_states["after_vars"],
        work.duckdb_path.parent / "faults.log",
    )
    TALLY.add("faults injected")
    TALLY.add("fault points hit in shipped code")
    assert model_wrote_before(work.duckdb_path.parent, model), f"{model} was not mid-write"
    state = table_checksums(work, BUILD_SCHEMAS)  # the warehouse opens
    _check_before_or_after(state, dbt_states["before"], dbt_states["after"], f"dbt ({point})")
    dbt(list(BUILD_ONLY), work, dbt_states["after_vars"])
    _rerun_matches(table_checksums(work, BUILD_SCHEMAS), dbt_states["after"], f"dbt ({point})")


# ---- Feast materialization ------------------------------------------------------------

KILL_MATERIALIZE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from cartcast.features import store as feature_store
    from cartcast.features.bulk import sqlite as fast_sqlite
    from cartcast.warehouse.paths import Warehouse

    # small write batches, so the kill lands after some rows of a batch are written and
    # before that batch's transaction commits
    settings = feature_store.online_store_settings
    feature_store.online_store_settings = lambda *a, **k: {**settings(*a, **k), "bulk_entities": 20}
    # slices are encoded by child processes: count and kill in this one, the writer, as each
    # staged slice reaches it to be inserted
    staged_images, calls = fast_sqlite._staged_images, [0]

    def staged_then_die(*args, **kwargs):
        for image in staged_images(*args, **kwargs):
            calls[0] += 1
            if calls[0] == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)
            yield image

    fast_sqlite._staged_images = staged_then_die
    feature_store.materialize(Warehouse(Path(sys.argv[1]), Path(sys.argv[2])))
    """
)


# One feature view per lookup: Feast writes feature views one after another, so a kill between
# two leaves one new and the other old. Each view's rows are before or after (one SQLite
# transaction per view); a service spanning two views (purchase_30d_v1) may show both.
SINGLE_VIEW_SERVICE = {"customer": "churn_90d_v1", "user": "intent_session_v1"}


def _online(store, warehouse: Warehouse, **entity: str) -> str:
    (kind,) = entity
    service = SINGLE_VIEW_SERVICE[kind]
    try:
        values = online_features(**entity, service=service, warehouse=warehouse, store=store)
        return repr(sorted(values.items()))
    except feature_store.FeatureStoreError:
        return "absent"  # not materialized yet: the before state of a new entity


def _sampled_values(warehouse: Warehouse, customers: list[str], users: list[str]) -> dict:
    store = feature_store.get_store(warehouse)  # a new store: no cached SQLite connection
    values = {f"customer {c}": _online(store, warehouse, customer=c) for c in customers}
    return values | {f"user {u}": _online(store, warehouse, user=u) for u in users}


def _restore(saved: Path, feast: Path) -> None:
    shutil.rmtree(feast)
    shutil.copytree(saved, feast)


@pytest.mark.parametrize("kill_at_batch", [3, 30])
def test_a_kill_mid_materialize_leaves_the_online_store_before_or_after(
    dbt_states, kill_at_batch: int
) -> None:
    warehouse = copy_warehouse(
        dbt_states["after_warehouse"], dbt_states["root"] / f"feast_{kill_at_batch}"
    )
    as_ofs = fetch(warehouse, "select distinct as_of from marts.customer_features order by 1")
    customer_sql = (
        "select customer_id from marts.customer_features "
        "where as_of = (select max(as_of) from marts.customer_features) "
        "order by customer_id limit 4"
    )
    user_sql = "select distinct user_id from marts.user_event_features order by 1 limit 3"
    customers = [c for (c,) in fetch(warehouse, customer_sql)]
    users = [u for (u,) in fetch(warehouse, user_sql)]
    feast = warehouse.duckdb_path.parent / "feast"
    # before: materialized up to the snapshot before the newest (no clickstream yet)
    feature_store.apply(warehouse)
    feature_store.materialize(warehouse, end=as_ofs[-2][0].replace(tzinfo=UTC))
    saved = warehouse.duckdb_path.parent / "feast_before"
    shutil.copytree(feast, saved)
    before = online_rows(warehouse) | _sampled_values(warehouse, customers, users)
    feature_store.materialize(warehouse)
    after = online_rows(warehouse) | _sampled_values(warehouse, customers, users)
    _restore(saved, feast)

    killed = run_python(
        KILL_MATERIALIZE,
        str(warehouse.duckdb_path),
        str(warehouse.parquet_dir),
        str(kill_at_batch),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    TALLY.add("faults injected")
    state = online_rows(warehouse) | _sampled_values(warehouse, customers, users)
    _check_before_or_after(state, before, after, f"materialize (batch {kill_at_batch})")
    feature_store.materialize(warehouse)
    rerun = online_rows(warehouse) | _sampled_values(warehouse, customers, users)
    _rerun_matches(rerun, after, f"materialize (batch {kill_at_batch})")


# ---- scoring --------------------------------------------------------------------------

SCORE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cartcast.warehouse.paths import Warehouse
    from scoring import batch

    batch.score(Warehouse(Path(sys.argv[1]), Path(sys.argv[2])), sys.argv[3])
    """
)


@pytest.fixture(scope="module")
def scoring_states(pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The pipeline's warehouse without the newest snapshot's predictions (before), and the
    same after `dbt build --select tag:scoring` puts them back (after)."""
    warehouse, source_vars = pipeline
    root = tmp_path_factory.mktemp("rel_faults_scoring")
    pristine = copy_warehouse(warehouse, root / "pristine")
    import duckdb

    con = duckdb.connect(str(pristine.duckdb_path))
    for model, features in (("purchase_30d", "customer"), ("churn_90d", "customer")):
        con.execute(
            f"delete from predictions.{model} "
            f"where as_of = (select max(as_of) from marts.{features}_features)"
        )
    con.close()
    after_wh = copy_warehouse(pristine, root / "after")
    dbt(["build", "--select", "tag:scoring"], after_wh, source_vars)
    return {
        "root": root,
        "pristine": pristine,
        "source_vars": source_vars,
        "before": table_checksums(pristine, PIPELINE_SCHEMAS),
        "after": table_checksums(after_wh, PIPELINE_SCHEMAS),
    }


def test_a_kill_mid_dbt_scoring_leaves_each_table_before_or_after(scoring_states) -> None:
    work = copy_warehouse(scoring_states["pristine"], scoring_states["root"] / "killed_dbt")
    model = "churn_90d"
    dbt_killed_at(
        f"dbt:{model}",
        ["build", "--select", "tag:scoring"],
        work,
        scoring_states["source_vars"],
        work.duckdb_path.parent / "faults.log",
    )
    TALLY.add("faults injected")
    TALLY.add("fault points hit in shipped code")
    assert model_wrote_before(work.duckdb_path.parent, model), f"{model} was not mid-write"
    state = table_checksums(work, PIPELINE_SCHEMAS)
    _check_before_or_after(state, scoring_states["before"], scoring_states["after"], "dbt scoring")
    dbt(["build", "--select", "tag:scoring"], work, scoring_states["source_vars"])
    _rerun_matches(table_checksums(work, PIPELINE_SCHEMAS), scoring_states["after"], "dbt scoring")


def test_a_kill_mid_scoring_write_keeps_the_previous_predictions(scoring_states) -> None:
    """`cartcast score` killed by the fault point inside `predictions.replace`, after its
    delete and insert, before the commit; the rerun equals an uninterrupted run, table by
    table (checksums of every row, not counts)."""
    model = "purchase_30d"
    root = scoring_states["root"]
    uninterrupted = copy_warehouse(scoring_states["pristine"], root / "scored_batch")
    done = run_python(SCORE, str(uninterrupted.duckdb_path), str(uninterrupted.parquet_dir), model)
    assert done.returncode == 0, done.stderr[-2000:]
    after = table_checksums(uninterrupted, PIPELINE_SCHEMAS)
    assert after != scoring_states["before"]

    work = copy_warehouse(scoring_states["pristine"], root / "killed_batch")
    log = root / "killed_batch.faults.log"
    killed = run_python(
        SCORE,
        str(work.duckdb_path),
        str(work.parquet_dir),
        model,
        env={FAULT_ENV: SCORING_BEFORE_COMMIT, FAULT_LOG_ENV: str(log)},
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    fault_log_line(log, SCORING_BEFORE_COMMIT)
    TALLY.add("faults injected")
    TALLY.add("fault points hit in shipped code")
    assert table_checksums(work, PIPELINE_SCHEMAS) == scoring_states["before"]
    rerun = run_python(SCORE, str(work.duckdb_path), str(work.parquet_dir), model)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    _rerun_matches(table_checksums(work, PIPELINE_SCHEMAS), after, "cartcast score")
