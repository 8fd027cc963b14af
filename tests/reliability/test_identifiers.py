"""Hostile names from configuration or the command line are refused before any SQL runs;
plain ones, reserved words included, are quoted and work."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from cartcast import catalog
from cartcast.features import training_set
from cartcast.warehouse import identifiers
from cartcast.warehouse.identifiers import UnsafeIdentifier
from cartcast.warehouse.paths import Warehouse
from tests.reliability.summary import TALLY

HOSTILE = [
    "x; drop table y",
    "y; --",
    'x" ; drop table y; --',
    "x'; drop table y; --",
    "x /* comment */",
    "x -- comment",
    "`y`",
    "[y]",
    "y\x00",
    "y\n; drop table y",
    "drop table y",
    "\uff59",  # fullwidth y
    "\u0443",  # Cyrillic u, looks like y
    "y\u200b",  # zero-width space
    "1y",
    "",
    "a" * 64,
]


@pytest.fixture()
def victim(tmp_path: Path) -> Warehouse:
    """A warehouse with a table `y` that an injection would drop."""
    warehouse = Warehouse.under(tmp_path)
    con = duckdb.connect(str(warehouse.duckdb_path))
    con.execute("create table y as select 42 as answer")
    con.execute("create schema marts")
    con.execute("create table marts.labels as select 'c1' as customer_id, now() as as_of, 1 as l")
    con.close()
    return warehouse


def _y_is_intact(warehouse: Warehouse) -> bool:
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        return con.execute("select answer from y").fetchall() == [(42,)]
    finally:
        con.close()


def _configured(name: str, label_mart: str, key: str, label: str) -> catalog.ModelSpec:
    """A catalog entry whose label table, join key and label column come from configuration."""
    entity = dataclasses.replace(catalog.CUSTOMER, key=key, label_mart=label_mart)
    return dataclasses.replace(catalog.get_spec("churn_90d"), name=name, entity=entity, label=label)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_refused_and_nothing_is_dropped(
    name: str, victim: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UnsafeIdentifier, match="Refused"):
        identifiers.quote(name)
    with pytest.raises(UnsafeIdentifier):
        identifiers.qualified_from_text(f"marts.{name}")
    # through a real call site: the label table of a feature service comes from configuration
    for position in range(3):
        config = ["labels", "customer_id", "l"]
        config[position] = name
        monkeypatch.setitem(catalog.MODELS, "hostile", _configured("hostile", *config))
        with pytest.raises(UnsafeIdentifier):
            training_set.label_entity_frame("hostile_v1", victim)
    assert _y_is_intact(victim)
    TALLY.add("hostile names refused")


def test_plain_names_and_reserved_words_are_quoted_and_work(victim: Warehouse) -> None:
    con = duckdb.connect(str(victim.duckdb_path))
    try:
        for name in ["order", "select", "drop", "customer_id", "_x1"]:
            quoted = identifiers.quote(name)
            con.execute(f"create table {quoted} as select 1 as {quoted}")
            assert con.execute(f"select {quoted} from {quoted}").fetchall() == [(1,)]
    finally:
        con.close()
    assert identifiers.qualified("marts", "labels") == '"marts"."labels"'
    assert _y_is_intact(victim)


def test_a_configured_service_still_reads_its_labels(victim: Warehouse, monkeypatch) -> None:
    monkeypatch.setitem(catalog.MODELS, "plain", _configured("plain", "labels", "customer_id", "l"))
    frame = training_set.label_entity_frame("plain_v1", victim)
    assert list(frame.columns) == ["customer_id", "event_timestamp", "l"] and len(frame) == 1


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=24))
def test_any_text_is_refused_or_quotes_to_exactly_that_one_name(name: str) -> None:
    try:
        quoted = identifiers.quote(name)
    except UnsafeIdentifier:
        assert not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name)
        return
    parsed = sqlglot.parse_one(f"select {quoted} from t", read="duckdb")
    (column,) = parsed.expressions
    assert isinstance(column, exp.Column) and column.name == name
