"""One customer's next products online, on a stand-in Feast store and recommender: the online
rows become the batch path's arrays, unknown or history-less customers get the flagged cold
start, k and stale rows are refused, and the command line prints the list or its JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.errors import FeatureStoreError, ScoringError, StaleFeatures
from cartcast.features.recommend_rows import padded
from scoring import recommend_online
from scoring.recommend_online import OnlineRecommender, recommend_one

AS_OF = datetime(2011, 12, 5, tzinfo=UTC)
TTL = timedelta(days=8)
VIEWS = {
    "customer_sequences": ["recent_product_ids", "recent_quantities", "sequence_length"],
    "customer_product_history": [
        "history_product_ids",
        "history_orders",
        "history_days_since_last",
        "history_days_since_first",
        "history_length",
        "orders_before",
    ],
    "product_popularity": ["popular_product_ids", "popular_lines_90d", "popular_lines_30d"],
}
BEST_SELLERS = {
    "popular_product_ids": ["P1", "P2", "P3", "P4"],
    "popular_lines_90d": [90, 80, 70, 60],
    "popular_lines_30d": [30, 20, None, 10],
}
SHOPPER = {
    "recent_product_ids": ["A", "B", "A", "C"],
    "recent_quantities": [1, 2, 3, 4],
    "sequence_length": 4,
    "history_product_ids": ["A", "B", "C"],
    "history_orders": [3, 2, None],
    "history_days_since_last": [1.5, 20.25, 40.0],
    "history_days_since_first": [100.0, 50.0, 40.0],
    "history_length": 3,
    "orders_before": 5,
}


class FakeStore:
    """Feast's online read for a few entities: what `get_online_features(...).to_dict(
    include_event_timestamps=True)` answers, per view with its event time."""

    def __init__(self, rows: dict[tuple[str, str], dict], times: dict[tuple[str, str], datetime]):
        self.rows, self.times, self.calls = rows, times, []

    def get_feature_service(self, name: str):
        projections = [
            SimpleNamespace(name=view, features=[SimpleNamespace(name=f) for f in features])
            for view, features in VIEWS.items()
        ]
        return SimpleNamespace(name=name, feature_view_projections=projections)

    def get_feature_view(self, name: str):
        return SimpleNamespace(name=name, ttl=TTL)

    def get_online_features(self, features, entity_rows):
        (row,) = entity_rows
        self.calls.append(dict(row))
        answer = {key: [value] for key, value in row.items()}
        for view, names in VIEWS.items():
            entity = ("catalogue", row["catalogue_id"])
            if view != "product_popularity":
                entity = ("customer", row["customer_id"])
            found = self.rows.get((view, *entity))
            when = self.times.get((view, *entity))
            for name in names:
                answer[name] = [None if found is None else found.get(name)]
                answer[f"{name}__ts"] = [int(when.timestamp()) if found else 0]
        return SimpleNamespace(to_dict=lambda include_event_timestamps=False: answer)


class FakeModel:
    """Stands in for the ONNX recommender: records its arrays and ranks the history's products
    (most orders first), then the best sellers."""

    length, width, popular_width, version = 6, 4, 5, 3
    entry = SimpleNamespace(name="next_products", feature_service="next_products_v1")

    def __init__(self) -> None:
        self.seen = []

    def run(self, rows, popular, k, repeats, unseen):
        self.seen.append((rows, popular, k, repeats, unseen))
        order = [p for p in rows.history[0] if p != ""] if repeats else []
        order += [p for p in popular.product_ids if p != "" and p not in order]
        ids = np.array([order[:k]], dtype=object)
        return ids, np.array([np.linspace(1.0, 0.1, k)[: ids.shape[1]]], dtype=np.float32)


def store_with(customer_views=("customer_sequences", "customer_product_history"), when=AS_OF):
    rows = {("product_popularity", "catalogue", "all"): BEST_SELLERS}
    times = {("product_popularity", "catalogue", "all"): AS_OF}
    for view in customer_views:
        rows[(view, "customer", "c1")] = {n: SHOPPER[n] for n in VIEWS[view]}
        times[(view, "customer", "c1")] = when
    return FakeStore(rows, times)


@pytest.fixture()
def model() -> OnlineRecommender:
    descriptions = {"A": "RED MUG", "B": "BLUE MUG", "P1": "LANTERN"}
    return OnlineRecommender(FakeModel(), descriptions, repeats=True, unseen=False)


def test_a_known_customer_gets_the_batch_arrays_and_flags(model: OnlineRecommender) -> None:
    store = store_with()
    got = recommend_one(store, "c1", 4, AS_OF + timedelta(days=2), model=model)
    assert store.calls == [{"customer_id": "c1", "catalogue_id": "all"}]
    rows, popular, k, repeats, unseen = model.model.seen[-1]
    # the arrays `recommend_rows.padded` makes from the marts: cut, padded, nulls filled
    assert rows.recent.tolist() == [["A", "B", "A", "C", "", ""]]
    assert rows.history.tolist() == [["A", "B", "C", ""]]
    assert rows.orders.dtype == np.float32 and rows.orders.tolist() == [[3.0, 2.0, 0.0, 0.0]]
    assert rows.days_last.tolist() == [[1.5, 20.25, 40.0, 0.0]]
    assert rows.orders_before.tolist() == [5.0]
    assert popular.product_ids.tolist() == ["P1", "P2", "P3", "P4", ""]
    assert popular.lines_30d.tolist() == [30.0, 20.0, 0.0, 10.0, 0.0]
    assert (k, repeats, unseen) == (4, True, False)
    assert [i.product_id for i in got.items] == ["A", "B", "C", "P1"]
    assert [i.rank for i in got.items] == [1, 2, 3, 4]
    assert [i.is_repeat for i in got.items] == [True, True, True, False]
    assert [i.description for i in got.items] == ["RED MUG", "BLUE MUG", None, "LANTERN"]
    assert not got.cold_start and got.known_customer and got.as_of == AS_OF
    assert got.stale == [] and (got.model, got.version) == ("next_products", 3)


def test_online_padding_equals_the_batch_padding() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        size = int(rng.integers(0, 9))
        numbers = [None if rng.random() < 0.2 else int(rng.integers(0, 99)) for _ in range(size)]
        texts = [None if rng.random() < 0.2 else f"p{rng.integers(0, 99)}" for _ in range(size)]
        for values, fill, dtype in ((numbers, 0.0, np.float32), (texts, "", object)):
            column = pa.array([values], pa.list_(pa.string() if dtype is object else pa.int64()))
            expected = padded(column, 5, fill, dtype)
            got = recommend_online._padded(values, 5, fill, dtype)
            assert got.dtype == expected.dtype and got.tolist() == expected.tolist()


def test_an_unknown_customer_gets_the_flagged_cold_start(model: OnlineRecommender) -> None:
    got = recommend_one(store_with(), "nobody", 3, AS_OF + timedelta(days=1), model=model)
    rows, *_ = model.model.seen[-1]
    assert (rows.recent == "").all() and (rows.history == "").all()
    assert not rows.orders.any() and rows.orders_before.tolist() == [0.0]
    assert got.cold_start and not got.known_customer and got.as_of == AS_OF
    assert [i.product_id for i in got.items] == ["P1", "P2", "P3"]
    assert not any(i.is_repeat for i in got.items)


def test_a_customer_without_purchase_history_is_a_cold_start(model: OnlineRecommender) -> None:
    store = store_with(customer_views=("customer_sequences",))
    got = recommend_one(store, "c1", 2, AS_OF, model=model)
    assert got.cold_start and got.known_customer
    assert [i.product_id for i in got.items] == ["P1", "P2"]


@pytest.mark.parametrize("k", [0, -1, 1001])
def test_k_outside_1_to_1000_is_refused(model: OnlineRecommender, k: int) -> None:
    store = store_with()
    with pytest.raises(ScoringError, match="between 1 and 1000"):
        recommend_one(store, "c1", k, AS_OF, model=model)
    assert store.calls == []


def test_rows_older_than_their_ttl_are_refused_unless_allowed(model: OnlineRecommender) -> None:
    store = store_with(when=AS_OF - timedelta(days=7))
    now = AS_OF + timedelta(days=3)  # the customer's rows are 10 days old, the best sellers 3
    with pytest.raises(StaleFeatures) as caught:
        recommend_one(store, "c1", 2, now, model=model)
    assert "customer_product_history" in str(caught.value) and "--allow-stale" in str(caught.value)
    assert "product_popularity" not in str(caught.value)
    got = recommend_one(store, "c1", 2, now, model=model, allow_stale=True)
    assert [v.view for v in got.stale] == ["customer_sequences", "customer_product_history"]
    assert got.as_of == AS_OF - timedelta(days=7)
    # a cold start is judged on the best sellers alone
    with pytest.raises(StaleFeatures, match="product_popularity"):
        recommend_one(store, "nobody", 2, AS_OF + timedelta(days=9), model=model)


def test_no_best_sellers_online_says_what_to_run(model: OnlineRecommender) -> None:
    with pytest.raises(FeatureStoreError, match="cartcast features materialize"):
        recommend_one(FakeStore({}, {}), "c1", 2, AS_OF, model=model)


def test_list_options_follow_dbt_project_and_can_be_overridden(model) -> None:
    assert recommend_online.list_options() == (True, False)  # dbt_project.yml's vars
    got = recommend_one(store_with(), "c1", 2, AS_OF, model=model, repeats=False)
    assert model.model.seen[-1][3] is False
    assert [i.product_id for i in got.items] == ["P1", "P2"]


def test_the_answer_is_json_ready(model: OnlineRecommender) -> None:
    got = recommend_one(store_with(), "c1", 2, AS_OF + timedelta(hours=6), model=model)
    data = json.loads(json.dumps(got.to_dict()))
    assert data["items"][0] == {
        "rank": 1,
        "product_id": "A",
        "description": "RED MUG",
        "score": 1.0,
        "is_repeat": True,
    }
    assert data["as_of"] == "2011-12-05T00:00:00+00:00" and data["cold_start"] is False
    assert {f["view"]: f["age_seconds"] for f in data["freshness"]} == {
        view: 6 * 3600.0 for view in VIEWS
    }


# ---- the command line ------------------------------------------------------------------


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path, model):
    """`cartcast recommend` over a warehouse that does not exist (ids stay as given), with
    the recommender and the store stood in for."""
    monkeypatch.setenv("CARTCAST_DUCKDB", str(tmp_path / "none.duckdb"))
    monkeypatch.setattr(recommend_online, "open_recommender", lambda *a, **kw: model)
    monkeypatch.setattr(recommend_online, "cached_store", lambda warehouse: store_with())
    return CliRunner()


def test_recommend_command_prints_the_list(cli) -> None:
    result = cli.invoke(app, ["recommend", "--customer", "c1", "--k", "3", "--now", "2011-12-06"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("next_products v3 customer_id=c1 as of 2011-12-05 00:00, top 3")
    assert lines[2].split()[:4] == ["1", "A", "1.0000", "yes"] and "RED MUG" in lines[2]
    cold = cli.invoke(app, ["recommend", "--customer", "x", "-k", "1", "--now", "2011-12-06"])
    assert "cold start: not in the online store" in cold.output


def test_recommend_command_json_and_refusals(cli) -> None:
    result = cli.invoke(app, ["recommend", "--customer", "c1", "--json", "--now", "2011-12-06"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["k"] == 10 and data["customer_id"] == "c1" and len(data["items"]) == 7
    for k in ("0", "1001"):
        refused = cli.invoke(app, ["recommend", "--customer", "c1", "--k", k])
        assert refused.exit_code == 1
        assert refused.output.strip() == f"k must be between 1 and 1000, not {k}."
    stale = cli.invoke(app, ["recommend", "--customer", "c1", "--now", "2011-12-30"])
    assert stale.exit_code == 1 and "older than their TTL" in stale.output
