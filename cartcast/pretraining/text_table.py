"""The rows of `intermediate.int_product_text_embeddings`, built by dbt (a Python model).

Incremental: a product is encoded again only when it is new, its description changed or the
encoder changed; the rest keep their vectors. A product without usable text gets a null
embedding and the reason (`no_description`, `empty_description`, `no_letters_or_digits`).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cartcast.pretraining.text import DIM, ENCODER_NAME, clean, shared_encoder

SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("description", pa.string()),
        ("embedding", pa.list_(pa.float32(), DIM)),
        ("null_reason", pa.string()),
        ("encoder", pa.string()),
        ("encoder_version", pa.string()),
    ]
)


def embed_descriptions(
    descriptions: duckdb.DuckDBPyRelation, existing: duckdb.DuckDBPyRelation | None
) -> pa.Table:
    """Rows to write: every product on a full build, the changed ones on an incremental one."""
    wanted = descriptions.select("product_id, description").fetch_arrow_table()
    done = (
        existing.select("product_id, description, encoder_version").fetchall()
        if existing is not None
        else []
    )
    return embed_rows(wanted, done)


def embed_rows(wanted: pa.Table, done: list[tuple[str, str, str]]) -> pa.Table:
    """The rows of `wanted` (product_id, description) whose (product, description, encoder
    version) is not in `done`, each with its vector (or a null and the reason)."""
    encoder = shared_encoder()
    products = wanted.column("product_id").to_pylist()
    texts = wanted.column("description").to_pylist()
    if done:
        kept = {(p, d) for p, d, v in done if v == encoder.version}
        keep = [i for i, pd in enumerate(zip(products, texts, strict=True)) if pd not in kept]
        products = [products[i] for i in keep]
        texts = [texts[i] for i in keep]
    cleaned = [clean(t) for t in texts]
    to_encode = [i for i, (text, _) in enumerate(cleaned) if text is not None]
    vectors = np.zeros((len(products), DIM), dtype=np.float32)
    if to_encode:
        vectors[to_encode] = encoder.encode([cleaned[i][0] for i in to_encode])
    # fixed-size lists over one flat buffer (no per-row Python lists of 384 floats)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)
    no_text = pa.array([text is None for text, _ in cleaned], pa.bool_())
    embedding = pc.if_else(no_text, pa.nulls(len(products), embedding.type), embedding)
    return pa.table(
        [
            pa.array(products, pa.string()),
            pa.array(texts, pa.string()),
            embedding,
            pa.array([reason for _, reason in cleaned], pa.string()),
            pa.array([ENCODER_NAME] * len(products), pa.string()),
            pa.array([encoder.version] * len(products), pa.string()),
        ],
        schema=SCHEMA,
    )
