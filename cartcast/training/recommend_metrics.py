"""How good a list of products is, and the lists a recommender must beat.

One protocol for the model and every baseline: for each customer snapshot with a purchase in
the window after `as_of`, the top k against the products bought in that window. HR@k: any of
them in the list; Recall@k: the share of them in the list; NDCG@k: hits discounted by rank
against the best possible list. The same on products new to the customer (bought in the window
but never before `as_of`), over the snapshots that have any.

Baselines: the shop's best sellers of the trailing 90 days (popularity); the customer's own
most-bought products, topped up by best sellers (repeat); products bought in the same orders as
the customer's own (item-to-item co-purchase, counted on orders before the cut-off).
"""

from __future__ import annotations

import numpy as np

from cartcast.features.recommend_rows import Popular, Rows

K = 10
POPULARITY = "popularity (trailing 90 days)"
REPEAT = "repeat (own most-bought, then popular)"
CO_PURCHASE = "item-to-item co-purchase"


def per_row(
    lists: np.ndarray, truths: list[frozenset[str]], k: int = K
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(hit, recall, ndcg, kept) per row with any bought product; `kept` indexes those rows."""
    discounts = 1 / np.log2(np.arange(2, k + 2))
    hr, recall, ndcg, kept = [], [], [], []
    for r, (ranked, truth) in enumerate(zip(lists, truths, strict=True)):
        if not truth:
            continue
        hits = np.array([p in truth for p in ranked[:k]], dtype=float)
        hr.append(float(hits.any()))
        recall.append(hits.sum() / len(truth))
        ndcg.append((hits * discounts[: len(hits)]).sum() / discounts[: min(len(truth), k)].sum())
        kept.append(r)
    return np.array(hr), np.array(recall), np.array(ndcg), np.array(kept, dtype=np.int64)


def ranking(lists: np.ndarray, truths: list[frozenset[str]], k: int = K) -> dict[str, float]:
    """HR@k, Recall@k and NDCG@k of (rows, >= k) lists against each row's bought products."""
    hr, recall, ndcg, kept = per_row(lists, truths, k)
    if not len(kept):
        return {"hr": float("nan"), "recall": float("nan"), "ndcg": float("nan"), "rows": 0}
    return {
        "hr": float(hr.mean()),
        "recall": float(recall.mean()),
        "ndcg": float(ndcg.mean()),
        "rows": len(kept),
    }


def evaluate(lists: np.ndarray, rows: Rows, k: int = K) -> dict[str, float]:
    """`ranking` on all bought products, and (`new_*`) on those new to the customer."""
    truths = rows.bought or []
    new = [t - rows.bought_before(r) for r, t in enumerate(truths)]
    fresh = ranking(lists, new, k)
    out = {f"{name}_at_{k}": value for name, value in ranking(lists, truths, k).items()}
    out.update({f"new_{name}_at_{k}": value for name, value in fresh.items()})
    out["rows"] = out.pop(f"rows_at_{k}")
    out["new_rows"] = out.pop(f"new_rows_at_{k}")
    return out


def popularity_lists(rows: Rows, popular: dict, k: int = K) -> np.ndarray:
    return np.stack([popular[t].product_ids[:k] for t in rows.as_of])


def top_up(chosen: list[str], best_sellers: np.ndarray, k: int, skip=frozenset()) -> list[str]:
    """`chosen` filled to k with best sellers not in it (nor in `skip`), in their order."""
    out = list(chosen[:k])
    taken = set(out) | set(skip)
    for p in best_sellers:
        if len(out) >= k:
            break
        if p != "" and p not in taken:
            out.append(p)
            taken.add(p)
    return out


def repeat_lists(rows: Rows, popular: dict, k: int = K) -> np.ndarray:
    """Most-bought first (the history's own order: most orders, then most recent), then best
    sellers the customer has not bought."""
    out = np.full((len(rows), k), "", dtype=object)
    for r in range(len(rows)):
        own = top_up([p for p in rows.history[r] if p != ""], popular[rows.as_of[r]].product_ids, k)
        out[r, : len(own)] = own
    return out


class CoPurchase:
    """Item-to-item: how often two products share an order (orders before a cut-off), from
    `recommend_rows.co_purchase_counts`."""

    def __init__(self, products: list[str], counts: np.ndarray) -> None:
        self.counts = counts
        self.index = {p: i for i, p in enumerate(products)}
        self.products = np.asarray(products, dtype=object)

    def lists(self, rows: Rows, popular: dict, k: int = K) -> np.ndarray:
        out = np.full((len(rows), k), "", dtype=object)
        for r in range(len(rows)):
            index = [self.index[p] for p in rows.history[r] if p in self.index]
            weights = np.log1p(rows.orders[r][: len(rows.history[r])])
            own = [w for p, w in zip(rows.history[r], weights, strict=True) if p in self.index]
            chosen: list[str] = []
            if index:
                score = np.asarray(own, dtype=np.float32) @ self.counts[index]
                best = np.argsort(-score, kind="stable")[:k]
                chosen = [self.products[i] for i in best if score[i] > 0]
            chosen = top_up(chosen, popular[rows.as_of[r]].product_ids, k)
            out[r, : len(chosen)] = chosen
        return out


def baseline_lists(
    rows: Rows,
    popular: dict[np.datetime64, Popular],
    co_purchase: tuple[list[str], np.ndarray],
    k: int = K,
) -> dict[str, np.ndarray]:
    """Every baseline's lists; `co_purchase`: the counts before the cut-off (the recommender's
    own, `Prepared.co_purchase`, so they are counted once)."""
    return {
        POPULARITY: popularity_lists(rows, popular, k),
        REPEAT: repeat_lists(rows, popular, k),
        CO_PURCHASE: CoPurchase(*co_purchase).lists(rows, popular, k),
    }
