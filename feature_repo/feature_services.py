"""One feature service per model version, from the model catalog: the exact feature views a
version was trained on."""

from feast import FeatureService
from feature_views import customer_features, customer_sequences, user_event_features

from cartcast import catalog

VIEWS = (customer_features, customer_sequences, user_event_features)
FEATURE_VIEWS = {view.name: view for view in VIEWS}


def feature_service(spec: catalog.ModelSpec) -> FeatureService:
    missing = [m for m in spec.marts if m not in FEATURE_VIEWS]
    if missing:
        raise catalog.CatalogError(
            f"Model {spec.name} reads marts {missing} that have no feature view in "
            "feature_repo/feature_views.py: add one."
        )
    return FeatureService(
        name=spec.feature_service,
        features=[FEATURE_VIEWS[m] for m in spec.marts],
        description=spec.description,
        tags={"model": spec.name, "label": f"{spec.label_table}.{spec.label}"},
    )


# Feast collects module-level objects: one global per service.
globals().update({spec.feature_service: feature_service(spec) for spec in catalog.MODELS.values()})
