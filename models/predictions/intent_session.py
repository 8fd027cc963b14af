"""Scores of the intent_session champion for every clickstream user snapshot."""


def model(dbt, session):
    features = dbt.ref("user_event_features")
    sequences = dbt.ref("user_event_sequences")
    from scoring.batch import score_relations

    # the model is named by this file (dbt.this), the catalog says the rest
    marts = {"user_event_features": features, "user_event_sequences": sequences}
    return score_relations(session, dbt.this.identifier, marts)
