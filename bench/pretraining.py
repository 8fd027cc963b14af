"""What pre-training buys, measured honestly on the bundled real data.

One split for everything: validation = snapshots from the cut-off (2011-08-01), training =
earlier snapshots whose label window ends by it; the same seed for every row. The behaviour
encoder is pre-trained once, without labels, on every purchase before the cut-off.

1. The encoder's own next-item quality, before any fine-tuning: for each customer snapshot
   from the cut-off to 2011-11-07 with history and a purchase in the next 30 days, Recall@10,
   NDCG@10 and HR@10 of its top 10 against the products bought in those 30 days, beside
   trailing-90-day popularity.
2. The ablation, for purchase_30d, churn_90d (ROC-AUC) and spend_90d (normalised Gini), all
   with the same MLP learner: aggregates only; + text embeddings (the mean MiniLM vector of the
   customer's recent products, reduced to 16 dimensions by PCA fitted on training rows);
   + frozen encoder (the customer's vector as features); the fine-tuned encoder. Each with its
   difference to aggregates only and a 95% interval from a paired bootstrap over customers.
3. Few labels: 10% of the labelled training customers, purchase_30d; the fine-tuned pre-trained
   encoder against the same architecture from scratch and against aggregates only.
4. The session encoder, for intent_session (its own split: the catalog's default cut-off of
   the clickstream): pre-trained on every user's events before the cut-off, then the same
   rows as above (no text: the clickstream has none) with ROC-AUC and PR-AUC, and the few-label
   experiment with 10% of the labelled training users.

    .venv/bin/python bench/pretraining.py            # the warehouse of `make demo`
    .venv/bin/python bench/pretraining.py --quick    # 1 epoch; 100 bootstrap draws, not 300

Last line: RESULT pretraining recall10_encoder=.. recall10_popularity=.. ndcg10_encoder=..
ndcg10_popularity=.. purchase_finetuned_vs_aggregates=.. churn_finetuned_vs_aggregates=..
spend_finetuned_vs_aggregates=.. fewlabel_frozen_vs_scratch=.. fewlabel_finetuned_vs_scratch=..
intent_finetuned_vs_aggregates=.. intent_fewlabel_frozen_vs_scratch=..
intent_fewlabel_finetuned_vs_scratch=..
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CUTOFF = datetime(2011, 8, 1, tzinfo=UTC)
LAST_AS_OF = datetime(2011, 11, 7)
SEQUENCE = "recent_product_ids"
TEXT_DIMS = 16
TASKS = ("purchase_30d", "churn_90d", "spend_90d")
SESSION_TASK = "intent_session"


def frames(warehouse, store) -> dict[str, pd.DataFrame]:
    """Each task's labelled rows with the customer features and recent products (the
    purchase_30d feature service serves both marts; each task keeps its own labels)."""
    from cartcast.catalog import get_spec
    from cartcast.features.training_set import build_training_set, label_entity_frame

    service = get_spec("purchase_30d").feature_service
    out = {}
    for name in TASKS:
        spec = get_spec(name)
        entities = label_entity_frame(spec.feature_service, warehouse)
        entities = entities.rename(columns={spec.label: spec.label_column})
        out[name] = build_training_set(entities, service, store)
    return out


def text_features(split, vectors: dict[str, np.ndarray], seed: int):
    """The mean text vector of each row's recent products, PCA to 16 dims on training rows."""
    from sklearn.decomposition import PCA

    def mean_vector(products) -> np.ndarray:
        known = [vectors[p] for p in (products if products is not None else []) if p in vectors]
        return np.mean(known, axis=0) if known else np.zeros(384, np.float32)

    train = np.vstack([mean_vector(p) for p in split.train[SEQUENCE]])
    valid = np.vstack([mean_vector(p) for p in split.valid[SEQUENCE]])
    pca = PCA(TEXT_DIMS, random_state=seed).fit(train)
    names = [f"text_pc{i}" for i in range(TEXT_DIMS)]
    return (
        pd.DataFrame(pca.transform(train), columns=names, index=split.train.index),
        pd.DataFrame(pca.transform(valid), columns=names, index=split.valid.index),
        names,
    )


def fit_score(spec, params, train, valid, config):
    from cartcast.training.fit import make_inputs, predict, train_torch

    head, _ = train_torch(spec, params, train, valid, config)
    return predict(head, make_inputs(valid, spec, params, config.use_sequence))


def metric_of(task: str):
    from sklearn.metrics import roc_auc_score

    from cartcast.training.metrics import normalised_gini

    return roc_auc_score if task == "binary" else normalised_gini


def bootstrap_difference(groups, y, a, b, metric, draws: int, seed: int):
    """metric(b) - metric(a) and a 95% interval, resampling customers (paired)."""
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(groups)
    rows_of = [np.flatnonzero(codes == g) for g in range(len(uniques))]
    point = metric(y, b) - metric(y, a)
    diffs = []
    for _ in range(draws):
        pick = rng.integers(0, len(uniques), len(uniques))
        index = np.concatenate([rows_of[g] for g in pick])
        diffs.append(metric(y[index], b[index]) - metric(y[index], a[index]))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return point, low, high


def next_item_quality(warehouse, pretrained) -> dict[str, float]:
    """Top 10 of the encoder against the next 30 days' products, and popularity's."""
    import torch

    from cartcast.training import preprocess as pp
    from cartcast.warehouse.connection import connect

    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute(
            f"""
            with future as (
                select s.customer_id, s.as_of, list(distinct l.product_id) as bought
                from marts.customer_sequences s
                join intermediate.int_merchandise_lines_sequenced l
                  on l.customer_id = s.customer_id and l.ordered_at >= s.as_of
                 and l.ordered_at < s.as_of + interval 30 day
                where s.as_of >= ? and s.as_of <= ?
                group by 1, 2
            )
            select s.as_of, s.{SEQUENCE}, f.bought
            from marts.customer_sequences s join future f using (customer_id, as_of)
            order by s.as_of, s.customer_id
            """,
            [CUTOFF.replace(tzinfo=None), LAST_AS_OF],
        ).fetchall()
        popular = {
            as_of: [p for (p,) in con.execute(
                "select product_id from intermediate.int_merchandise_lines_sequenced "
                "where ordered_at < ? and ordered_at >= ? - interval 90 day "
                "group by 1 order by count(*) desc, 1 limit 10", [as_of, as_of]).fetchall()]
            for as_of in sorted({r[0] for r in rows})
        }  # fmt: skip
    finally:
        con.close()
    codes = pretrained.codes()
    catalogue = np.array(pretrained.vocab[: pretrained.n_seen], dtype=object)
    length = pretrained.config.length
    strings = np.array([(list(s) + [""] * length)[:length] for _, s, _ in rows], dtype=object)
    index = np.vectorize(lambda p: pp.PAD if p == "" else codes.get(p, pp.OOV), otypes=[np.int64])
    tops = []
    with torch.no_grad():
        for start in range(0, len(rows), 2048):
            batch = torch.from_numpy(index(strings[start : start + 2048]))
            logits = pretrained.encoder.catalogue_logits(pretrained.encoder.encode_recent(batch))
            tops.append(torch.topk(logits, 10).indices.numpy())
    top = np.vstack(tops)

    def scores(lists) -> tuple[float, float, float]:
        hr, recall, ndcg = [], [], []
        discounts = 1 / np.log2(np.arange(2, 12))
        for ranked, (_, _, bought) in zip(lists, rows, strict=True):
            truth = set(bought)
            hits = np.array([p in truth for p in ranked], dtype=float)
            hr.append(hits.any())
            recall.append(hits.sum() / len(truth))
            ideal = discounts[: min(len(truth), 10)].sum()
            ndcg.append((hits * discounts).sum() / ideal)
        return float(np.mean(hr)), float(np.mean(recall)), float(np.mean(ndcg))

    model = scores([catalogue[t] for t in top])
    baseline = scores([popular[r[0]] for r in rows])
    return {
        "snapshots": len(rows),
        "hr10_encoder": model[0],
        "recall10_encoder": model[1],
        "ndcg10_encoder": model[2],
        "hr10_popularity": baseline[0],
        "recall10_popularity": baseline[1],
        "ndcg10_popularity": baseline[2],
    }


def compare(task, label, metric, split, spec, scores, draws, seed, record) -> dict[str, float]:
    """Print and record each candidate's metric and its difference to the first (aggregates
    only) with a 95% interval by entity bootstrap; returns the differences."""
    y = split.valid[spec.label_column].to_numpy(dtype=float)
    groups = split.valid[spec.key].to_numpy()
    reference, *_ = scores.values()
    print(
        f"  {'candidate':<28}{label:>9}{'vs aggregates':>15}   95% interval ({spec.entity.name}s)"
    )
    differences = {}
    for i, (candidate, score) in enumerate(scores.items()):
        value = metric(y, score)
        if i == 0:
            print(f"  {candidate:<28}{value:>9.4f}")
            record(task, candidate, label, value)
            continue
        point, low, high = bootstrap_difference(groups, y, reference, score, metric, draws, seed)
        record(task, candidate, label, value, (point, low, high))
        print(f"  {candidate:<28}{value:>9.4f}{point:>+15.4f}   [{low:+.4f}, {high:+.4f}]")
        differences[candidate] = point
    return differences


def few_labels(name, split, pretrained, args, draws, record, result, prefix) -> None:
    """The model trained on a share of the labelled training entities: aggregates only, the
    same encoder architecture from scratch, and the pre-trained encoder frozen and fine-tuned,
    on the same validation rows."""
    from cartcast.catalog import get_spec
    from cartcast.pretraining.corpora import get_corpus
    from cartcast.training import preprocess as pp
    from cartcast.training.fit import TorchConfig, params_for_encoder

    spec = get_spec(name)
    rng = np.random.default_rng(args.seed)
    entities = split.train[spec.key].unique()
    few = set(rng.choice(entities, max(1, int(len(entities) * args.few_share)), replace=False))
    train = split.train[split.train[spec.key].isin(few)]
    params = pp.fit(spec, train)
    own = params_for_encoder(params, pretrained)
    few_epochs = 2 if args.quick else 6  # a tenth of the rows: more passes for the same steps
    base = TorchConfig(epochs=few_epochs, seed=args.seed, dropout=0.2)
    scores = {
        "aggregates only (MLP)": fit_score(spec, params, train, split.valid, base),
        "from scratch (transformer)": fit_score(
            spec, params, train, split.valid,
            dataclasses.replace(base, use_sequence=True, weight_decay=1e-3),
        ),
        "pre-trained, frozen": fit_score(
            spec, own, train, split.valid,
            dataclasses.replace(base, use_sequence=True, pretrained=pretrained,
                                freeze_encoder=True),
        ),
        "pre-trained, fine-tuned": fit_score(
            spec, own, train, split.valid,
            dataclasses.replace(base, use_sequence=True, weight_decay=1e-3, pretrained=pretrained),
        ),
    }  # fmt: skip
    words = get_corpus(pretrained.config.corpus).entities
    print(
        f"\nfew labels: {name} trained on {len(few):,} of {len(entities):,} {words} "
        f"({len(train):,} rows); ROC-AUC on the same {len(split.valid):,} validation rows"
    )
    task = f"{name}, {args.few_share:.0%} of {words}"
    metric = metric_of("binary")
    compare(task, "ROC-AUC", metric, split, spec, scores, draws, args.seed, record)
    y = split.valid[spec.label_column].to_numpy(dtype=float)
    groups = split.valid[spec.key].to_numpy()
    for candidate in ("pre-trained, frozen", "pre-trained, fine-tuned"):
        point, low, high = bootstrap_difference(
            groups, y, scores["from scratch (transformer)"], scores[candidate], metric, draws,
            args.seed,
        )  # fmt: skip
        print(f"  {candidate} vs from scratch: {point:+.4f}   [{low:+.4f}, {high:+.4f}]")
        kind = "frozen" if "frozen" in candidate else "finetuned"
        result[f"{prefix}fewlabel_{kind}_vs_scratch"] = point


def session_encoder(warehouse, store, args, draws, record, result) -> datetime:
    """intent_session with the session encoder: pre-trained on every user's events before
    the clickstream's default cut-off, then the ablation and the few-label experiment."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from cartcast.catalog import get_spec
    from cartcast.features.training_set import build_training_set, label_entity_frame
    from cartcast.pretraining.pretrain import PretrainConfig, describe, pretrained_for
    from cartcast.training import preprocess as pp
    from cartcast.training.dataset import time_split
    from cartcast.training.fit import TorchConfig, params_for_encoder

    spec = get_spec(SESSION_TASK)
    entities = label_entity_frame(spec.feature_service, warehouse)
    entities = entities.rename(columns={spec.label: spec.label_column})
    frame = build_training_set(entities, spec.feature_service, store)
    split = time_split(frame, spec)
    epochs = 1 if args.quick else PretrainConfig().epochs
    config = PretrainConfig(seed=args.seed, epochs=epochs, corpus=spec.corpus)
    pretrained = pretrained_for(warehouse, split.cutoff, config, echo=lambda _: None)
    print(f"\n{SESSION_TASK}: {describe(pretrained)}")
    params = pp.fit(spec, split.train)
    own = params_for_encoder(params, pretrained)
    base = TorchConfig(epochs=1 if args.quick else 3, seed=args.seed, dropout=0.2)
    frozen = TorchConfig(
        epochs=1 if args.quick else 2, seed=args.seed, dropout=0.2, use_sequence=True,
        pretrained=pretrained, freeze_encoder=True,
    )  # fmt: skip
    tuned = dataclasses.replace(frozen, freeze_encoder=False, weight_decay=1e-3)
    scores = {
        "aggregates only (MLP)": fit_score(spec, params, split.train, split.valid, base),
        "+ frozen session encoder": fit_score(spec, own, split.train, split.valid, frozen),
        "fine-tuned session encoder": fit_score(spec, own, split.train, split.valid, tuned),
    }
    positives = int(split.valid[spec.label_column].sum())
    for label, metric in (("ROC-AUC", roc_auc_score), ("PR-AUC", average_precision_score)):
        print(
            f"{SESSION_TASK}: {label} on {len(split.valid):,} validation rows "
            f"({split.valid[spec.key].nunique():,} users, {positives} positives), trained on "
            f"{len(split.train):,}"
        )
        differences = compare(
            SESSION_TASK, label, metric, split, spec, scores, draws, args.seed, record
        )
        if label == "ROC-AUC":
            result["intent_finetuned_vs_aggregates"] = differences["fine-tuned session encoder"]
    few_labels(SESSION_TASK, split, pretrained, args, draws, record, result, "intent_")
    return split.cutoff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, help="bootstrap draws (default 300; quick 100)")
    parser.add_argument("--few-share", type=float, default=0.1)
    args = parser.parse_args()
    draws = args.draws or (100 if args.quick else 300)

    from cartcast.catalog import get_spec
    from cartcast.features import store as feature_store
    from cartcast.pretraining.ablation import write_ablation
    from cartcast.pretraining.corpora import product_text_vectors
    from cartcast.pretraining.pretrain import PretrainConfig, pretrained_for
    from cartcast.training import preprocess as pp
    from cartcast.training.dataset import time_split
    from cartcast.training.fit import TorchConfig, params_for_encoder
    from cartcast.warehouse.connection import connect
    from cartcast.warehouse.paths import Warehouse

    warehouse = Warehouse.from_env()
    if not warehouse.duckdb_path.exists():
        sys.exit(f"No warehouse at {warehouse.duckdb_path}: run `make demo` first.")
    started = time.perf_counter()
    store = feature_store.get_store(warehouse)
    data = frames(warehouse, store)
    con = connect(warehouse, read_only=True)
    vectors = product_text_vectors(con)
    con.close()
    epochs = 1 if args.quick else PretrainConfig().epochs
    pretrained = pretrained_for(
        warehouse, CUTOFF, PretrainConfig(seed=args.seed, epochs=epochs), echo=print
    )
    print(
        f"encoder: pre-trained before {CUTOFF:%Y-%m-%d} on "
        f"{pretrained.facts['events']:,.0f} purchases of {pretrained.facts['sequences']:,.0f} "
        f"customers, {epochs} epoch(s); {len(vectors):,} products with text"
    )
    quality = next_item_quality(warehouse, pretrained)
    print(
        f"\nnext-item quality before fine-tuning ({quality['snapshots']:,} customer snapshots "
        f"{CUTOFF:%Y-%m-%d}..{LAST_AS_OF:%Y-%m-%d} with a purchase in the next 30 days):"
    )
    print(f"  {'':<22}{'HR@10':>8}{'Recall@10':>11}{'NDCG@10':>9}")
    for who in ("encoder", "popularity"):
        print(
            f"  {who:<22}{quality[f'hr10_{who}']:>8.3f}{quality[f'recall10_{who}']:>11.3f}"
            f"{quality[f'ndcg10_{who}']:>9.3f}"
        )

    mlp_epochs = 1 if args.quick else 3
    tuned_epochs = 1 if args.quick else 2
    result: dict[str, float] = {}
    table: list[dict] = []

    def record(task: str, candidate: str, label: str, value: float, diff=None) -> None:
        low = high = point = None
        if diff is not None:
            point, low, high = (float(x) for x in diff)
        table.append(
            {"task": task, "candidate": candidate, "metric": label, "value": float(value),
             "difference": point, "low": low, "high": high}
        )  # fmt: skip

    for name in TASKS:
        spec = get_spec(name)
        split = time_split(data[name], spec, CUTOFF)
        params = pp.fit(spec, split.train)
        metric = metric_of(spec.task)
        label = "ROC-AUC" if spec.task == "binary" else "Gini"
        base = TorchConfig(epochs=mlp_epochs, seed=args.seed, dropout=0.2)
        scores = {"aggregates only (MLP)": fit_score(spec, params, split.train, split.valid, base)}
        train_text, valid_text, names = text_features(split, vectors, args.seed)
        text_spec = dataclasses.replace(spec, numeric=spec.numeric + tuple(names))
        text_train = pd.concat([split.train, train_text], axis=1)
        text_valid = pd.concat([split.valid, valid_text], axis=1)
        text_params = pp.fit(text_spec, text_train)
        scores["+ text embeddings"] = fit_score(
            text_spec, text_params, text_train, text_valid, base
        )
        own = params_for_encoder(params, pretrained)
        frozen = TorchConfig(
            epochs=tuned_epochs, seed=args.seed, dropout=0.2, use_sequence=True,
            pretrained=pretrained, freeze_encoder=True,
        )  # fmt: skip
        tuned = dataclasses.replace(frozen, freeze_encoder=False, weight_decay=1e-3)
        scores["+ frozen encoder"] = fit_score(spec, own, split.train, split.valid, frozen)
        scores["fine-tuned encoder"] = fit_score(spec, own, split.train, split.valid, tuned)
        print(
            f"\n{name}: {label} on {len(split.valid):,} validation rows "
            f"({split.valid[spec.key].nunique():,} customers), trained on {len(split.train):,}"
        )
        differences = compare(name, label, metric, split, spec, scores, draws, args.seed, record)
        result[f"{name.split('_')[0]}_finetuned_vs_aggregates"] = differences["fine-tuned encoder"]

    few_labels(
        "purchase_30d", time_split(data["purchase_30d"], get_spec("purchase_30d"),
                                   CUTOFF),
        pretrained, args, draws, record, result, "",
    )  # fmt: skip
    session_cutoff = session_encoder(warehouse, store, args, draws, record, result)
    path = write_ablation(
        warehouse,
        {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cutoff": f"{CUTOFF:%Y-%m-%d}",
            "session_cutoff": f"{session_cutoff:%Y-%m-%d %H:%M}",
            "pretrain_epochs": epochs,
            "next_item": quality,
            "rows": table,
        },
    )
    print(f"\n(all in {time.perf_counter() - started:.0f} s; the table for the report: {path})")
    print(
        f"RESULT pretraining recall10_encoder={quality['recall10_encoder']:.4f} "
        f"recall10_popularity={quality['recall10_popularity']:.4f} "
        f"ndcg10_encoder={quality['ndcg10_encoder']:.4f} "
        f"ndcg10_popularity={quality['ndcg10_popularity']:.4f} "
        + " ".join(f"{k}={v:+.4f}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
