"""What each model predicts, from which feature service, and how its inputs are treated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from cartcast.dbt_contract import feature_columns
from cartcast.training_set import SERVICE_LABELS

Task = Literal["binary", "regression"]

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


def numeric_features(mart: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A mart's numeric feature columns in declared order, from its dbt contract: a column
    added to the mart reaches the models without a second list to edit."""
    return tuple(c.name for c in feature_columns(mart, keys) if c.data_type in NUMERIC_TYPES)


CUSTOMER_NUMERIC = numeric_features("customer_features", ("customer_id", "as_of"))
EVENT_NUMERIC = numeric_features("user_event_features", ("user_id", "as_of"))


@dataclass(frozen=True)
class ModelSpec:
    """One model: its label, feature service, inputs and how it is judged."""

    name: str
    task: Task
    feature_service: str
    label_window: timedelta
    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    sequence: str | None = None
    # The validation metric that picks the champion, and whether higher is better.
    selection_metric: str = "roc_auc"
    description: str = ""
    heuristic: str = ""

    @property
    def key(self) -> str:
        """The entity key, from the label table the feature service trains on."""
        return SERVICE_LABELS[self.feature_service][1]

    @property
    def label(self) -> str:
        """The label column in that table."""
        return SERVICE_LABELS[self.feature_service][2]

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


SPECS: dict[str, ModelSpec] = {
    "purchase_30d": ModelSpec(
        name="purchase_30d",
        task="binary",
        feature_service="purchase_30d_v1",
        label_window=timedelta(days=30),
        numeric=CUSTOMER_NUMERIC,
        categorical=("country",),
        sequence="recent_product_ids",
        selection_metric="roc_auc",
        description="Probability that the customer places an order in the next 30 days.",
        heuristic="recency/frequency: orders in 90 days over days since the last order",
    ),
    "churn_90d": ModelSpec(
        name="churn_90d",
        task="binary",
        feature_service="churn_90d_v1",
        label_window=timedelta(days=90),
        numeric=CUSTOMER_NUMERIC,
        categorical=("country",),
        selection_metric="roc_auc",
        description="Probability that an active customer places no order in the next 90 days.",
        heuristic="recency/frequency: days since the last order over orders in 365 days",
    ),
    "spend_90d": ModelSpec(
        name="spend_90d",
        task="regression",
        feature_service="spend_90d_v1",
        label_window=timedelta(days=90),
        numeric=CUSTOMER_NUMERIC,
        categorical=("country",),
        selection_metric="gini",
        description="Net spend of the customer in the next 90 days (currency of the orders).",
        heuristic="repeat the last 90 days: net spend of the 90 days before the snapshot",
    ),
    "intent_session": ModelSpec(
        name="intent_session",
        task="binary",
        feature_service="intent_session_v1",
        label_window=timedelta(minutes=30),
        numeric=EVENT_NUMERIC,
        selection_metric="pr_auc",
        description="Probability that the clickstream user buys within the next 30 minutes.",
        heuristic="recency/frequency: carts in 15 minutes, views in 5, minutes since last event",
    ),
}

# Metrics where lower is better (everything else: higher is better).
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse"})


def get_spec(name: str) -> ModelSpec:
    if name not in SPECS:
        raise KeyError(f"Unknown model {name!r}; known: {sorted(SPECS)}.")
    return SPECS[name]
