"""The prediction tables: ranks and deciles per as_of, ties broken by key, and an atomic
replacement of one version's rows at the scored as_ofs."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa
import pytest

from scoring import predictions

WHEN = datetime(2026, 1, 1, 12, 0)


def scores(rows: list[tuple[str, datetime, float]]) -> pa.RecordBatchReader:
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "as_of": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "score": [r[2] for r in rows],
        }
    )
    return table.to_reader()


JAN3, JAN10 = datetime(2011, 1, 3), datetime(2011, 1, 10)


def test_rank_and_decile_within_each_as_of_ties_by_key() -> None:
    con = duckdb.connect()
    rows = [(f"c{i:02d}", JAN3, float(i // 2)) for i in range(20)] + [("z", JAN10, 0.5)]
    n = predictions.replace(con, "m", 1, "customer_id", WHEN, scores(rows), [JAN3, JAN10])
    assert n == 21
    got = con.execute(
        "select customer_id, score_rank, score_decile from predictions.m "
        "where as_of = ? order by score_rank",
        [JAN3],
    ).fetchall()
    # c18 and c19 tie at the top: the key breaks the tie, the same way on every rerun
    assert got[:3] == [("c18", 1, 1), ("c19", 2, 1), ("c16", 3, 2)]
    assert got[-1] == ("c01", 20, 10)
    alone = "select score_rank, score_decile from predictions.m where as_of = ?"
    assert con.execute(alone, [JAN10]).fetchall() == [(1, 1)]


def test_a_rerun_replaces_only_that_version_and_those_as_ofs() -> None:
    con = duckdb.connect()
    predictions.replace(con, "m", 1, "customer_id", WHEN, scores([("a", JAN3, 0.1)]), [JAN3])
    predictions.replace(con, "m", 2, "customer_id", WHEN, scores([("a", JAN3, 0.2)]), [JAN3])
    predictions.replace(con, "m", 1, "customer_id", WHEN, scores([("a", JAN10, 0.3)]), [JAN10])
    predictions.replace(con, "m", 1, "customer_id", WHEN, scores([("a", JAN3, 0.4)]), [JAN3])
    rows = con.execute(
        "select model_version, as_of, score from predictions.m order by 1, 2"
    ).fetchall()
    assert rows == [(1, JAN3, 0.4), (1, JAN10, 0.3), (2, JAN3, 0.2)]


def test_a_failing_stream_leaves_the_previous_rows() -> None:
    con = duckdb.connect()
    predictions.replace(con, "m", 1, "customer_id", WHEN, scores([("a", JAN3, 0.1)]), [JAN3])

    def broken():
        yield scores([("b", JAN3, 0.9)]).read_next_batch()
        raise RuntimeError("scoring failed half-way")

    reader = pa.RecordBatchReader.from_batches(scores([("x", JAN3, 0.0)]).schema, broken())
    with pytest.raises(Exception, match="scoring failed half-way"):
        predictions.replace(con, "m", 1, "customer_id", WHEN, reader, [JAN3])
    assert con.execute("select customer_id, score from predictions.m").fetchall() == [("a", 0.1)]
