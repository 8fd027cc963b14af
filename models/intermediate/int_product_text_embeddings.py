"""Each product's description as a vector from the shipped sentence encoder (incremental)."""


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        unique_key="product_id",
        incremental_strategy="delete+insert",
    )
    descriptions = dbt.ref("int_product_descriptions")
    from cartcast.pretraining.text_table import embed_descriptions

    # only products that are new, or whose description or encoder changed, are encoded
    existing = session.sql(f"select * from {dbt.this}") if dbt.is_incremental else None
    return embed_descriptions(descriptions, existing)
