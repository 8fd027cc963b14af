"""Every error cartcast raises on purpose: one base class, one subclass per stage.

Each message names what is wrong and what to do. The command line maps `CartcastError` to
that one line and exit code 1, in one place (`cartcast.cli.app`); a busy warehouse exits 75 so
that schedulers can retry it later. Subclasses keep the built-in base they always had
(`ValueError` for bad input, `RuntimeError` for a state to fix), so callers that caught those
still do.
"""

from __future__ import annotations

from pathlib import Path


class CartcastError(Exception):
    """Something a user can act on; the message says what."""


# --- the warehouse: files, dbt, names and ids -------------------------------------------


class WarehouseError(CartcastError, RuntimeError):
    """The warehouse cannot be opened or built as asked."""


class WarehouseBusy(WarehouseError):
    """Another process holds the warehouse file."""

    def __init__(self, path: Path | str, pid: int | None) -> None:
        self.path = Path(path)
        self.pid = pid
        holder = f"process {pid} holds it" if pid is not None else "another process holds it"
        super().__init__(
            f"The warehouse {self.path} is busy: {holder}. Wait for it to finish, or stop it."
        )


class WarehouseNotBuilt(WarehouseError):
    """The warehouse file or one of its marts is missing."""


class DbtError(WarehouseError):
    """dbt exited non-zero; the message carries the failing nodes and dbt's own words."""


class SparkUnavailable(WarehouseError):
    """The Spark engine was asked for, but Java, pyspark or the session is missing."""


class MissingSalt(WarehouseError):
    """The privacy option is on but no salt is configured."""


class UnsafeIdentifier(CartcastError, ValueError):
    """A name that is not a plain identifier."""


class ContractError(CartcastError, ValueError):
    """A mart or column is not declared the way Feast needs it."""


class CatalogError(CartcastError, KeyError):
    """A model or feature service the catalog does not know."""

    def __str__(self) -> str:
        # KeyError would print the message quoted, as a key
        return str(self.args[0]) if self.args else ""


# --- features (Feast) ------------------------------------------------------------------


class FeatureStoreError(CartcastError, RuntimeError):
    """Something the user can fix: missing marts, a stale build, an unreachable Redis."""


class TrainingSetError(CartcastError, ValueError):
    """The entity frame or the feature service cannot give a training set."""


class StaleFeatures(FeatureStoreError):
    """Online features older than their view's TTL at the caller's clock."""


# --- pre-training, training, registry, serving --------------------------------------------


class PretrainingError(CartcastError, RuntimeError):
    """A pre-trained encoder cannot be loaded, trained or applied as asked."""


class TrainingError(CartcastError, ValueError):
    """The data, the split or the model registry cannot give a sound model."""


class RegistryError(CartcastError, ValueError):
    """A model or version is missing, or does not match what was asked for."""


class ScoringError(CartcastError, ValueError):
    """A model cannot score a feature table: missing or mistyped inputs, no champion, ..."""


# --- BI: publications and the BI server ----------------------------------------------------


class BIError(CartcastError, RuntimeError):
    """Nothing to publish yet, or the BI server cannot be installed, started or loaded."""
