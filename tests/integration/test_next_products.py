"""Next-product lists on the real data: the tables `dbt build` writes, the monitoring table
against the training code's own evaluation, and the champion against the repeat baseline."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from cartcast.catalog import get_recommender
from cartcast.features import recommend_rows as data
from cartcast.training import recommend_metrics
from cartcast.warehouse.paths import Warehouse

K = 10


@pytest.fixture(scope="module")
def con(scored_warehouse: Warehouse):
    connection = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    yield connection
    connection.close()


def test_every_customer_snapshot_gets_k_distinct_merchandise_products(con) -> None:
    (snapshots,) = con.execute("select count(*) from marts.customer_features").fetchone()
    listed, short, repeated = con.execute(
        f"""
        select count(*), count(*) filter (where n <> {K} or max_rank <> {K}),
            count(*) filter (where distinct_products <> n)
        from (
            select customer_id, as_of, count(*) as n, max(rank) as max_rank,
                count(distinct product_id) as distinct_products
            from predictions.next_products group by customer_id, as_of
        )
        """
    ).fetchone()
    assert listed == snapshots and short == 0 and repeated == 0
    (outside,) = con.execute(
        """
        select count(*) from (select distinct product_id from predictions.next_products)
        where product_id not in (
            select product_id from intermediate.int_merchandise_lines_sequenced)
        """
    ).fetchone()
    assert outside == 0, "a list holds a product that is not merchandise"


def test_repeat_and_cold_start_flags_match_the_history(con) -> None:
    (wrong_repeat,) = con.execute(
        """
        select count(*) from predictions.next_products as p
        where p.is_repeat <> exists (
            select 1 from intermediate.int_customer_product_days as d
            where d.customer_id = p.customer_id and d.product_id = p.product_id
              and d.last_ordered_at < p.as_of)
        """
    ).fetchone()
    assert wrong_repeat == 0
    cold, cold_with_history = con.execute(
        """
        select count(*) filter (where is_cold_start),
            count(*) filter (where is_cold_start and h.customer_id is not null)
        from predictions.next_products as p
        left join marts.customer_product_history as h using (customer_id, as_of)
        """
    ).fetchone()
    assert cold_with_history == 0
    (repeats_in_cold,) = con.execute(
        "select count(*) from predictions.next_products where is_cold_start and is_repeat"
    ).fetchone()
    assert repeats_in_cold == 0 and cold >= 0


def test_latest_view_holds_the_champion_s_newest_list_per_customer(con) -> None:
    rows, customers, versions = con.execute(
        "select count(*), count(distinct customer_id), count(distinct model_version) "
        "from predictions.next_products_latest"
    ).fetchone()
    assert versions == 1 and rows == customers * K
    (not_newest,) = con.execute(
        """
        select count(*) from predictions.next_products_latest as l
        where l.as_of < (select max(as_of) from predictions.next_products as p
                         where p.customer_id = l.customer_id)
        """
    ).fetchone()
    assert not_newest == 0


def test_monitoring_agrees_with_the_training_evaluation(con) -> None:
    """monitoring.recommendation_performance (SQL) and recommend_metrics (Python) on the same
    stored lists: the customers with a history are the same rows in both."""
    spec = get_recommender("next_products")
    times, observed = data.snapshot_times(con)
    _, _, (first, last) = data.windows(times, observed, spec.window, None)
    rows = data.load_rows(con, spec, first, last, 20, 100)
    stored = con.execute(
        "select customer_id, as_of, list(product_id order by rank) from predictions.next_products "
        "where as_of between ? and ? group by 1, 2",
        [first, last],
    ).fetchall()
    by_key = {(c, np.datetime64(a, "us")): ids for c, a, ids in stored}
    lists = np.array(
        [by_key[(c, a)] for c, a in zip(rows.customer_id, rows.as_of, strict=True)], dtype=object
    )
    python = recommend_metrics.evaluate(lists, rows, K)
    customers, hr, recall, ndcg, cold = con.execute(
        """
        select sum(customers), sum(hr_at_10 * customers) / sum(customers),
            sum(recall_at_10 * customers) / sum(customers),
            sum(ndcg_at_10 * customers) / sum(customers),
            (select count(distinct (customer_id, as_of)) from predictions.next_products
             where is_cold_start and as_of between ? and ?)
        from monitoring.recommendation_performance where as_of between ? and ?
        """,
        [first, last, first, last],
    ).fetchone()
    assert python["rows"] <= customers <= python["rows"] + cold
    share = (customers - python["rows"]) / customers
    assert hr == pytest.approx(python["hr_at_10"], abs=share + 1e-9)
    assert recall == pytest.approx(python["recall_at_10"], abs=share + 1e-9)
    assert ndcg == pytest.approx(python["ndcg_at_10"], abs=share + 1e-9)


def test_the_champion_beats_the_repeat_baseline_on_validation(con) -> None:
    (metrics,) = con.execute(
        "select metrics from ml.model_registry where name = 'next_products' and status = 'champion'"
    ).fetchone()
    metrics = json.loads(metrics)
    model, repeat = metrics[metrics["champion"]], metrics[recommend_metrics.REPEAT]
    assert model["recall_at_10"] > repeat["recall_at_10"]
    assert model["ndcg_at_10"] > repeat["ndcg_at_10"]
    assert model["hr_at_10"] >= repeat["hr_at_10"]
    popular = metrics[recommend_metrics.POPULARITY]
    assert model["new_hr_at_10"] > popular["new_hr_at_10"]


def test_encoder_candidates_get_the_pretrained_encoder_and_its_catalogue(
    real_warehouse: Warehouse, tmp_path
) -> None:
    import shutil
    from datetime import datetime

    from cartcast.pretraining.pretrain import PretrainConfig
    from cartcast.training.train_recommender import RecommenderOptions, catalogue_for

    # a copy: the encoder is kept in the warehouse's model folder
    copy = Warehouse.under(tmp_path)
    shutil.copy(real_warehouse.duckdb_path, copy.duckdb_path)
    shutil.copytree(real_warehouse.parquet_dir, copy.parquet_dir)
    cutoff, config = datetime(2011, 6, 1), PretrainConfig(epochs=1, stride=20)

    full = catalogue_for(copy, cutoff, RecommenderOptions(), config, echo=lambda _: None)
    assert full.encoder is not None and full.pretrained is not None
    assert full.n_seen == full.pretrained.n_seen and full.vocab == full.pretrained.vocab
    # the quick run pre-trains nothing, and scores the same catalogue
    quick = catalogue_for(copy, cutoff, RecommenderOptions(quick=True), config)
    assert quick.encoder is None and quick.pretrained is None
    assert (quick.vocab, quick.n_seen) == (full.vocab, full.n_seen)
