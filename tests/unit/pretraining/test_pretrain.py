"""Pre-training on a small warehouse: only what happened before the cut-off, kept and reused,
for the purchase corpus and the clickstream one."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import torch

from cartcast.errors import PretrainingError
from cartcast.pretraining import pretrain as pt
from cartcast.pretraining.corpora import LINES, event_histories, purchase_histories
from cartcast.warehouse.paths import Warehouse

CUTOFF = datetime(2011, 3, 1)
TINY = pt.PretrainConfig(length=6, dim=8, heads=2, blocks=1, epochs=2, batch_size=16, stride=2)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse.under(tmp_path)
    con = duckdb.connect(str(wh.duckdb_path))
    con.execute("create schema intermediate")
    con.execute(
        f"create table {LINES} (customer_id varchar, order_id varchar, ordered_at timestamp, "
        "product_id varchar, quantity bigint, line_number bigint)"
    )
    rows = []
    for c in range(12):
        for n in range(15):
            when = datetime(2011, 1, 1) + timedelta(days=6 * n + c)
            rows.append((f"c{c}", f"o{c}-{n}", when, f"P{(c + n) % 9}", 1, n + 1))
    con.executemany(f"insert into {LINES} values (?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return wh


def test_only_purchases_before_the_cutoff_are_read(warehouse: Warehouse) -> None:
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    histories = purchase_histories(con, CUTOFF)
    con.close()
    assert histories["c0"] == [f"P{n % 9}" for n in range(15) if 6 * n < 59]
    assert all(len(h) < 15 for h in histories.values())


def test_pretraining_is_kept_and_reused_and_reproducible(warehouse: Warehouse) -> None:
    said: list[str] = []
    first = pt.pretrained_for(warehouse, CUTOFF, TINY, echo=said.append)
    assert len(said) == 1 and "pre-trained the behaviour encoder" in said[0]
    folder = pt.folder_for(warehouse, CUTOFF, TINY.seed)
    assert (folder / "encoder.pt").exists() and (folder / "encoder.json").exists()
    kept = pt.pretrained_for(warehouse, CUTOFF, TINY, echo=said.append)
    assert len(said) == 1  # reused, not pre-trained again
    assert kept.vocab == first.vocab and kept.cutoff == CUTOFF
    for name, value in first.encoder.state_dict().items():
        torch.testing.assert_close(kept.encoder.state_dict()[name], value, rtol=0, atol=0)
    again = pt.pretrain(warehouse, CUTOFF, TINY)
    for name, value in first.encoder.state_dict().items():
        torch.testing.assert_close(again.encoder.state_dict()[name], value, rtol=0, atol=0)
    other = pt.pretrained_for(warehouse, CUTOFF, TINY.__class__(**{**TINY.__dict__, "epochs": 1}))
    assert len(other.history) == 1  # other settings: pre-trained again


def test_no_purchase_before_the_cutoff_is_a_clear_error(warehouse: Warehouse) -> None:
    with pytest.raises(
        PretrainingError,
        match=r"No purchases in .+ before 2010-01-01",
    ):
        pt.pretrain(warehouse, datetime(2010, 1, 1), TINY)


def test_a_warehouse_without_sequences_says_to_build(tmp_path: Path) -> None:
    wh = Warehouse.under(tmp_path)
    duckdb.connect(str(wh.duckdb_path)).close()
    with pytest.raises(PretrainingError, match="run `dbt build` first"):
        pt.pretrain(wh, CUTOFF, TINY)


@pytest.fixture()
def clickstream(warehouse: Warehouse) -> Warehouse:
    """Twelve users' events in the table the session encoder reads, one a minute, with a tie
    in time for user u0 (ordered by event key) and a missing category."""
    con = duckdb.connect(str(warehouse.duckdb_path))
    con.execute(
        "create table intermediate.int_events_sessionized (event_id varchar, user_id varchar, "
        "session_id varchar, event_type varchar, product_id varchar, category_id varchar, "
        "occurred_at timestamp)"
    )
    start = datetime(2017, 11, 26, 1)
    rows = []
    for u in range(12):
        for n in range(10):
            kind = ("view", "cart", "view", "purchase")[(u + n) % 4]
            rows.append(
                (f"e{u}-{n:02d}", f"u{u}", None, kind, f"i{n}", f"c{(u * n) % 5}",
                 start + timedelta(minutes=n))
            )  # fmt: skip
    rows.append(("e0-00b", "u0", None, "cart", "i9", None, start))
    con.executemany(
        "insert into intermediate.int_events_sessionized values (?, ?, ?, ?, ?, ?, ?)", rows
    )
    con.close()
    return warehouse


def test_the_clickstream_corpus_reads_event_tokens_before_the_cutoff_in_time_order(
    clickstream: Warehouse,
) -> None:
    con = duckdb.connect(str(clickstream.duckdb_path), read_only=True)
    histories = event_histories(con, datetime(2017, 11, 26, 1, 3))
    con.close()
    # minutes 0, 1, 2 only; at minute 0 the event keys e0-00 < e0-00b decide the order
    assert histories["u0"] == ["view:c0", "cart:", "cart:c0", "view:c0"]
    assert histories["u1"] == ["cart:c0", "view:c1", "purchase:c2"]


def test_the_session_encoder_is_kept_apart_from_the_purchase_encoder(
    clickstream: Warehouse,
) -> None:
    said: list[str] = []
    sessions = pt.PretrainConfig(**{**TINY.__dict__, "corpus": "clickstream"})
    cutoff = datetime(2017, 11, 26, 1, 8)
    encoder = pt.pretrained_for(clickstream, cutoff, sessions, echo=said.append)
    assert "pre-trained the session encoder on" in said[0] and "12 users" in said[0]
    assert set(encoder.vocab[: encoder.n_seen]) <= {
        f"{k}:{c}" for k in ("view", "cart", "purchase") for c in ("", "c0", "c1", "c2", "c3", "c4")
    }
    folder = pt.folder_for(clickstream, cutoff, TINY.seed, "clickstream")
    assert folder.name.startswith("clickstream-") and pt.corpus_of(folder) == "clickstream"
    purchases = pt.pretrained_for(clickstream, CUTOFF, TINY, echo=said.append)
    assert pt.corpus_of(pt.folder_for(clickstream, CUTOFF, TINY.seed)) == "purchases"
    assert purchases.vocab != encoder.vocab
    # a second call finds the kept session encoder rather than the purchase one
    again = pt.pretrained_for(clickstream, cutoff, sessions, echo=said.append)
    assert len(said) == 2 and again.vocab == encoder.vocab


def test_an_unknown_corpus_is_a_clear_error(warehouse: Warehouse) -> None:
    with pytest.raises(PretrainingError, match="Unknown pre-training corpus 'orders'"):
        pt.pretrain(warehouse, CUTOFF, pt.PretrainConfig(corpus="orders"))
