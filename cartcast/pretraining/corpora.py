"""What a behaviour encoder is pre-trained on: one corpus per kind of sequence a model reads.

- `purchases`: every customer's merchandise purchases, in time order; items are product ids,
  with their description's text vector (`marts.product_text_embeddings`).
- `clickstream`: every clickstream user's events, in time order; items are the tokens of
  `marts.user_event_sequences` (`<event_type>:<category_id>`), without text.

The catalog names a model's corpus (`ModelSpec.corpus`); each corpus reads only what happened
strictly before the cut-off, so pre-training stays time-safe whatever the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from cartcast.errors import PretrainingError

LINES = "intermediate.int_merchandise_lines_sequenced"
EVENTS = "intermediate.int_events_sessionized"
TEXT = "marts.product_text_embeddings"


def naive_utc(moment) -> datetime:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def purchase_histories(con: duckdb.DuckDBPyConnection, before: datetime) -> dict[str, list[str]]:
    """Every customer's merchandise purchases strictly before `before`, oldest first."""
    rows = con.execute(
        f"select customer_id, list(product_id order by line_number) from {LINES} "
        "where ordered_at < ? group by customer_id order by customer_id",
        [naive_utc(before)],
    ).fetchall()
    return {customer: products for customer, products in rows}


def event_histories(con: duckdb.DuckDBPyConnection, before: datetime) -> dict[str, list[str]]:
    """Every clickstream user's events strictly before `before`, oldest first, as the tokens
    of `marts.user_event_sequences` (ties in time ordered by event key, as there)."""
    rows = con.execute(
        "select user_id, list(event_type || ':' || coalesce(category_id, '') "
        f"order by occurred_at, event_id) from {EVENTS} "
        "where occurred_at < ? group by user_id order by user_id",
        [naive_utc(before)],
    ).fetchall()
    return {user: tokens for user, tokens in rows}


def product_text_vectors(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Product text vectors from `marts.product_text_embeddings` (empty if not built)."""
    try:
        rows = con.execute(
            f"select product_id, embedding from {TEXT} where embedding is not null"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    return {p: np.asarray(v, dtype=np.float32) for p, v in rows}


def no_text(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    return {}


@dataclass(frozen=True)
class Corpus:
    name: str
    # words for messages: "purchases of customers", "products"
    events: str
    entities: str
    items: str
    # the table the histories come from (named when it is missing)
    table: str
    histories: Callable[[duckdb.DuckDBPyConnection, datetime], dict[str, list[str]]]
    text_vectors: Callable[[duckdb.DuckDBPyConnection], dict[str, np.ndarray]]
    # what the encoder is called in messages
    encoder: str


CORPORA: dict[str, Corpus] = {
    c.name: c
    for c in (
        Corpus(
            "purchases",
            "purchases",
            "customers",
            "products",
            LINES,
            purchase_histories,
            product_text_vectors,
            "behaviour encoder",
        ),
        Corpus(
            "clickstream",
            "events",
            "users",
            "event tokens",
            EVENTS,
            event_histories,
            no_text,
            "session encoder",
        ),
    )
}


def get_corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise PretrainingError(
            f"Unknown pre-training corpus {name!r}; known: {sorted(CORPORA)}. Name one of them "
            "as the model's `corpus` in cartcast/catalog.py."
        )
    return CORPORA[name]
