"""Batch scoring: feature rows stream from the warehouse as Arrow record batches through
ONNX Runtime into the prediction tables. Memory holds one batch at a time, never the table.

`cartcast score` calls `score`; dbt's Python models in `models/predictions/` call
`score_relations` over `dbt.ref(...)`, so both write the same rows. Either way the scores
stream from ONNX Runtime straight into the ranked insert: no copy of them is staged.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
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
from scoring.feature_source import AsOf, snapshots_sql, source_sql
from scoring.model import ScoringModel, from_entry, resolve
from scoring.model_inputs import check_schema, feed

log = logging.getLogger("cartcast.scoring")

# Rows per record batch. `python bench/scoring.py --batch-sweep` on 2 shared cores found no
# size from 4k to 256k reliably faster; memory grows with the batch.
DEFAULT_BATCH_ROWS = 65_536
# DuckDB's share of memory while scoring; without a cap it grows with the table (its default
# is 80% of RAM) because ranking holds every score of an as_of. Beyond it, it spills to disk.
# The process keeps what DuckDB once used up to the cap, so a small cap keeps the peak flat
# in the table's size (bench/README.md: 1GB gave 2.1x the 1M peak at 10M, 256MB 1.24x), and
# the window spills without a measurable loss of speed.
DEFAULT_MEMORY_LIMIT = "256MB"
# Batches each stage of the stream may run ahead of the next one: reading and the feeds,
# inference and DuckDB's ranking overlap, and memory still holds a few batches, not the table.
AHEAD = 2


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


def scored_batches(
    reader_con: duckdb.DuckDBPyConnection,
    model: ScoringModel,
    sql: str,
    params: list,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    source: str = "the feature marts",
    explain: str = "latest",
    newest: datetime | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and batches (key, as_of, score, reasons) of the scored rows; the inputs are
    checked before the first row is scored, and closing the batches stops the stream's
    threads. `explain`: reasons for the newest as_of (`latest`, read from the rows unless
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
        explained = why.reasons({k: v[rows] for k, v in inputs.items()})
        # each row's place in `explained`, null where the row is not explained
        where = np.zeros(batch.num_rows, np.int64)
        where[rows] = np.arange(len(rows))
        explained_row = np.zeros(batch.num_rows, bool)
        explained_row[rows] = True
        return explained.take(pa.array(where, mask=~explained_row))

    def feeds() -> Iterator[tuple[pa.RecordBatch, dict[str, np.ndarray]]]:
        for batch in read_batches(reader):
            yield batch, feed(batch, model.inputs)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch, inputs in ahead(feeds()):
            scores = model.score(inputs)
            check_scores(scores, batch, model)
            yield pa.RecordBatch.from_arrays(
                [
                    batch.column(key).cast(pa.string()),
                    batch.column("as_of").cast(pa.timestamp("us")),
                    pa.array(scores, pa.float64()),
                    *reasons(batch, inputs),
                ],
                schema=schema,
            )

    return schema, ahead(batches())


def read_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        if batch.num_rows:
            yield batch


def check_scores(scores: np.ndarray, batch: pa.RecordBatch, model: ScoringModel) -> None:
    bad = ~np.isfinite(scores)
    if bad.any():
        key = model.key
        first = batch.column(key)[int(np.argmax(bad))]
        raise ScoringError(
            f"{model.name} v{model.version} gave {int(bad.sum())} non-finite score(s), "
            f"e.g. for {key}={first}: check that row's features."
        )


_DONE = object()


def ahead(items: Iterator, depth: int | None = None) -> Iterator:
    """`items`, produced by a thread of their own up to `depth` items ahead of the consumer.

    ONNX Runtime and DuckDB release the GIL while they work, so the stages of the stream
    overlap. The producer starts on the first pull (dbt pulls the stream long after it is
    made); its error is raised to the consumer; closing the consumer stops the producer and
    waits for it, so nothing reads from a cursor after it is closed.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth or AHEAD)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, which raises it
            put(err)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="cartcast-scoring", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


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
        # What DuckDB frees (the scanned blocks, the window's rows) otherwise stays resident
        # until the process ends: at 10M rows the peak was 1.8 GiB, 1.5 GiB with this.
        con.execute("set allocator_background_threads = true")
        # the session's threads sleep between runs: DuckDB reads the next batch meanwhile
        model = from_entry(resolve(con, name, version), device, threads, spinning=False)
        sql, params = source_sql(model.key, model.inputs, as_of)
        reader_con = con.cursor()
        try:
            as_ofs = [
                row[0] for row in reader_con.execute(*snapshots_sql(model.key, as_of)).fetchall()
            ]
            if not as_ofs:
                raise ScoringError(
                    f"No feature rows to score for {name} at the as_of(s) asked for: check the "
                    "dates against `select distinct as_of from marts.<features>`."
                )
            schema, batches = scored_batches(
                reader_con, model, sql, params, batch_rows, explain=explain, newest=as_ofs[-1]
            )
            stream = pa.RecordBatchReader.from_batches(schema, batches)
            scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            try:
                rows = predictions.replace(
                    con, model.name, model.version, model.key, scored_at, stream, as_ofs
                )
            finally:
                # a write that failed midway leaves the stream's threads waiting: stop them
                # before their cursor closes
                batches.close()
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
    model = from_entry(resolve(session, name), spinning=False)
    tables = {mart: f"({relation.sql_query()})" for mart, relation in refs.items()}
    sql, params = source_sql(model.key, model.inputs, None, tables)
    newest = None
    if explain == "latest":
        snapshots, _ = snapshots_sql(model.key, None, tables)
        (newest,) = session.execute(f"select max(as_of) from ({snapshots})").fetchone()
    # The reading cursor stays open: dbt pulls the stream when it materializes the relation,
    # and the cursor closes with dbt's connection.
    reader_con = session.cursor()
    schema, batches = scored_batches(
        reader_con, model, sql, params, batch_rows, "the dbt refs", explain, newest
    )
    stream = pa.RecordBatchReader.from_batches(schema, batches)
    view = f"{predictions.SCORES}_{name}"
    session.register(view, stream)
    log.info("%s v%s scores with %s", name, model.version, model.provider)
    scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    ranked = predictions.ranked_sql(
        model.name, model.version, model.key, scored_at, view, "reasons" in stream.schema.names
    )
    return session.sql(ranked)
