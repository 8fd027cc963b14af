"""Next-product recommendations on the bundled real data: the recommender's candidates against
popularity, repeat and co-purchase, one protocol, the same split and seed for every row.

Protocol (the training's validation table): weekly snapshots from the cut-off (2011-08-01) to
the last whose 30 days have passed; for each customer snapshot with a purchase history and a
purchase in the next 30 days, the top 10 against the products bought in those 30 days: HR@10,
Recall@10, NDCG@10; and HR@10 on products new to the customer, each list then leaving out
what the customer already bought. The recommender is fitted on training snapshots whose
window ends by the cut-off; the champion is chosen on the last training weeks, not here.
Differences to repeat come with a 95% interval from a paired bootstrap over customers.

Leave-the-last-basket-out, for comparison with published next-basket work: each customer whose
last order falls after the cut-off, their newest snapshot before it, and that order's products
as the truth.

Also: the time to write every snapshot's list (`dbt build --select next_products` on the
warehouse, the scoring path itself), when `--time-scoring` is given.

    .venv/bin/python bench/recommend.py            # the warehouse of `make demo`
    .venv/bin/python bench/recommend.py --quick    # the repeat-aware mix only, 1 epoch

Last line: RESULT recommend hr10_model=.. hr10_repeat=.. recall10_model=.. recall10_repeat=..
ndcg10_model=.. ndcg10_repeat=.. ratio=<recall10_model/recall10_repeat>
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CUTOFF = datetime(2011, 8, 1)
K = 10


def bootstrap(customers: np.ndarray, a: np.ndarray, b: np.ndarray, draws: int, seed: int):
    """mean(b) - mean(a) over rows and a 95% interval, resampling customers (paired)."""
    rng = np.random.default_rng(seed)
    uniques, codes = np.unique(customers, return_inverse=True)
    sums_a = np.bincount(codes, weights=a, minlength=len(uniques))
    sums_b = np.bincount(codes, weights=b, minlength=len(uniques))
    counts = np.bincount(codes, minlength=len(uniques))
    diffs = []
    for _ in range(draws):
        pick = rng.integers(0, len(uniques), len(uniques))
        n = counts[pick].sum()
        diffs.append((sums_b[pick].sum() - sums_a[pick].sum()) / n)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(b.mean() - a.mean()), float(low), float(high)


def last_baskets(con, spec, cutoff: datetime, length: int, width: int):
    """Rows at each customer's newest snapshot before their last order (after the cut-off),
    with that order's products as `bought`."""
    from cartcast.features import recommend_rows as data

    table = con.execute(
        f"""
        with last_orders as (
            select customer_id, max(ordered_at) as ordered_at
            from {data.LINES} group by customer_id having max(ordered_at) >= ?
        ),
        basket as (
            select l.customer_id, l.ordered_at, list(distinct l.product_id) as bought
            from {data.LINES} as l
            inner join last_orders using (customer_id, ordered_at)
            group by l.customer_id, l.ordered_at
        ),
        snapshot as (
            select b.customer_id, max(h.as_of) as as_of, any_value(b.bought) as bought
            from basket as b
            inner join marts.customer_product_history as h
                on h.customer_id = b.customer_id and h.as_of <= b.ordered_at
            group by b.customer_id
        )
        select s.customer_id, s.as_of, q.{spec.sequence},
            {", ".join(f"h.{c}" for c in data.HISTORY_COLUMNS)}, h.orders_before, s.bought
        from snapshot as s
        inner join marts.customer_sequences as q using (customer_id, as_of)
        inner join marts.customer_product_history as h using (customer_id, as_of)
        order by s.as_of, s.customer_id
        """,
        [cutoff],
    ).to_arrow_table()
    rows = data.rows_from_table(table, length, width)
    rows.bought = [frozenset(b) for b in table.column("bought").to_pylist()]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=None, help="bootstrap draws (300; quick 100)")
    parser.add_argument(
        "--time-scoring", action="store_true", help="also time `dbt build --select next_products`"
    )
    args = parser.parse_args()
    draws = args.draws or (100 if args.quick else 300)

    import torch

    from cartcast.catalog import get_recommender
    from cartcast.pretraining.pretrain import PretrainConfig
    from cartcast.training import recommend_metrics as rm
    from cartcast.training import recommender as rec
    from cartcast.training import train_recommender as tr
    from cartcast.warehouse.connection import connect
    from cartcast.warehouse.paths import Warehouse

    torch.set_num_threads(max(1, torch.get_num_threads()))
    warehouse = Warehouse.from_env()
    if not warehouse.duckdb_path.exists():
        sys.exit(f"No warehouse at {warehouse.duckdb_path}: run `make demo` first.")
    spec = get_recommender("next_products")
    options = tr.RecommenderOptions(seed=args.seed, cutoff=CUTOFF, quick=args.quick)
    config = PretrainConfig(seed=args.seed, epochs=1 if args.quick else PretrainConfig().epochs)
    started = time.perf_counter()
    known = tr.catalogue_for(warehouse, CUTOFF, options, config, echo=print)
    vocab, n_seen, encoder = known.vocab, known.n_seen, known.encoder
    prepared = tr.prepare(spec, warehouse, options, config.length)
    coder = rec.Coder(vocab)
    print(
        f"training snapshots {prepared.train_window[0]:%Y-%m-%d} .. "
        f"{prepared.train_window[1]:%Y-%m-%d}: {len(prepared.train):,} customer snapshots with "
        f"a purchase in the next 30 days; validation {prepared.valid_window[0]:%Y-%m-%d} .. "
        f"{prepared.valid_window[1]:%Y-%m-%d}: {len(prepared.valid):,}"
    )
    models, _, champion, _ = tr.fit_candidates(prepared, options, coder, n_seen, encoder, K)
    con = connect(warehouse, read_only=True)
    try:
        llbo = last_baskets(con, spec, prepared.cutoff, config.length, prepared.width)
    finally:
        con.close()
    counts = prepared.co_purchase[prepared.cutoff]
    baselines = rm.baseline_lists(prepared.valid, prepared.popular, counts, K)
    llbo_baselines = rm.baseline_lists(llbo, prepared.popular, counts, K)
    metrics = tr.evaluate_all(models, prepared, coder, K, baselines)
    print(f"\nvalidation, {len(prepared.valid):,} customer snapshots (seed {args.seed}):")
    print(tr.comparison_table(metrics, champion, K))

    valid = prepared.valid
    model_lists, _ = rec.top_k(models[champion], valid, prepared.popular, coder, K)
    hr_m, rec_m, ndcg_m, kept = rm.per_row(model_lists, valid.bought, K)
    hr_r, rec_r, ndcg_r, _ = rm.per_row(baselines[rm.REPEAT], valid.bought, K)
    customers = valid.customer_id[kept]
    print(f"\n{champion} minus repeat, 95% interval by customer bootstrap ({draws} draws):")
    for name, a, b in (
        ("HR@10", hr_r, hr_m),
        ("Recall@10", rec_r, rec_m),
        ("NDCG@10", ndcg_r, ndcg_m),
    ):
        point, low, high = bootstrap(customers, a, b, draws, args.seed)
        print(f"  {name:<10} {point:+.4f}  [{low:+.4f}, {high:+.4f}]")

    llbo_lists, _ = rec.top_k(models[champion], llbo, prepared.popular, coder, K)
    print(
        f"\nleave the last basket out: {len(llbo):,} customers whose last order is after "
        f"{prepared.cutoff:%Y-%m-%d} (their newest snapshot before it, that order's products)"
    )
    for name, lists in {champion: llbo_lists, **llbo_baselines}.items():
        got = rm.ranking(lists, llbo.bought, K)
        print(
            f"  {name:<42} HR@10 {got['hr']:.4f}  Recall@10 {got['recall']:.4f}  "
            f"NDCG@10 {got['ndcg']:.4f}"
        )
    print(f"\nfitting and evaluating took {time.perf_counter() - started:.0f} s")

    if args.time_scoring:
        from cartcast.warehouse.dbt_runner import run_dbt

        began = time.perf_counter()
        run_dbt(["build", "--select", "next_products"], warehouse)
        (rows,) = (
            connect(warehouse, read_only=True)
            .execute("select count(distinct (customer_id, as_of)) from predictions.next_products")
            .fetchone()
        )
        print(
            f"dbt build --select next_products: {rows:,} customer snapshots listed in "
            f"{time.perf_counter() - began:.0f} s (tests included)"
        )

    model, repeat = metrics[champion], metrics[rm.REPEAT]
    print(
        f"RESULT recommend hr10_model={model['hr_at_10']:.4f} hr10_repeat={repeat['hr_at_10']:.4f} "
        f"recall10_model={model['recall_at_10']:.4f} recall10_repeat={repeat['recall_at_10']:.4f} "
        f"ndcg10_model={model['ndcg_at_10']:.4f} ndcg10_repeat={repeat['ndcg_at_10']:.4f} "
        f"ratio={model['recall_at_10'] / repeat['recall_at_10']:.3f}"
    )


if __name__ == "__main__":
    main()
