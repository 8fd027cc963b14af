"""Customer embeddings: each customer's behaviour-encoder vector at every snapshot, from the
products bought strictly before it (`marts.customer_sequences`), written by dbt with the
encoder's ONNX file (`intermediate.int_customer_embeddings`, a Python model, published as the
Parquet mart `marts.customer_embeddings` that Feast serves).

The encoder is the newest one kept (`<artifacts>/encoders/`): its cut-off is a column, because
the vectors of snapshots before it come from weights that saw later purchases. Models never
read this table to train; each carries its own encoder inside its ONNX file, pre-trained before
its own cut-off. The table is for analysis, similarity and other consumers.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import duckdb
import numpy as np
import onnx
import pyarrow as pa
import torch

from cartcast.errors import PretrainingError
from cartcast.pretraining.encoder import OOV, PAD, BehaviourEncoder
from cartcast.pretraining.pretrain import Pretrained, corpus_of, encoders_dir, load
from cartcast.warehouse.paths import Warehouse

ONNX_FILE = "encoder.onnx"
BATCH = 8192


class _Codes(torch.nn.Module):
    def __init__(self, encoder: BehaviourEncoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_recent(codes)


def export_encoder(pretrained: Pretrained, path: Path) -> Path:
    """The encoder as one ONNX file: product codes (batch, length), newest first -> vectors."""
    example = torch.zeros((2, pretrained.config.length), dtype=torch.int64)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _Codes(pretrained.encoder.eval()),
            (example,),
            dynamo=True,
            external_data=False,
            input_names=["product_codes"],
            output_names=["customer_vector"],
            dynamic_shapes={"codes": {0: torch.export.Dim("batch")}},
            verbose=False,
        )
    buffer = io.BytesIO()
    program.save(buffer, external_data=False)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(model)
    # written whole, then renamed: a half-written file is never found by a later build
    partial = path.with_suffix(".partial")
    partial.write_bytes(model.SerializeToString())
    partial.replace(path)
    return path


def newest_encoder(warehouse: Warehouse) -> tuple[Pretrained, Path]:
    """The kept purchase encoder with the latest cut-off, and its ONNX file (exported when
    missing). Session encoders (another corpus) describe clickstream users, not customers."""
    folders = sorted(
        (
            f
            for f in encoders_dir(warehouse).glob("*")
            if (f / "encoder.json").exists() and corpus_of(f) == "purchases"
        ),
        key=lambda f: f.name,
    )
    if not folders:
        raise PretrainingError(
            "No pre-trained behaviour encoder is kept for this warehouse: train a model with a "
            "product sequence first (`cartcast train --model purchase_30d`)."
        )
    folder = folders[-1]
    pretrained = load(folder)
    path = folder / ONNX_FILE
    if not path.exists():
        export_encoder(pretrained, path)
    return pretrained, path


def embed_sequences(
    session: duckdb.DuckDBPyConnection, sequences: duckdb.DuckDBPyRelation
) -> pa.Table:
    """Every (customer_id, as_of) of `sequences` with its vector, in batches."""
    import onnxruntime as ort

    pretrained, path = newest_encoder(Warehouse.from_env())
    runner = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    codes = pretrained.codes()
    length = pretrained.config.length
    reader = sequences.select("customer_id, as_of, recent_product_ids").fetch_arrow_reader(BATCH)
    parts = []
    for batch in reader:
        lists = batch.column("recent_product_ids").to_pylist()
        index = np.full((len(lists), length), PAD, dtype=np.int64)
        for row, products in enumerate(lists):
            for col, product in enumerate((products or [])[:length]):
                index[row, col] = codes.get(product, OOV)
        (vectors,) = runner.run(["customer_vector"], {"product_codes": index})
        dim = vectors.shape[1]
        parts.append(
            pa.table(
                {
                    "customer_id": batch.column("customer_id"),
                    "as_of": batch.column("as_of"),
                    "embedding": pa.FixedSizeListArray.from_arrays(
                        pa.array(vectors.astype(np.float32).ravel()), dim
                    ),
                    "encoder_cutoff": pa.array(
                        [pretrained.cutoff] * len(lists), pa.timestamp("us")
                    ),
                    "encoder": pa.array([path.parent.name] * len(lists), pa.string()),
                }
            )
        )
    if not parts:
        raise PretrainingError("marts.customer_sequences is empty: nothing to embed.")
    return pa.concat_tables(parts)
