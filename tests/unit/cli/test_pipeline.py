"""What `cartcast demo` prints about the top customers: short keys, and how to look one up."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cartcast.cli.pipeline import KEY_PREFIX, _print_top_customers
from cartcast.warehouse.paths import Warehouse


def write_latest(root: Path, ids: list[str]) -> Warehouse:
    warehouse = Warehouse.under(root)
    root.mkdir(parents=True)
    con = duckdb.connect(str(warehouse.duckdb_path))
    con.execute("create schema predictions")
    con.execute(
        "create table predictions.purchase_30d_latest (customer_id varchar, as_of timestamp, "
        "score double, score_decile integer, model_version integer)"
    )
    con.executemany(
        "insert into predictions.purchase_30d_latest values (?, '2011-12-05', ?, 1, 3)",
        [[key, 1 - i / 100] for i, key in enumerate(ids)],
    )
    con.close()
    return warehouse


def test_pseudonymized_ids_show_a_prefix_and_the_lookup_commands(tmp_path, capsys) -> None:
    keys = [f"{i:x}" * 64 for i in range(1, 4)]
    _print_top_customers(write_latest(tmp_path / "wh", [k[:64] for k in keys]), "purchase_30d")
    out = capsys.readouterr().out
    assert not any(k[:64] in out for k in keys)
    assert f"{keys[0][:KEY_PREFIX]}... 2011-12-05" in out
    assert "cartcast features key --customer 12347" in out
    assert "cartcast predict --customer 12347 --now 2011-12-05" in out
    assert all(len(line) <= 100 for line in out.splitlines()), out


def test_raw_ids_are_shown_whole(tmp_path, capsys) -> None:
    _print_top_customers(write_latest(tmp_path / "wh", ["12347", "12348"]), "purchase_30d")
    out = capsys.readouterr().out
    assert "12347" in out and "..." not in out and "pseudonymized" not in out
