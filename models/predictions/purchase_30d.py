"""Scores of the purchase_30d champion for every customer snapshot (see the YAML)."""


def model(dbt, session):
    features = dbt.ref("customer_features")
    sequences = dbt.ref("customer_sequences")
    from scoring.batch import score_relations

    marts = {"customer_features": features, "customer_sequences": sequences}
    return score_relations(session, "purchase_30d", marts)
