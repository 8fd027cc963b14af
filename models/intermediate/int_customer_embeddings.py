"""Each customer's behaviour-encoder vector at every snapshot (see _intermediate__models.yml)."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["scoring"])
    sequences = dbt.ref("customer_sequences")
    from cartcast.pretraining.embeddings import embed_sequences

    return embed_sequences(session, sequences)
