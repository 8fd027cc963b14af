"""Scores of the intent_session champion for every clickstream user snapshot."""


def model(dbt, session):
    features = dbt.ref("user_event_features")
    from scoring.batch import score_relations

    # the model is named by this file (dbt.this), the catalog says the rest
    return score_relations(session, dbt.this.identifier, {"user_event_features": features})
