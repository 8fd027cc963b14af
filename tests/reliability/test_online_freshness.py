"""Online features carry their event time and age; scoring refuses rows older than the
feature view's TTL at the caller's clock (Feast's online read returns them whatever their
age), or with `allow_stale` scores them and says so."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.errors import StaleFeatures
from cartcast.features import store as feature_store
from cartcast.features.online import online_lookup
from scoring.online import open_model, predict_one
from tests.reliability.pipeline import SALT_ENV
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

MODEL = "churn_90d"  # two feature views (customer_features, customer_sequences), TTL 8 days


@pytest.fixture(scope="module")
def newest(pipeline) -> tuple:
    """A customer of the newest snapshot, that snapshot's time and the warehouse."""
    warehouse, _ = pipeline
    ((customer, as_of),) = fetch(
        warehouse,
        "select customer_id, as_of from marts.customer_features "
        "where as_of = (select max(as_of) from marts.customer_features) "
        "order by customer_id limit 1",
    )
    return warehouse, customer, as_of.replace(tzinfo=UTC)


def test_lookups_report_each_views_event_time_and_age(newest) -> None:
    warehouse, customer, as_of = newest
    now = as_of + timedelta(days=3, hours=2)
    found = online_lookup(customer=customer, warehouse=warehouse, now=now)
    by_view = {f.view: f for f in found.freshness}
    # the purchase service spans both customer views; each row is the newest snapshot's
    assert set(by_view) == {"customer_features", "customer_sequences"}
    for view in by_view.values():
        assert view.event_time == as_of
        assert view.age == timedelta(days=3, hours=2)
        assert view.ttl == timedelta(days=8) and not view.stale
    assert not found.stale


def test_scoring_refuses_features_older_than_the_ttl(newest) -> None:
    warehouse, customer, as_of = newest
    store = feature_store.get_store(warehouse)
    model = open_model(warehouse, MODEL)
    fresh = predict_one(customer, model, store, warehouse, now=as_of + timedelta(days=7))
    with pytest.raises(StaleFeatures) as caught:
        predict_one(customer, model, store, warehouse, now=as_of + timedelta(days=9))
    message = str(caught.value)
    assert "customer_features" in message and "STALE" in message
    assert f"event time {as_of:%Y-%m-%d %H:%M:%S}" in message and "age 9.0 days" in message
    assert "--now" in message and "--allow-stale" in message
    # the wall clock (the default) is years past the bundled data
    with pytest.raises(StaleFeatures):
        predict_one(customer, model, store, warehouse)
    warned = predict_one(
        customer, model, store, warehouse, now=as_of + timedelta(days=9), allow_stale=True
    )
    # every view of the model's service is past its TTL, and each is named
    assert [v.view for v in warned.stale] == ["customer_features", "customer_sequences"]
    assert warned.score == fresh.score
    TALLY.add("stale online reads refused", 2)


def test_predict_command_refuses_or_warns(newest, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse, customer, as_of = newest
    for key, value in {**warehouse.env(), **SALT_ENV}.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    late = (as_of + timedelta(days=30)).isoformat()
    args = ["predict", "--customer", customer, "--model", MODEL]
    refused = runner.invoke(app, [*args, "--now", late])
    assert refused.exit_code == 1 and "older than their TTL" in refused.output
    warned = runner.invoke(app, [*args, "--now", late, "--allow-stale"])
    assert warned.exit_code == 0 and "warning: stale features, customer_features" in warned.output
    fresh = runner.invoke(app, [*args, "--now", as_of.isoformat(), "--show-features"])
    assert fresh.exit_code == 0 and "warning" not in fresh.output
    assert "customer_features: event time" in fresh.output and ": fresh" in fresh.output
