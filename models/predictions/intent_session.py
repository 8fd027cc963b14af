"""Scores of the intent_session champion for every clickstream user snapshot."""


def model(dbt, session):
    features = dbt.ref("user_event_features")
    from scoring.batch import score_relations

    return score_relations(session, "intent_session", {"user_event_features": features})
