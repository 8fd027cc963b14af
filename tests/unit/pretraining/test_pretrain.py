"""Pre-training on a small warehouse: only purchases before the cut-off, kept and reused."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import torch

from cartcast.errors import PretrainingError
from cartcast.pretraining import pretrain as pt
from cartcast.warehouse.paths import Warehouse

CUTOFF = datetime(2011, 3, 1)
TINY = pt.PretrainConfig(length=6, dim=8, heads=2, blocks=1, epochs=2, batch_size=16, stride=2)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse.under(tmp_path)
    con = duckdb.connect(str(wh.duckdb_path))
    con.execute("create schema intermediate")
    con.execute(
        f"create table {pt.LINES} (customer_id varchar, order_id varchar, ordered_at timestamp, "
        "product_id varchar, quantity bigint, line_number bigint)"
    )
    rows = []
    for c in range(12):
        for n in range(15):
            when = datetime(2011, 1, 1) + timedelta(days=6 * n + c)
            rows.append((f"c{c}", f"o{c}-{n}", when, f"P{(c + n) % 9}", 1, n + 1))
    con.executemany(f"insert into {pt.LINES} values (?, ?, ?, ?, ?, ?)", rows)
    con.close()
    return wh


def test_only_purchases_before_the_cutoff_are_read(warehouse: Warehouse) -> None:
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    histories = pt.load_histories(con, CUTOFF)
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
    with pytest.raises(PretrainingError, match="No merchandise purchase before 2010-01-01"):
        pt.pretrain(warehouse, datetime(2010, 1, 1), TINY)


def test_a_warehouse_without_sequences_says_to_build(tmp_path: Path) -> None:
    wh = Warehouse.under(tmp_path)
    duckdb.connect(str(wh.duckdb_path)).close()
    with pytest.raises(PretrainingError, match="run `dbt build` first"):
        pt.pretrain(wh, CUTOFF, TINY)
