"""The product text table dbt builds: full, then incremental (only what changed is encoded)."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from cartcast.pretraining import text_table
from cartcast.pretraining.text import shared_encoder


@pytest.fixture()
def con():
    con = duckdb.connect()
    yield con
    con.close()


def descriptions(con, rows):
    values = ", ".join(f"('{p}', {'null' if d is None else repr(d)})" for p, d in rows)
    return con.sql(f"select * from (values {values}) t(product_id, description)")


def test_a_full_build_encodes_every_product_and_explains_nulls(con) -> None:
    rows = [("A", "WHITE HEART"), ("B", None), ("C", "   "), ("D", "RED HEART")]
    table = text_table.embed_descriptions(descriptions(con, rows), None)
    assert table.column("product_id").to_pylist() == ["A", "B", "C", "D"]
    assert table.column("null_reason").to_pylist() == [
        None,
        "no_description",
        "empty_description",
        None,
    ]
    embeddings = table.column("embedding").to_pylist()
    assert embeddings[1] is None and embeddings[2] is None
    expected = shared_encoder().encode(["WHITE HEART"])[0]
    np.testing.assert_allclose(embeddings[0], expected, atol=1e-6)
    con.register("built", table)
    assert con.sql("select typeof(embedding) from built limit 1").fetchone()[0] == "FLOAT[384]"


def test_an_incremental_build_encodes_only_new_and_changed_descriptions(con) -> None:
    first = text_table.embed_descriptions(descriptions(con, [("A", "X1"), ("B", "X2")]), None)
    con.register("existing", first)
    again = text_table.embed_descriptions(
        descriptions(con, [("A", "X1"), ("B", "X2 NEW"), ("C", "X3")]),
        con.sql("select * from existing"),
    )
    assert again.column("product_id").to_pylist() == ["B", "C"]
    assert again.column("description").to_pylist() == ["X2 NEW", "X3"]


def test_a_new_encoder_version_encodes_everything_again(con) -> None:
    first = text_table.embed_descriptions(descriptions(con, [("A", "X1")]), None)
    con.register("existing", first)
    con.execute("create table old as select * replace ('older' as encoder_version) from existing")
    again = text_table.embed_descriptions(
        descriptions(con, [("A", "X1")]), con.sql("select * from old")
    )
    assert again.column("product_id").to_pylist() == ["A"]
