"""The overview's pre-training section: the ablation's rows as written by bench/pretraining.py,
or what to run when there is none."""

from __future__ import annotations

from pathlib import Path

from cartcast.pretraining.ablation import ablation_path, read_ablation, write_ablation
from cartcast.report.pages import pretraining_section
from cartcast.warehouse.paths import Warehouse

ABLATION = {
    "measured_at": "2026-11-30 03:00 UTC",
    "cutoff": "2011-08-01",
    "pretrain_epochs": 4,
    "next_item": {
        "snapshots": 15303,
        "hr10_encoder": 0.483,
        "recall10_encoder": 0.054,
        "ndcg10_encoder": 0.113,
        "hr10_popularity": 0.504,
        "recall10_popularity": 0.042,
        "ndcg10_popularity": 0.109,
    },
    "rows": [
        {"task": "churn_90d", "candidate": "aggregates only (MLP)", "metric": "ROC-AUC",
         "value": 0.7537, "difference": None, "low": None, "high": None},
        {"task": "churn_90d", "candidate": "+ frozen encoder", "metric": "ROC-AUC",
         "value": 0.7552, "difference": 0.0015, "low": -0.0026, "high": 0.0072},
    ],
}  # fmt: skip


def test_the_section_shows_every_row_with_its_interval(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path)
    path = write_ablation(warehouse, ABLATION)
    assert path == ablation_path(warehouse) and path.exists()
    html = pretraining_section(read_ablation(warehouse))
    assert "+ frozen encoder" in html and "[-0.0026, +0.0072]" in html and "+0.0015" in html
    assert "0.7537" in html and "15,303 customer snapshots" in html
    assert "0.054" in html and "0.042" in html  # recall of the encoder and of popularity


def test_without_an_ablation_the_section_says_what_to_run(tmp_path: Path) -> None:
    assert read_ablation(Warehouse.under(tmp_path)) is None
    html = pretraining_section(None)
    assert "bench/pretraining.py" in html and "<table" not in html


def test_the_session_encoders_split_is_named_when_the_ablation_has_one(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path)
    session_row = {
        "task": "intent_session", "candidate": "fine-tuned session encoder", "metric": "PR-AUC",
        "value": 0.0081, "difference": -0.0012, "low": -0.0031, "high": 0.0004,
    }  # fmt: skip
    write_ablation(
        warehouse,
        {
            **ABLATION,
            "session_cutoff": "2017-11-26 02:30",
            "rows": [*ABLATION["rows"], session_row],
        },
    )
    html = pretraining_section(read_ablation(warehouse))
    assert "intent_session, with the session encoder: from 2017-11-26 02:30" in html
    assert "fine-tuned session encoder" in html and "[-0.0031, +0.0004]" in html
    assert "session encoder: from" not in pretraining_section(ABLATION)
