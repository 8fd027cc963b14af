"""One feature service per version of a model's inputs, from the model catalog: the exact
feature views a version was trained on (scoring models and recommenders alike). Earlier
versions stay, so a model version registered on one still serves after the catalog moves on."""

from feast import FeatureService
from feature_views import (
    customer_embeddings,
    customer_features,
    customer_product_history,
    customer_sequences,
    product_popularity,
    user_event_features,
    user_event_sequences,
)

from cartcast import catalog

VIEWS = (
    customer_features,
    customer_sequences,
    customer_product_history,
    product_popularity,
    user_event_features,
    user_event_sequences,
    customer_embeddings,
)
FEATURE_VIEWS = {view.name: view for view in VIEWS}


def _views(name: str, marts: tuple[str, ...]) -> list:
    missing = [m for m in marts if m not in FEATURE_VIEWS]
    if missing:
        raise catalog.CatalogError(
            f"Model {name} reads marts {missing} that have no feature view in "
            "feature_repo/feature_views.py: add one."
        )
    return [FEATURE_VIEWS[m] for m in marts]


def feature_service(spec: catalog.ModelSpec, name: str, marts: tuple[str, ...]) -> FeatureService:
    return FeatureService(
        name=name,
        features=_views(spec.name, marts),
        description=spec.description,
        tags={"model": spec.name, "label": f"{spec.label_table}.{spec.label}"},
    )


def recommender_service(spec: catalog.RecommenderSpec) -> FeatureService:
    """A recommender's views span two entities (the customer and the catalogue): lookups pass
    both keys in each entity row."""
    return FeatureService(
        name=spec.feature_service,
        features=_views(spec.name, spec.marts),
        description=spec.description,
        tags={"model": spec.name, "task": spec.task, "window": spec.window_text},
    )


# Feast collects module-level objects: one global per service.
globals().update(
    {
        name: feature_service(spec, name, marts)
        for spec in catalog.MODELS.values()
        for name, marts in spec.services.items()
    }
)
globals().update(
    {spec.feature_service: recommender_service(spec) for spec in catalog.RECOMMENDERS.values()}
)

# For applications, not models (each model carries its own encoder): a customer's newest vector.
globals()[catalog.EMBEDDINGS_SERVICE] = FeatureService(
    name=catalog.EMBEDDINGS_SERVICE,
    features=_views(catalog.EMBEDDINGS_SERVICE, (catalog.EMBEDDINGS.name,)),
    description="Each customer's behaviour-encoder vector (marts.customer_embeddings).",
    tags={"use": "applications", "mart": "marts.customer_embeddings"},
)
