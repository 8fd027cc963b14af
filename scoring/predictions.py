"""The prediction tables `predictions.<model>`: their columns, ranks, and atomic replacement.

One row per entity, `as_of` and model version. Scoring an `as_of` again with the same version
replaces exactly those rows, in one transaction: a crash before the commit leaves the previous
rows in place, and a rerun completes. dbt's Python models build the same table with the same
columns (`models/predictions/`), so batch scoring and `dbt build` write one table.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from cartcast.warehouse.faults import SCORING_BEFORE_COMMIT, fault_point
from scoring.explain import REASONS_SQL

SCHEMA = "predictions"
# Name of the scored stream as DuckDB sees it while the ranked rows are written.
SCORES = "cartcast_scores"


def table(model: str) -> str:
    return f"{SCHEMA}.{model}"


def ddl(model: str, key: str) -> str:
    return f"""
        create schema if not exists {SCHEMA};
        create table if not exists {table(model)} (
            {key} varchar not null,
            as_of timestamp not null,
            score double not null,
            score_rank bigint not null,
            score_decile integer not null,
            model_name varchar not null,
            model_version integer not null,
            scored_at timestamp not null,
            reasons {REASONS_SQL}
        );
        -- tables made before reasons existed gain the column (null for their old rows)
        alter table {table(model)} add column if not exists reasons {REASONS_SQL};
    """


def ranked_sql(
    model: str,
    version: int,
    key: str,
    scored_at: datetime,
    source: str = SCORES,
    with_reasons: bool = True,
) -> str:
    """Scores with their rank (1 = highest) and decile (1 = top tenth) within each `as_of`.

    Ties are broken by the key, so a rerun ranks identically.
    """
    order = f"order by score desc, {key}"
    return f"""
        select
            {key},
            as_of,
            score,
            row_number() over (partition by as_of {order}) as score_rank,
            cast(ntile(10) over (partition by as_of {order}) as integer) as score_decile,
            '{model}' as model_name,
            cast({int(version)} as integer) as model_version,
            cast('{scored_at.isoformat(sep=" ")}' as timestamp) as scored_at,
            {"reasons" if with_reasons else f"cast(null as {REASONS_SQL})"} as reasons
        from {source}
    """


def replace(
    con: duckdb.DuckDBPyConnection,
    model: str,
    version: int,
    key: str,
    scored_at: datetime,
    scores: pa.RecordBatchReader,
    as_ofs: list[datetime],
) -> int:
    """Replace this version's rows at `as_ofs` by the streamed scores, in one transaction.

    The scores go straight from the stream through the ranking into the table (no staging
    copy); a failure or a kill before the commit leaves the previous rows.
    """
    con.execute(ddl(model, key))
    with_reasons = "reasons" in scores.schema.names
    stream = SCORES
    con.register(stream, scores)
    con.execute("begin transaction")
    try:
        con.execute(
            f"delete from {table(model)} where model_version = ? and list_contains(?, as_of)",
            [version, as_ofs],
        )
        (rows,) = con.execute(
            f"insert into {table(model)} by name "
            f"{ranked_sql(model, version, key, scored_at, stream, with_reasons)}"
        ).fetchone()
        # crash tests kill here: rows deleted and inserted, nothing committed
        fault_point(SCORING_BEFORE_COMMIT)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister(stream)
    return rows
