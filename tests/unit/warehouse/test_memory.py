"""DuckDB's memory cap for the dbt builds: sizes pass through, shares of RAM become sizes, and a
value DuckDB would reject stops with the variable's name, checked on a real connection."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cartcast.errors import WarehouseError
from cartcast.warehouse import memory

GIB = 2**30


def test_a_size_is_passed_to_duckdb_as_given() -> None:
    assert memory.memory_limit("12GB", total=24 * GIB) == "12GB"
    assert memory.memory_limit(" 512MiB ", total=24 * GIB) == "512MiB"


def test_no_setting_is_the_default_share_of_memory() -> None:
    assert memory.memory_limit("", total=24 * GIB) == f"{int(24 * 1024 * memory.DEFAULT_SHARE)}MiB"
    assert memory.memory_limit(None, total=8 * GIB) == f"{int(8 * 1024 * memory.DEFAULT_SHARE)}MiB"


def test_a_percentage_is_that_share_of_memory() -> None:
    assert memory.memory_limit("25%", total=24 * GIB) == "6144MiB"
    assert memory.memory_limit("100%", total=2 * GIB) == "2048MiB"


def test_the_default_share_is_below_duckdbs_own_default_of_80_percent() -> None:
    con = duckdb.connect()
    con.execute("set memory_limit = ?", [memory.memory_limit("")])
    capped = con.execute("select current_setting('memory_limit')").fetchone()[0]
    own = duckdb.connect().execute("select current_setting('memory_limit')").fetchone()[0]

    def gib(text: str) -> float:
        number, unit = text.split()
        return float(number) * {"MiB": 1 / 1024, "GiB": 1.0, "TiB": 1024.0}[unit]

    assert gib(capped) < gib(own)


@pytest.mark.parametrize("bad", ["lots", "12", "12 parsecs", "0%", "150%", "x%"])
def test_a_value_duckdb_cannot_read_names_the_variable(bad: str) -> None:
    with pytest.raises(WarehouseError, match=memory.ENV_LIMIT):
        memory.memory_limit(bad, total=24 * GIB)


def test_cap_sets_the_limit_and_the_spill_folder(tmp_path: Path) -> None:
    con = duckdb.connect()
    spill = tmp_path / "spill" / "here"
    memory.cap(con, "300MB", str(spill))
    limit, temp = con.execute(
        "select current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    assert limit == "286.1 MiB"
    assert Path(temp) == spill
    assert spill.is_dir()


def test_the_machines_memory_is_read() -> None:
    assert memory.total_memory() > 256 * 2**20


# dbt's summary of a 10M-order-line build capped at 6GB (bench/spark.py), colours removed
DBT_OUT_OF_MEMORY = """\
Completed with 2 errors, 0 partial successes, and 0 warnings:

  Runtime Error in model user_event_sequences (models/marts/user_event_sequences.sql)
  Out of Memory Error: could not allocate block of size 256.0 KiB (5.5 GiB/5.5 GiB used)

  Possible solutions:
  * Increasing the memory limit (SET memory_limit='...GB')

  Runtime Error in model customer_sequences (models/marts/customer_sequences.sql)
  Out of Memory Error: failed to allocate data of size 16.0 MiB (5.5 GiB/5.5 GiB used)
"""


def test_a_build_out_of_memory_names_the_models_the_cap_and_the_variable() -> None:
    said = memory.out_of_memory(DBT_OUT_OF_MEMORY, "6GB")
    assert said is not None
    assert "user_event_sequences, customer_sequences" in said
    assert "(6GB)" in said
    assert memory.ENV_LIMIT in said


def test_other_runtime_errors_are_not_blamed_on_memory() -> None:
    other = "  Runtime Error in model customer_sequences (models/marts/x.sql)\n  Binder Error: x\n"
    assert memory.out_of_memory(other, None) is None
