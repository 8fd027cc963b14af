"""Batch scoring: feature rows stream from the warehouse as Arrow record batches through
ONNX Runtime into the prediction tables. Memory holds one batch at a time, never the table.

`cartcast score` calls `score`; dbt's Python models in `models/predictions/` call
`score_relations` over `dbt.ref(...)`, so both write the same rows. Either way the scores
stream from ONNX Runtime straight into the ranked insert: no copy of them is staged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import pyarrow as pa

from cartcast.errors import ScoringError
from cartcast.registry import versions as registry
from cartcast.warehouse.paths import Warehouse
from scoring import predictions
from scoring.explain import EXPLAIN_MODES, REASONS, explainer
from scoring.feature_source import AsOf, source_sql
from scoring.model import ScoringModel, from_entry, resolve
from scoring.model_inputs import check_schema, feed

log = logging.getLogger("cartcast.scoring")

# Rows per record batch. `python bench/scoring.py --batch-sweep` on 2 shared cores found no
# size from 4k to 256k reliably faster; memory grows with the batch.
DEFAULT_BATCH_ROWS = 65_536
# DuckDB's share of memory while scoring; without a cap it grows with the table (its default
# is 80% of RAM) because ranking holds every score of an as_of. Beyond it, it spills to disk.
DEFAULT_MEMORY_LIMIT = "1GB"


@dataclass(frozen=True)
class ScoreRun:
    model: str
    version: int
    provider: str
    rows: int
    as_ofs: int
    seconds: float
    table: str

    def describe(self) -> str:
        rate = self.rows / self.seconds if self.seconds else float("nan")
        return (
            f"{self.model} v{self.version}: {self.rows:,} rows over {self.as_ofs} as_of(s) "
            f"scored with {self.provider} in {self.seconds:.1f} s ({rate:,.0f} rows/s) "
            f"-> {self.table}"
        )


def score_stream(
    reader_con: duckdb.DuckDBPyConnection,
    model: ScoringModel,
    sql: str,
    params: list,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    source: str = "the feature marts",
    explain: str = "latest",
    newest: datetime | None = None,
) -> pa.RecordBatchReader:
    """(key, as_of, score, reasons) batches; the inputs are checked before the first row is
    scored. `explain`: reasons for the newest as_of (`latest`, read from the rows unless
    given), every row (`all`) or none."""
    if explain not in EXPLAIN_MODES:
        raise ScoringError(f"explain must be one of {EXPLAIN_MODES}, not {explain!r}.")
    if explain != "latest":
        newest = None
    elif newest is None:
        (newest,) = reader_con.execute(f"select max(as_of) from ({sql})", params).fetchone()
    reader = reader_con.execute(sql, params).fetch_record_batch(batch_rows)
    check_schema(reader.schema, model.inputs, model.name, source)
    why = explainer(model) if explain != "none" else None
    key = model.key
    # Without explanations the stream has no reasons column: the write fills in a constant
    # null, much cheaper than a column of null lists (0.3 s per million rows).
    fields = [(key, pa.string()), ("as_of", pa.timestamp("us")), ("score", pa.float64())]
    schema = pa.schema(fields if why is None else [*fields, ("reasons", REASONS)])

    def reasons(batch: pa.RecordBatch, inputs: dict[str, np.ndarray]) -> list[pa.Array]:
        if why is None:
            return []
        return [_reasons(batch, inputs)]

    def _reasons(batch: pa.RecordBatch, inputs: dict[str, np.ndarray]) -> pa.Array:
        if newest is None:
            return why.reasons(inputs)
        as_of = batch.column("as_of").cast(pa.timestamp("us")).to_numpy()
        rows = np.flatnonzero(as_of == np.datetime64(newest, "us"))
        if len(rows) == 0:
            return pa.nulls(batch.num_rows, REASONS)
        explained = why.reasons({k: v[rows] for k, v in inputs.items()}).to_pylist()
        out: list = [None] * batch.num_rows
        for row, value in zip(rows, explained, strict=True):
            out[row] = value
        return pa.array(out, REASONS)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            inputs = feed(batch, model.inputs)
            scores = model.score(inputs)
            bad = ~np.isfinite(scores)
            if bad.any():
                first = batch.column(key)[int(np.argmax(bad))]
                raise ScoringError(
                    f"{model.name} v{model.version} gave {int(bad.sum())} non-finite score(s), "
                    f"e.g. for {key}={first}: check that row's features."
                )
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column(key).cast(pa.string()),
                    batch.column("as_of").cast(pa.timestamp("us")),
                    pa.array(scores, pa.float64()),
                    *reasons(batch, inputs),
                ],
                schema=schema,
            )

    return pa.RecordBatchReader.from_batches(schema, batches())


def score(
    warehouse: Warehouse,
    name: str,
    as_of: AsOf | None = None,
    version: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
    device: str = "auto",
    explain: str = "latest",
    memory_limit: str | None = None,
) -> ScoreRun:
    """Score `name` (its champion, or `version`) for the chosen `as_of`s and write the rows.

    `memory_limit` caps DuckDB (reading, ranking and writing spill to disk beyond it);
    default `$CARTCAST_SCORING_MEMORY_LIMIT`, else DEFAULT_MEMORY_LIMIT.
    """
    started = time.perf_counter()
    limit = memory_limit or os.environ.get("CARTCAST_SCORING_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    with registry.connect(warehouse) as con:
        con.execute("set memory_limit = ?", [limit])
        model = from_entry(resolve(con, name, version), device, threads)
        sql, params = source_sql(model.key, model.inputs, as_of)
        reader_con = con.cursor()
        try:
            as_ofs = [
                row[0]
                for row in reader_con.execute(
                    f"select distinct as_of from ({sql}) order by 1", params
                ).fetchall()
            ]
            if not as_ofs:
                raise ScoringError(
                    f"No feature rows to score for {name} at the as_of(s) asked for: check the "
                    "dates against `select distinct as_of from marts.<features>`."
                )
            stream = score_stream(
                reader_con, model, sql, params, batch_rows, explain=explain, newest=as_ofs[-1]
            )
            scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            rows = predictions.replace(
                con, model.name, model.version, model.key, scored_at, stream, as_ofs
            )
        finally:
            reader_con.close()
    return ScoreRun(
        model.name,
        model.version,
        model.provider,
        rows,
        len(as_ofs),
        time.perf_counter() - started,
        predictions.table(model.name),
    )


def score_relations(
    session: duckdb.DuckDBPyConnection,
    name: str,
    refs: Mapping[str, duckdb.DuckDBPyRelation],
    batch_rows: int = DEFAULT_BATCH_ROWS,
    explain: str = "latest",
) -> duckdb.DuckDBPyRelation:
    """Inside a dbt Python model: score every snapshot of `refs` (mart name -> `dbt.ref`)
    with the champion, and return the ranked rows for dbt to materialize."""
    model = from_entry(resolve(session, name))
    tables = {mart: f"({relation.sql_query()})" for mart, relation in refs.items()}
    sql, params = source_sql(model.key, model.inputs, None, tables)
    # The reading cursor stays open: dbt pulls the stream when it materializes the relation,
    # and the cursor closes with dbt's connection.
    reader_con = session.cursor()
    stream = score_stream(reader_con, model, sql, params, batch_rows, "the dbt refs", explain)
    view = f"{predictions.SCORES}_{name}"
    session.register(view, stream)
    log.info("%s v%s scores with %s", name, model.version, model.provider)
    scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    ranked = predictions.ranked_sql(
        model.name, model.version, model.key, scored_at, view, "reasons" in stream.schema.names
    )
    return session.sql(ranked)
