"""Scores of the churn_90d champion for every customer snapshot (see _predictions__models.yml)."""


def model(dbt, session):
    features = dbt.ref("customer_features")
    sequences = dbt.ref("customer_sequences")
    from scoring.batch import score_relations

    # the model is named by this file (dbt.this), the catalog says the rest
    marts = {"customer_features": features, "customer_sequences": sequences}
    return score_relations(session, dbt.this.identifier, marts)
