"""The product text embeddings on Spark: what the dbt Python model
`int_product_text_embeddings` does in a DuckDB build, for a Spark build, whose session method
runs no Python models. Then dbt builds the mart over it (`product_text_embeddings`).

One row per product: descriptions are few even when order lines are billions, so they are
encoded on the driver, by the same code and encoder settings as DuckDB's build, and both engines
hold the same vectors. Incremental as on DuckDB: only products that are new, or whose
description or encoder changed, are encoded; the others keep their rows, and the table is
replaced by one write of the merged rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from cartcast.pretraining.text_table import embed_rows
from cartcast.warehouse.dbt_runner import run_dbt_in_process
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.spark import session, spark_env

SOURCE = "intermediate.int_product_descriptions"
TABLE = "intermediate.int_product_text_embeddings"
MART = "product_text_embeddings"


def embed_on_spark(
    warehouse: Warehouse,
    master: str | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    full_refresh: bool = False,
) -> int:
    """Write Spark's `int_product_text_embeddings`, then build its mart with dbt (in this
    process, on the same session); `full_refresh` encodes every product again. Returns the
    number of products encoded this time."""
    spark = session(warehouse, master, app="cartcast text embeddings")
    wanted = spark.table(SOURCE).select("product_id", "description").toArrow()
    rebuild = full_refresh or not spark.catalog.tableExists(TABLE)
    existing = None if rebuild else spark.table(TABLE).toArrow()
    done = (
        list(
            zip(
                existing.column("product_id").to_pylist(),
                existing.column("description").to_pylist(),
                existing.column("encoder_version").to_pylist(),
                strict=True,
            )
        )
        if existing is not None
        else []
    )
    encoded = embed_rows(wanted, done)
    # Spark has no fixed-size arrays: array<float>, as the contract reads on Spark
    encoded = encoded.set_column(
        2, "embedding", pc.cast(encoded.column("embedding"), pa.list_(pa.float32()))
    )
    rows = encoded
    if existing is not None:
        # delete+insert by product, as DuckDB's incremental model does
        replaced = pc.is_in(existing.column("product_id"), encoded.column("product_id"))
        kept = existing.filter(pc.invert(replaced)).select(encoded.column_names)
        rows = pa.concat_tables([kept.cast(encoded.schema), encoded])
    spark.sql("create database if not exists intermediate")
    # the rows are in this process already: the write does not read the table it replaces
    spark.createDataFrame(rows).write.format("parquet").mode("overwrite").saveAsTable(TABLE)
    run_dbt_in_process(
        ["build", "--select", MART],
        warehouse,
        dbt_vars,
        work_dir,
        {**spark_env(warehouse, master), **(extra_env or {})},
    )
    return encoded.num_rows
