"""One feature service per model: the exact features a model version was trained on."""

from feast import FeatureService
from feature_views import customer_features, customer_sequences, user_event_features

purchase_30d_v1 = FeatureService(
    name="purchase_30d_v1",
    features=[customer_features, customer_sequences],
    description="Will the customer order in the next 30 days: tabular features, recent products.",
    tags={"model": "purchase_30d", "label": "marts.customer_labels.purchase_30d"},
)

churn_90d_v1 = FeatureService(
    name="churn_90d_v1",
    features=[customer_features],
    description="Will an active customer place no order in the next 90 days.",
    tags={"model": "churn_90d", "label": "marts.customer_labels.churn_90d"},
)

spend_90d_v1 = FeatureService(
    name="spend_90d_v1",
    features=[customer_features],
    description="How much will the customer spend (net) in the next 90 days.",
    tags={"model": "spend_90d", "label": "marts.customer_labels.spend_90d"},
)

intent_session_v1 = FeatureService(
    name="intent_session_v1",
    features=[user_event_features],
    description="Will the clickstream user buy within the next 30 minutes.",
    tags={"model": "intent_session", "label": "marts.user_event_labels.purchase_within_horizon"},
)
