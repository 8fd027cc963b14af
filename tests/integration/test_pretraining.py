"""Pre-training on the bundled real data: time-safe (the purchase and the session encoder), and
cold-start products placed by text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch

from cartcast.pretraining.corpora import EVENTS, LINES
from cartcast.pretraining.pretrain import PretrainConfig, pretrain
from cartcast.training import preprocess as pp
from cartcast.warehouse.paths import Warehouse
from tests.reliability.pipeline import copy_warehouse

CUTOFF = datetime(2011, 6, 1)
QUICK = PretrainConfig(epochs=1, stride=20)
# the clickstream holds 01:00-03:10 UTC of one day: the cut-off leaves about a third after it
SESSION_CUTOFF = datetime(2017, 11, 26, 2, 20)
SESSIONS = PretrainConfig(epochs=1, stride=5, corpus="clickstream")


@pytest.fixture(scope="module")
def before_cutoff(real_warehouse: Warehouse):
    return pretrain(real_warehouse, CUTOFF, QUICK)


def _pretrained_again_with(
    real_warehouse: Warehouse,
    tmp_path: Path,
    insert_sql: str,
    count_after_sql: str,
    cutoff: datetime,
    config: PretrainConfig,
):
    """Pre-trained again on a copy of the warehouse with `insert_sql`'s rows added, all after
    the cut-off (checked: more than 100,000 rows added, and that many at least after it)."""
    copy = copy_warehouse(real_warehouse, tmp_path / "later")
    con = duckdb.connect(str(copy.duckdb_path))
    try:
        (added,) = con.execute(insert_sql).fetchone()
        (after,) = con.execute(count_after_sql, [cutoff]).fetchone()
    finally:
        con.close()
    assert added > 100_000 and after > added
    return pretrain(copy, cutoff, config)


def _assert_same_encoder(first, second) -> None:
    assert second.vocab == first.vocab
    weights, again = first.encoder.state_dict(), second.encoder.state_dict()
    assert weights.keys() == again.keys()
    for name in weights:
        torch.testing.assert_close(weights[name], again[name], rtol=0, atol=0, msg=name)


def test_events_after_the_cutoff_change_nothing(
    real_warehouse: Warehouse, before_cutoff, tmp_path: Path
) -> None:
    # every purchase again, half a year later: new customers' histories, new products
    again = _pretrained_again_with(
        real_warehouse,
        tmp_path,
        f"insert into {LINES} select customer_id || '-later', order_id || '-later', "
        "ordered_at + interval 200 day, product_id || '-later', quantity, line_number "
        f"from {LINES}",
        f"select count(*) from {LINES} where ordered_at >= ?",
        CUTOFF,
        QUICK,
    )
    _assert_same_encoder(before_cutoff, again)
    # and so every customer's embedding at a snapshot at or before the cut-off
    con = duckdb.connect(str(real_warehouse.duckdb_path), read_only=True)
    sequences = con.execute(
        "select recent_product_ids from marts.customer_sequences where as_of <= ? limit 500",
        [CUTOFF],
    ).fetchall()
    con.close()
    index = _codes(before_cutoff, [s for (s,) in sequences])
    with torch.no_grad():
        torch.testing.assert_close(
            before_cutoff.encoder.encode_recent(index), again.encoder.encode_recent(index)
        )


def _codes(pretrained, sequences: list[list[str]]) -> torch.Tensor:
    codes = pretrained.codes()
    strings = np.array([(s + [""] * 20)[:20] for s in sequences], dtype=object)
    return torch.from_numpy(
        np.vectorize(lambda p: pp.PAD if p == "" else codes.get(p, pp.OOV), otypes=[np.int64])(
            strings
        )
    )


def test_clickstream_events_after_the_cutoff_change_no_session_encoder_weight(
    real_warehouse: Warehouse, tmp_path: Path
) -> None:
    before = pretrain(real_warehouse, SESSION_CUTOFF, SESSIONS)
    # the encoder learned the order of events: well below uniform guessing over its tokens
    assert before.history[-1]["loss"] < np.log(before.n_seen) - np.log(2)
    # every event again a day later, by new users, in new categories
    again = _pretrained_again_with(
        real_warehouse,
        tmp_path,
        # the columns named: the table has more (each event's neighbours), left null here
        f"insert into {EVENTS} (event_id, user_id, session_id, event_type, product_id, "
        "category_id, occurred_at) select event_id || '-later', user_id || '-later', "
        "session_id || '-later', event_type, product_id, category_id || '-later', "
        f"occurred_at + interval 1 day from {EVENTS}",
        f"select count(*) from {EVENTS} where occurred_at >= ?",
        SESSION_CUTOFF,
        SESSIONS,
    )
    _assert_same_encoder(before, again)
    assert before.facts == {**again.facts, "seconds": before.facts["seconds"]}
    # and so every user's encoding at a snapshot at or before the cut-off
    con = duckdb.connect(str(real_warehouse.duckdb_path), read_only=True)
    sequences = [
        s
        for (s,) in con.execute(
            "select recent_event_tokens from marts.user_event_sequences where as_of <= ? "
            "order by as_of desc, user_id limit 500",
            [SESSION_CUTOFF],
        ).fetchall()
    ]
    con.close()
    assert len(sequences) == 500
    index = _codes(before, sequences)
    # the mart's tokens are the encoder's: every event before the cut-off is in its vocabulary
    assert bool(((index > pp.OOV) | (index == pp.PAD)).all()) and bool((index > pp.OOV).any())
    with torch.no_grad():
        torch.testing.assert_close(
            before.encoder.encode_recent(index), again.encoder.encode_recent(index)
        )


def test_the_encoder_learned_next_purchases(before_cutoff) -> None:
    losses = [h["loss"] for h in before_cutoff.history]
    # uniform guessing over the catalogue costs log(n); one epoch's average (its first
    # batches included) must already be well below: perplexity more than 2x lower
    assert losses[-1] < np.log(before_cutoff.n_seen) - np.log(2)
    assert before_cutoff.facts["items_text_only"] > 100  # products first sold after June


def test_a_product_first_sold_after_the_cutoff_lands_near_its_text_neighbour(
    real_warehouse: Warehouse, before_cutoff
) -> None:
    con = duckdb.connect(str(real_warehouse.duckdb_path), read_only=True)
    text = dict(
        con.execute(
            "select product_id, embedding from marts.product_text_embeddings "
            "where embedding is not null"
        ).fetchall()
    )
    con.close()
    encoder, vocab, n_seen = before_cutoff.encoder, before_cutoff.vocab, before_cutoff.n_seen
    seen = vocab[:n_seen]
    seen_text = np.array([text.get(p, np.zeros(384)) for p in seen], dtype=np.float32)
    with torch.no_grad():
        seen_vectors = encoder.item_vectors(torch.arange(2, n_seen + 2)).numpy()
    seen_unit = seen_vectors / np.linalg.norm(seen_vectors, axis=1, keepdims=True)
    ranks = []
    for code, product in list(enumerate(vocab))[n_seen:][:200]:
        neighbour = int(np.argmax(seen_text @ np.asarray(text[product], dtype=np.float32)))
        with torch.no_grad():
            vector = encoder.item_vectors(torch.tensor([code + 2])).numpy()[0]
        similarity = seen_unit @ (vector / np.linalg.norm(vector))
        ranks.append(int((similarity > similarity[neighbour]).sum()))
    # the text neighbour is among the closest 5% of the catalogue for most new products
    assert np.median(ranks) < 0.05 * n_seen, np.median(ranks)


def test_dbt_writes_customer_embeddings_with_the_encoders_onnx_file(
    scored_warehouse: Warehouse,
) -> None:
    from cartcast.pretraining.embeddings import newest_encoder

    pretrained, _ = newest_encoder(scored_warehouse)
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        (rows, sequences) = con.execute(
            "select (select count(*) from marts.customer_embeddings), "
            "(select count(*) from marts.customer_sequences)"
        ).fetchone()
        sample = con.execute(
            "select s.recent_product_ids, e.embedding, e.encoder_cutoff "
            "from marts.customer_sequences s join marts.customer_embeddings e "
            "using (customer_id, as_of) order by customer_id, as_of limit 300"
        ).fetchall()
    finally:
        con.close()
    assert rows == sequences > 0
    codes = pretrained.codes()
    length = pretrained.config.length
    index = torch.tensor(
        [[codes.get(p, pp.OOV) for p in s[:length]] + [pp.PAD] * (length - len(s[:length]))
         for s, _, _ in sample]
    )  # fmt: skip
    with torch.no_grad():
        expected = pretrained.encoder.encode_recent(index).numpy()
    got = np.array([e for _, e, _ in sample], dtype=np.float32)
    assert np.abs(got - expected).max() <= 1e-5
    assert {c for _, _, c in sample} == {pretrained.cutoff}


def test_feast_serves_the_embeddings_mart_once_dbt_wrote_it(
    scored_warehouse: Warehouse, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from cartcast import catalog
    from cartcast.features import store as feature_store
    from cartcast.features.online import online_lookup
    from cartcast.warehouse.dbt_contract import mart_columns

    # the Parquet Feast reads holds the contract's columns, the embedding as a list of floats
    schema = pq.read_schema(scored_warehouse.parquet_dir / "customer_embeddings.parquet")
    assert schema.names == [c.name for c in mart_columns("customer_embeddings")]
    assert str(schema.field("embedding").type.value_type) == "float"
    store = feature_store.get_store(scored_warehouse)
    view = store.get_feature_view(catalog.EMBEDDINGS.name)
    assert [f.name for f in view.features] == ["embedding", "encoder_cutoff", "encoder"]

    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        customer, as_of, embedding, encoder = con.execute(
            "select customer_id, as_of, embedding, encoder from marts.customer_embeddings "
            "where as_of = (select max(as_of) from marts.customer_embeddings) "
            "order by customer_id limit 1"
        ).fetchone()
    finally:
        con.close()
    feature_store.materialize(scored_warehouse, feature_views=[catalog.EMBEDDINGS.name])
    found = online_lookup(
        customer=customer,
        service=catalog.EMBEDDINGS_SERVICE,
        warehouse=scored_warehouse,
        now=as_of,
    )
    assert found.values["encoder"] == encoder
    assert np.allclose(found.values["embedding"], embedding, rtol=0, atol=1e-7)


def test_materializing_skips_the_embeddings_until_dbt_wrote_them(
    feast_warehouse: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from cartcast import catalog
    from cartcast.errors import FeatureStoreError
    from cartcast.features import store as feature_store

    copy = copy_warehouse(feast_warehouse, tmp_path / "fresh")
    (copy.parquet_dir / "customer_embeddings.parquet").unlink(missing_ok=True)
    said: list[str] = []
    (copy.parquet_dir / "customer_features.parquet").rename(tmp_path / "aside.parquet")
    with caplog.at_level("WARNING"):
        feature_store.apply(copy, check=False)
    # registered before dbt writes it, on purpose: Feast's warning about the file is dropped,
    # and only for that mart
    warned = [r.getMessage() for r in caplog.records if "Could not validate" in r.getMessage()]
    assert len(warned) == 1 and "customer_features.parquet" in warned[0], warned
    (tmp_path / "aside.parquet").rename(copy.parquet_dir / "customer_features.parquet")
    feature_store.materialize(copy, end=datetime(2011, 12, 10, tzinfo=UTC), echo=said.append)
    assert said == [
        f"Skipping the feature view customer_embeddings: {copy.parquet_dir}/"
        "customer_embeddings.parquet is not built yet (dbt's scoring models write it once a "
        "model is trained)"
    ]
    with pytest.raises(FeatureStoreError, match=r"customer_embeddings.*not built yet"):
        feature_store.materialize(copy, feature_views=[catalog.EMBEDDINGS.name])
