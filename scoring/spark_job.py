"""Batch scoring on Spark: `cartcast score --engine spark`.

dbt-spark's session method runs no Python models, so on Spark the prediction tables are
written by this job. The feature rows (the same SQL as DuckDB's scoring, over the marts the
Spark build wrote) stream to the executors as Arrow batches through `mapInArrow`; each Python
worker opens the registered ONNX file with ONNX Runtime once (kept per worker, keyed by the
file's digest, not per batch) and scores its batches with the same feed as DuckDB's path.
Spark ranks the scores within each `as_of` (ties broken by the key, as on DuckDB) and writes
`predictions.<model>`, partitioned by model version and `as_of`: each (version, as_of) scored
is replaced by a dynamic partition overwrite, and other partitions are left alone.

The version's drift reference (`ml.model_reference`, written with the version at training) and
the registry (`ml.model_registry`: which version is champion) are copied to Spark, where the
monitoring models and the `<model>_latest` views read them (`scoring.spark_monitoring`).

Reasons are not computed on Spark (the column is null): explaining is (inputs + 1) x 2 x
pairs model calls per row, and DuckDB's `cartcast score` does it for the snapshots asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import onnx
import pyarrow as pa

from cartcast.catalog import get_spec
from cartcast.errors import ScoringError
from cartcast.registry import versions as registry
from cartcast.registry.metadata import read_metadata
from cartcast.warehouse.paths import Warehouse
from scoring import predictions
from scoring.batch import ScoreRun
from scoring.explain import REASONS
from scoring.feature_source import AsOf, source_sql
from scoring.model import resolve
from scoring.model_inputs import Input, check_schema, feed, parse_inputs

# Sessions of the Python worker this module runs in, by the model file's sha256: Spark
# reuses its Python workers, so a worker opens a model once however many batches it scores.
_SESSIONS: dict[str, object] = {}


def _worker_session(digest: str, data: bytes):
    if digest not in _SESSIONS:
        from scoring.onnx_session import open_session

        _SESSIONS[digest] = open_session(data, "cpu", threads=1)
    return _SESSIONS[digest]


def score_partition(
    batches: Iterator[pa.RecordBatch],
    key: str,
    inputs: tuple[Input, ...],
    digest: str,
    data: bytes,
) -> Iterator[pa.RecordBatch]:
    """(key, as_of, score) for every row of a partition's Arrow batches: runs on executors."""
    import numpy as np

    session = _worker_session(digest, data)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        scores = np.asarray(session.run(feed(batch, inputs)), dtype=np.float64)
        bad = ~np.isfinite(scores)
        if bad.any():
            first = batch.column(key)[int(np.argmax(bad))]
            raise ScoringError(f"{int(bad.sum())} non-finite score(s), e.g. for {key}={first}.")
        yield pa.RecordBatch.from_arrays(
            [batch.column(key).cast(pa.string()), batch.column("as_of"), pa.array(scores)],
            names=[key, "as_of", "score"],
        )


def table_ddl(model: str, key: str) -> str:
    """The Spark table: DuckDB's columns, partitioned by (model_version, as_of)."""
    reasons = _spark_type(REASONS)
    return (
        f"create table if not exists {predictions.table(model)} ("
        f"{key} string, score double, score_rank bigint, score_decile int, "
        f"model_name string, scored_at timestamp, reasons {reasons}, "
        "model_version int, as_of timestamp) using parquet partitioned by (model_version, as_of)"
    )


def score_on_spark(
    warehouse: Warehouse,
    name: str,
    version: int | None = None,
    as_of: AsOf | None = None,
    master: str | None = None,
) -> ScoreRun:
    """Score `name` (its champion, or `version`) on Spark over the Spark-built marts and
    replace its rows at the scored `as_of`s in the Spark table `predictions.<name>`."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    from cartcast.warehouse.spark import session

    started = time.perf_counter()
    with registry.connect(warehouse) as con:
        entry = resolve(con, name, version)
    data = entry.verify_file().read_bytes()
    inputs = parse_inputs(read_metadata(onnx.load_from_string(data)))
    key = get_spec(name).key
    sql, params = source_sql(key, inputs, as_of)
    spark = session(warehouse, master, app=f"cartcast score {name}")
    # Spark SQL takes the `?` markers as positional args
    frame = spark.sql(sql, args=list(params)) if params else spark.sql(sql)
    check_schema(_arrow_schema(frame), inputs, name, "the Spark marts")
    digest = entry.sha256

    def scorer(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return score_partition(batches, key, inputs, digest, data)

    scored = frame.mapInArrow(scorer, f"{key} string, as_of timestamp, score double")
    order = Window.partitionBy("as_of").orderBy(F.col("score").desc(), F.col(key))
    scored_at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    ranked = scored.select(
        F.col(key),
        F.col("score"),
        F.row_number().over(order).alias("score_rank"),
        F.ntile(10).over(order).cast("int").alias("score_decile"),
        F.lit(name).alias("model_name"),
        F.lit(scored_at).cast("timestamp").alias("scored_at"),
        F.lit(None).cast(_spark_type(REASONS)).alias("reasons"),
        F.lit(entry.version).cast("int").alias("model_version"),
        F.col("as_of"),
    )
    spark.sql(f"create database if not exists {predictions.SCHEMA}")
    spark.sql(table_ddl(name, key))
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    # Spark writes the new files of each partition before swapping them in: a failed job
    # leaves the previous rows of the partitions it had not committed
    ranked.write.insertInto(predictions.table(name), overwrite=True)
    copy_reference(spark, warehouse, name, entry.version)
    copy_registry(spark, warehouse)
    stats = (
        spark.table(predictions.table(name))
        .where(F.col("model_version") == entry.version)
        .where(F.col("scored_at") == F.lit(scored_at).cast("timestamp"))
        .agg(F.count("*").alias("rows"), F.countDistinct("as_of").alias("as_ofs"))
        .collect()[0]
    )
    if not stats["rows"]:
        raise ScoringError(
            f"No feature rows to score for {name} on Spark: build the marts first "
            "(`cartcast build --engine spark`)."
        )
    return ScoreRun(
        name,
        entry.version,
        "CPUExecutionProvider (Spark executors)",
        int(stats["rows"]),
        int(stats["as_ofs"]),
        time.perf_counter() - started,
        f"{predictions.table(name)} (Spark)",
    )


REFERENCE_COLUMNS = (
    "feature string, bin int, lower_bound double, upper_bound double, expected_share double, "
    "model_name string, model_version int"
)


def copy_reference(spark, warehouse: Warehouse, name: str, version: int) -> int:
    """Copy the version's drift bins from the registry to Spark's `ml.model_reference`
    (partitioned by model and version; the version's partition is replaced). Returns the
    number of bins."""
    with registry.connect(warehouse, read_only=True) as con:
        rows = con.execute(
            "select feature, bin, lower_bound, upper_bound, expected_share, model_name, "
            f"model_version from {registry.REFERENCE_TABLE} "
            "where model_name = ? and model_version = ? order by feature, bin",
            [name, version],
        ).fetchall()
    spark.sql("create database if not exists ml")
    spark.sql(
        f"create table if not exists {registry.REFERENCE_TABLE} ({REFERENCE_COLUMNS}) "
        "using parquet partitioned by (model_name, model_version)"
    )
    if rows:
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
        frame = spark.createDataFrame(rows, schema=REFERENCE_COLUMNS)
        frame.write.insertInto(registry.REFERENCE_TABLE, overwrite=True)
    return len(rows)


def copy_registry(spark, warehouse: Warehouse) -> int:
    """Copy the registry (`ml.model_registry`, every version and its status) to Spark, where
    the `<model>_latest` views find each champion. A copy: a promotion or rollback reaches
    Spark with the next Spark scoring run. Returns the number of versions."""
    with registry.connect(warehouse, read_only=True) as con:
        table = con.execute(f"select * from {registry.TABLE} order by name, version")
        rows = table.to_arrow_table()
    spark.sql("create database if not exists ml")
    # the rows are in this process already: the write does not read the table it replaces
    spark.createDataFrame(rows).write.format("parquet").mode("overwrite").saveAsTable(
        registry.TABLE
    )
    return rows.num_rows


def _spark_type(arrow_type: pa.DataType) -> str:
    """The Spark SQL type of the reasons column."""
    if pa.types.is_list(arrow_type):
        return f"array<{_spark_type(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f"{f.name}: {_spark_type(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    return {pa.string(): "string", pa.float64(): "double"}[arrow_type]


def _arrow_schema(frame) -> pa.Schema:
    """The Arrow schema of a Spark frame's rows, read from an empty slice."""
    return frame.limit(0).toArrow().schema
