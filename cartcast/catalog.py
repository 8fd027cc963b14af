"""The model catalog: every model cartcast trains, serves and monitors, in one place.

A model is added here and nowhere else in Python: its entity and key, task, label and label
window, feature service (one per version of its inputs) and the marts it reads, validation
metric, and the recency/frequency rule it is compared with. The command line, training sets,
training, scoring, online lookups, the report and the Feast repository's feature services all
read this module. What dbt needs lives in dbt's own files (the var `scored_models` in
`dbt_project.yml` and one `models/predictions/<name>.py` per model); `check_project` names
whatever there disagrees with this catalog, and the test suite runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import yaml

from cartcast.errors import CatalogError
from cartcast.warehouse.dbt_contract import feature_columns
from cartcast.warehouse.paths import PROJECT_DIR

Task = Literal["binary", "regression"]
Transform = Literal["log1p", "identity"]

# Metrics where lower is better (everything else: higher is better).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse"})

# Counts, durations and money are skewed: a signed log1p (sign(x) * log1p(|x|)) tames them and
# keeps negative money (net spend after cancellations) meaningful. Rates and shares stay as is.
IDENTITY_FEATURES = frozenset(
    {
        "cancellation_rate",
        "return_rate",
        "order_trend_30v90",
        "share_orders_weekend",
        "share_orders_morning",
        "share_orders_afternoon",
        "share_orders_evening",
    }
)

NUMERIC_TYPES = frozenset({"double", "bigint", "integer"})


@dataclass(frozen=True)
class FeatureMart:
    """A feature mart Feast serves (one feature view each), written as Parquet by dbt."""

    name: str
    # a dbt model with the mart's snapshots (an `as_of` column): the Parquet must hold its
    # newest snapshot (`cartcast.features.store.check_marts`)
    upstream: str
    # written by dbt's scoring models, so absent until a model exists: Feast registers its view
    # and materialization skips it, saying so, while its Parquet is missing or stale
    optional: bool = False


@dataclass(frozen=True)
class Entity:
    """What predictions are about: a Feast entity, its join key, its marts."""

    name: str
    key: str
    # the first mart gives the rows (one per entity and snapshot); the others join on them
    feature_marts: tuple[FeatureMart, ...]
    # None: nothing is predicted about the entity itself (the catalogue)
    label_mart: str | None
    schema: str = "marts"

    @property
    def mart_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.feature_marts)

    @property
    def label_table(self) -> str:
        return f"{self.schema}.{self.label_mart}"


CUSTOMER = Entity(
    name="customer",
    key="customer_id",
    feature_marts=(
        FeatureMart("customer_features", "intermediate.int_customer_snapshot_features"),
        FeatureMart("customer_sequences", "intermediate.int_customer_snapshot_features"),
        # its snapshots are those of the customer features (the product days have no as_of)
        FeatureMart("customer_product_history", "intermediate.int_customer_snapshot_features"),
    ),
    label_mart="customer_labels",
)
# The whole catalogue as one entity (key 'all'): its best sellers per snapshot, served by
# Feast beside a customer's rows.
CATALOGUE = Entity(
    name="catalogue",
    key="catalogue_id",
    feature_marts=(
        # one row per snapshot of the calendar (the order lines have no as_of)
        FeatureMart("product_popularity", "intermediate.int_snapshot_calendar"),
    ),
    label_mart=None,
)
USER = Entity(
    name="user",
    key="user_id",
    feature_marts=(
        FeatureMart("user_event_features", "intermediate.int_event_snapshot_calendar"),
        FeatureMart("user_event_sequences", "intermediate.int_event_snapshot_calendar"),
    ),
    label_mart="user_event_labels",
)
ENTITIES: dict[str, Entity] = {e.key: e for e in (CUSTOMER, USER)}


def numeric_features(mart: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A mart's numeric feature columns in declared order, from its dbt contract: a column
    added to the mart reaches the models without a second list to edit."""
    return tuple(c.name for c in feature_columns(mart, keys) if c.data_type in NUMERIC_TYPES)


CUSTOMER_NUMERIC = numeric_features("customer_features", ("customer_id", "as_of"))
EVENT_NUMERIC = numeric_features("user_event_features", ("user_id", "as_of"))


@dataclass(frozen=True)
class RuleTerm:
    """One term of a baseline rule: weight * transform(column, missing = fill) / divisor."""

    column: str
    fill: float
    transform: Transform = "log1p"
    weight: float = 1.0
    divisor: float = 1.0

    def value(self, column: Callable[[str, float], np.ndarray]) -> np.ndarray:
        x = column(self.column, self.fill)
        x = np.log1p(x) if self.transform == "log1p" else x
        return self.weight * x / self.divisor


@dataclass(frozen=True)
class BaselineRule:
    """A recency/frequency rule a marketer would write; higher means more of the label."""

    text: str
    terms: tuple[RuleTerm, ...]

    def score(self, column: Callable[[str, float], np.ndarray]) -> np.ndarray:
        total = self.terms[0].value(column)
        for term in self.terms[1:]:
            total = total + term.value(column)
        return total


@dataclass(frozen=True)
class ModelSpec:
    """One model: its label, feature service, inputs and how it is judged."""

    name: str
    task: Task
    entity: Entity
    label: str
    label_window: timedelta
    # the feature views (marts) its feature service serves, in order
    marts: tuple[str, ...]
    numeric: tuple[str, ...]
    rule: BaselineRule
    categorical: tuple[str, ...] = ()
    sequence: str | None = None
    # what the encoder of its sequence is pre-trained on (cartcast.pretraining.corpora:
    # "purchases", "clickstream"); None: no pre-trained candidates
    corpus: str | None = None
    # The validation metric that picks the champion, and whether higher is better.
    selection_metric: str = "roc_auc"
    description: str = ""
    # bumped when the inputs change: a new feature service, so old versions keep theirs
    service_version: int = 1
    # the marts of each earlier service version, oldest first (`<name>_v1`, ...): versions
    # registered on one keep it in the Feast repository, so a rollback still serves
    earlier_marts: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if len(self.earlier_marts) != self.service_version - 1:
            raise CatalogError(
                f"Model {self.name} is at service version {self.service_version} but lists "
                f"the marts of {len(self.earlier_marts)} earlier version(s): list one tuple of "
                "marts per earlier version in `earlier_marts`."
            )

    @property
    def key(self) -> str:
        return self.entity.key

    @property
    def feature_service(self) -> str:
        return f"{self.name}_v{self.service_version}"

    @property
    def services(self) -> dict[str, tuple[str, ...]]:
        """Every feature service of the model, oldest first, with the marts each serves."""
        marts = (*self.earlier_marts, self.marts)
        return {f"{self.name}_v{n}": m for n, m in enumerate(marts, start=1)}

    @property
    def label_table(self) -> str:
        return self.entity.label_table

    @property
    def heuristic(self) -> str:
        return self.rule.text

    @property
    def label_column(self) -> str:
        """The label's column in a training frame; prefixed, as a label may share a feature's
        name (spend_90d is both the trailing feature and the future label)."""
        return f"label__{self.label}"

    @property
    def window_text(self) -> str:
        """The label window in words: "30 days", "30 minutes"."""
        seconds = int(self.label_window.total_seconds())
        if seconds % 86400 == 0:
            return f"{seconds // 86400} days"
        return f"{seconds // 60} minutes"

    def transform(self, feature: str) -> str:
        return "identity" if feature in IDENTITY_FEATURES else "signed_log1p"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="purchase_30d",
            task="binary",
            entity=CUSTOMER,
            label="purchase_30d",
            label_window=timedelta(days=30),
            marts=("customer_features", "customer_sequences"),
            numeric=CUSTOMER_NUMERIC,
            categorical=("country",),
            sequence="recent_product_ids",
            corpus="purchases",
            selection_metric="roc_auc",
            description="Probability that the customer places an order in the next 30 days.",
            rule=BaselineRule(
                "recency/frequency: orders in 90 days over days since the last order",
                (RuleTerm("orders_90d", 0), RuleTerm("recency_days", 365, weight=-1)),
            ),
        ),
        ModelSpec(
            name="churn_90d",
            task="binary",
            entity=CUSTOMER,
            label="churn_90d",
            label_window=timedelta(days=90),
            marts=("customer_features", "customer_sequences"),
            numeric=CUSTOMER_NUMERIC,
            categorical=("country",),
            sequence="recent_product_ids",
            corpus="purchases",
            selection_metric="roc_auc",
            description="Probability that an active customer places no order in the next 90 days.",
            # v2 added the recent products (the sequence models and the pre-trained encoder)
            service_version=2,
            earlier_marts=(("customer_features",),),
            rule=BaselineRule(
                "recency/frequency: days since the last order over orders in 365 days",
                (RuleTerm("recency_days", 365), RuleTerm("orders_365d", 0, weight=-1)),
            ),
        ),
        ModelSpec(
            name="spend_90d",
            task="regression",
            entity=CUSTOMER,
            label="spend_90d",
            label_window=timedelta(days=90),
            marts=("customer_features", "customer_sequences"),
            numeric=CUSTOMER_NUMERIC,
            categorical=("country",),
            sequence="recent_product_ids",
            corpus="purchases",
            selection_metric="gini",
            description="Net spend of the customer in the next 90 days (currency of the orders).",
            # v2 added the recent products (the sequence models and the pre-trained encoder)
            service_version=2,
            earlier_marts=(("customer_features",),),
            rule=BaselineRule(
                "repeat the last 90 days: net spend of the 90 days before the snapshot",
                (RuleTerm("spend_90d", 0, transform="identity"),),
            ),
        ),
        ModelSpec(
            name="intent_session",
            task="binary",
            entity=USER,
            label="purchase_within_horizon",
            label_window=timedelta(minutes=30),
            marts=("user_event_features", "user_event_sequences"),
            numeric=EVENT_NUMERIC,
            sequence="recent_event_tokens",
            corpus="clickstream",
            selection_metric="pr_auc",
            description="Probability that the clickstream user buys within the next 30 minutes.",
            # v2 added the recent event tokens (the sequence models and the session encoder)
            service_version=2,
            earlier_marts=(("user_event_features",),),
            rule=BaselineRule(
                "recency/frequency: carts in 15 minutes, views in 5, minutes since last event",
                (
                    RuleTerm("carts_15m", 0, weight=2),
                    RuleTerm("views_5m", 0),
                    RuleTerm("minutes_since_last_event", 60, "identity", weight=-1, divisor=60),
                ),
            ),
        ),
    )
}


def is_upgrade(spec: ModelSpec, registered_service: str | None) -> bool:
    """Whether a model registered on `registered_service` may move to the catalog's current
    service: only from an earlier version of its own (`<name>_v<n>`, n lower)."""
    prefix = f"{spec.name}_v"
    if registered_service is None or not registered_service.startswith(prefix):
        return False
    number = registered_service.removeprefix(prefix)
    return number.isdigit() and int(number) < spec.service_version


def names() -> tuple[str, ...]:
    """Every model's name, in catalog order."""
    return tuple(MODELS)


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise CatalogError(f"Unknown model {name!r}; known: {sorted(MODELS)}.")
    return MODELS[name]


def by_service(service: str) -> ModelSpec:
    """The model a feature service belongs to (its current service or an earlier one)."""
    for spec in MODELS.values():
        if service in spec.services:
            return spec
    known = sorted(name for s in MODELS.values() for name in s.services)
    raise CatalogError(f"Unknown feature service {service!r}; known: {known}.")


def default_model(key: str) -> ModelSpec:
    """The model an entity key gets when none is named: its first in the catalog."""
    for spec in MODELS.values():
        if spec.key == key:
            return spec
    raise CatalogError(f"No model is keyed by {key!r}; keys: {sorted(ENTITIES)}.")


def default_service(key: str) -> str:
    """The feature service online lookups use for an entity key: its first model's."""
    return default_model(key).feature_service


# Served by Feast for applications and analysis, read by no model: each model carries its own
# encoder, pre-trained before its own cut-off, while this mart is written with the newest one.
EMBEDDINGS = FeatureMart(
    "customer_embeddings", "intermediate.int_customer_snapshot_features", optional=True
)
EMBEDDINGS_SERVICE = "customer_embeddings_v1"


def feature_marts() -> dict[str, FeatureMart]:
    """Every mart Feast serves (each entity's, then the embeddings), by name."""
    marts = [m for e in (*ENTITIES.values(), CATALOGUE) for m in e.feature_marts]
    return {m.name: m for m in (*marts, EMBEDDINGS)}


# --- recommenders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecommenderSpec:
    """A model whose prediction is a ranked list of products per customer and snapshot."""

    name: str
    entity: Entity
    # a product counts as bought next when the customer buys it within this window of as_of
    window: timedelta
    # the feature views its feature service serves, in order
    marts: tuple[str, ...]
    # the marts' list columns it reads: the recent products (the encoder's input)
    sequence: str
    description: str = ""
    selection_metric: str = "ndcg_at_10"
    service_version: int = 1
    task: str = "recommend"

    @property
    def key(self) -> str:
        return self.entity.key

    @property
    def feature_service(self) -> str:
        return f"{self.name}_v{self.service_version}"

    @property
    def window_text(self) -> str:
        return f"{int(self.window.total_seconds()) // 86400} days"


RECOMMENDERS: dict[str, RecommenderSpec] = {
    spec.name: spec
    for spec in (
        RecommenderSpec(
            name="next_products",
            entity=CUSTOMER,
            window=timedelta(days=30),
            marts=("customer_sequences", "customer_product_history", "product_popularity"),
            sequence="recent_product_ids",
            description="The products each customer is most likely to buy in the next 30 days.",
        ),
    )
}


def get_recommender(name: str) -> RecommenderSpec:
    if name not in RECOMMENDERS:
        raise CatalogError(f"Unknown recommender {name!r}; known: {sorted(RECOMMENDERS)}.")
    return RECOMMENDERS[name]


def all_names() -> tuple[str, ...]:
    """Every model that trains and registers: the scoring models, then the recommenders."""
    return (*MODELS, *RECOMMENDERS)


# --- agreement with the dbt project ---------------------------------------------------------


def _prediction_files(project_dir: Path, name: str, documented: set[str]) -> list[str]:
    """A model's `models/predictions/<name>.py` and `<name>_latest.sql`, both documented."""
    problems = []
    for suffix, ext in (("", "py"), ("_latest", "sql")):
        path = project_dir / "models" / "predictions" / f"{name}{suffix}.{ext}"
        if not path.exists():
            problems.append(f"{name}: models/predictions/{path.name} is missing")
        if f"{name}{suffix}" not in documented:
            problems.append(
                f"{name}: {name}{suffix} is not documented in "
                "models/predictions/_predictions__models.yml"
            )
    return problems


def check_project(project_dir: Path = PROJECT_DIR) -> list[str]:
    """What in the dbt project disagrees with the catalog, one sentence each (empty: agrees).

    dbt scores and monitors the models named in the var `scored_models` of `dbt_project.yml`,
    with one Python model `models/predictions/<name>.py` and a `<name>_latest` view each, both
    documented and tested in `models/predictions/_predictions__models.yml`.
    """
    problems: list[str] = []
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text())
    scored = (project.get("vars") or {}).get("scored_models") or {}
    docs_path = project_dir / "models" / "predictions" / "_predictions__models.yml"
    documented = {
        m["name"] for m in (yaml.safe_load(docs_path.read_text()) or {}).get("models", [])
    }
    for name, spec in MODELS.items():
        entry = scored.get(name)
        if entry is None:
            problems.append(f"{name}: missing from the var scored_models in dbt_project.yml")
        else:
            expected = {
                "key": spec.key,
                "task": spec.task,
                "features": spec.entity.feature_marts[0].name,
                "labels": spec.entity.label_mart,
                "label": spec.label,
            }
            for field, value in expected.items():
                if entry.get(field) != value:
                    problems.append(
                        f"{name}: scored_models.{name}.{field} is {entry.get(field)!r} in "
                        f"dbt_project.yml, the catalog says {value!r}"
                    )
        problems += _prediction_files(project_dir, name, documented)
    for name in RECOMMENDERS:
        problems += _prediction_files(project_dir, name, documented)
    for name in sorted(set(scored) - set(MODELS)):
        problems.append(f"{name}: in the var scored_models of dbt_project.yml, not in the catalog")
    predictions = project_dir / "models" / "predictions"
    for path in sorted(predictions.glob("*.py")):
        if path.stem not in MODELS and path.stem not in RECOMMENDERS:
            problems.append(f"{path.stem}: models/predictions/{path.name} has no catalog entry")
    return problems
