"""Next-product lists: the recommender's ONNX file over customer snapshots, snapshot by
snapshot (each shares its best-seller list), streamed as Arrow batches into the warehouse.

Every customer snapshot of the feature marts gets a list; one with no purchase history (a
cold start) gets what the model gives an empty history, which is led by the best sellers of
its snapshot, and is flagged `is_cold_start`. `is_repeat` flags products the customer bought
before `as_of` (any of them, not only the most-bought ones the model reads). The dbt Python
model `models/predictions/next_products.py` calls `recommend_relations`; `cartcast recommend`
calls `recommend_one` on the online store's rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa

from cartcast.catalog import get_recommender
from cartcast.errors import ScoringError
from cartcast.features.recommend_rows import Popular, Rows, onnx_feed, padded, rows_from_table
from cartcast.registry import versions as registry
from cartcast.registry.metadata import read_metadata
from scoring.onnx_session import open_session

log = logging.getLogger("cartcast.scoring")

MAX_K = 1000
ROWS_PER_CALL = 512
OUTPUT = pa.schema(
    [
        ("customer_id", pa.string()),
        ("as_of", pa.timestamp("us")),
        ("model_version", pa.int64()),
        ("rank", pa.int64()),
        ("product_id", pa.string()),
        ("score", pa.float64()),
        ("is_repeat", pa.bool_()),
        ("is_cold_start", pa.bool_()),
    ]
)


def check_k(k: int) -> int:
    if not 1 <= int(k) <= MAX_K:
        raise ScoringError(f"k must be between 1 and {MAX_K}, not {k}.")
    return int(k)


@dataclass(frozen=True)
class Recommender:
    """A registered recommender version's ONNX session and what it was exported with."""

    entry: registry.Entry
    session: ort.InferenceSession
    provider: str
    length: int
    width: int
    popular_width: int

    @property
    def version(self) -> int:
        return self.entry.version

    def run(
        self, rows: Rows, popular: Popular, k: int, repeats: bool, unseen: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        ids, scores = self.session.run(
            ["product_ids", "scores"], onnx_feed(rows, popular, k, self.session, repeats, unseen)
        )
        return ids, scores


def load(entry: registry.Entry, device: str = "auto", threads: int | None = None) -> Recommender:
    data = entry.verify_file().read_bytes()
    metadata = read_metadata(onnx.load_from_string(data))
    if metadata.get("model_name") != entry.name:
        raise ScoringError(f"{entry.path} holds {metadata.get('model_name')!r}, not {entry.name}.")
    wrapped = open_session(data, device, threads, cache_dir=entry.path.parent / "trt_cache")
    shapes = {i.name: i.shape for i in wrapped.session.get_inputs()}
    return Recommender(
        entry,
        wrapped.session,
        wrapped.provider,
        int(metadata["sequence_length"]),
        int(metadata["history_width"]),
        int(shapes["popular_product_ids"][1]),
    )


def champion(con: duckdb.DuckDBPyConnection, name: str, version: int | None = None):
    get_recommender(name)  # unknown names stop here, with the known ones
    if version is None:
        return registry.champion_on(con, name)
    return registry.get_on(con, name, version)


def snapshot_sql(tables: Mapping[str, str], where: str = "true") -> str:
    """Every customer snapshot of the feature marts, with its recent products and history
    (empty lists where the customer has none)."""
    return f"""
        select f.customer_id, f.as_of, s.recent_product_ids, h.history_product_ids,
            h.history_orders, h.history_days_since_last, h.history_days_since_first,
            coalesce(h.orders_before, 0) as orders_before
        from {tables["customer_features"]} as f
        left join {tables["customer_sequences"]} as s
            on s.customer_id = f.customer_id and s.as_of = f.as_of
        left join {tables["customer_product_history"]} as h
            on h.customer_id = f.customer_id and h.as_of = f.as_of
        where {where}
        order by f.as_of, f.customer_id
    """


def popular_lists(con: duckdb.DuckDBPyConnection, table: str, width: int) -> dict:
    rows = con.execute(
        f"select as_of, popular_product_ids, popular_lines_90d, popular_lines_30d from {table}"
    ).to_arrow_table()
    ids = padded(rows.column("popular_product_ids"), width, "", object)
    l90 = padded(rows.column("popular_lines_90d"), width, 0.0, np.float32)
    l30 = padded(rows.column("popular_lines_30d"), width, 0.0, np.float32)
    times = np.asarray(rows.column("as_of").to_numpy(), dtype="datetime64[us]")
    return {t: Popular(ids[i], l90[i], l30[i]) for i, t in enumerate(times)}


def lists(
    model: Recommender,
    rows: Rows,
    popular: Popular,
    k: int,
    repeats: bool = True,
    unseen: bool = False,
) -> pa.RecordBatch:
    """The top k of each row (all of one as_of), as output rows."""
    ids, scores = model.run(rows, popular, k, repeats, unseen)
    n = len(rows)
    bought = [set(h[h != ""]) for h in rows.history]
    flat_ids = ids.reshape(-1)
    owner = np.repeat(np.arange(n), k)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.repeat(rows.customer_id, k), pa.string()),
            pa.array(np.repeat(rows.as_of, k), pa.timestamp("us")),
            pa.array(np.full(n * k, model.version), pa.int64()),
            pa.array(np.tile(np.arange(1, k + 1), n), pa.int64()),
            pa.array(flat_ids, pa.string()),
            pa.array(scores.reshape(-1).astype(np.float64), pa.float64()),
            pa.array([p in bought[o] for p, o in zip(flat_ids, owner, strict=True)]),
            pa.array(np.repeat([not b for b in bought], k), pa.bool_()),
        ],
        schema=OUTPUT,
    )


def stream(
    con: duckdb.DuckDBPyConnection,
    model: Recommender,
    sql: str,
    popular: dict,
    k: int,
    repeats: bool,
    unseen: bool,
) -> Iterator[pa.RecordBatch]:
    reader = con.execute(sql).fetch_record_batch(ROWS_PER_CALL * 8)
    for batch in reader:
        table = pa.Table.from_batches([batch])
        rows = rows_from_table(table, model.length, model.width)
        times = rows.as_of
        for t in np.unique(times):
            same = np.flatnonzero(times == t)
            if t not in popular:
                raise ScoringError(
                    f"marts.product_popularity has no row for as_of {t}: rebuild the marts "
                    "(`dbt build`)."
                )
            for start in range(0, len(same), ROWS_PER_CALL):
                part = rows.take(same[start : start + ROWS_PER_CALL])
                yield lists(model, part, popular[t], k, repeats, unseen)


def recommend_relations(
    session: duckdb.DuckDBPyConnection,
    name: str,
    refs: Mapping[str, duckdb.DuckDBPyRelation],
    k: int = 10,
    repeats: bool = True,
    unseen: bool = False,
) -> duckdb.DuckDBPyRelation:
    """Inside a dbt Python model: the champion's top k for every customer snapshot of `refs`
    (mart name -> `dbt.ref`), with each product's description."""
    k = check_k(k)
    model = load(champion(session, name))
    tables = {mart: f"({relation.sql_query()})" for mart, relation in refs.items()}
    popular = popular_lists(session, tables["product_popularity"], model.popular_width)
    reader_con = session.cursor()
    batches = stream(reader_con, model, snapshot_sql(tables), popular, k, repeats, unseen)
    view = f"cartcast_next_products_{name}"
    session.register(view, pa.RecordBatchReader.from_batches(OUTPUT, batches))
    log.info("%s v%s recommends with %s", name, model.version, model.provider)
    scored_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    # The model reads only a customer's `recommend_history_length` most-bought products, so a
    # product they bought beyond those can reach the list looking new: the flag is checked
    # against every purchase
    return session.sql(
        f"""
        select l.customer_id, l.as_of, '{name}' as model_name, l.model_version, l.rank,
            l.product_id, d.description, l.score,
            l.is_repeat or exists (
                select 1 from {tables["int_customer_product_days"]} as b
                where b.customer_id = l.customer_id and b.product_id = l.product_id
                    and b.first_ordered_at < l.as_of
            ) as is_repeat,
            l.is_cold_start, timestamp '{scored_at}' as scored_at
        from {view} as l
        left join {tables["int_product_descriptions"]} as d on d.product_id = l.product_id
        """
    )
