"""The next_products champion's top k products for every customer snapshot (see the YAML)."""


def flag(value):
    # config rendered from a var arrives as text ("True", "false") or as a bool
    return str(value).strip().lower() in ("true", "1", "yes")


def model(dbt, session):
    refs = {
        "customer_features": dbt.ref("customer_features"),
        "customer_sequences": dbt.ref("customer_sequences"),
        "customer_product_history": dbt.ref("customer_product_history"),
        "product_popularity": dbt.ref("product_popularity"),
        "int_product_descriptions": dbt.ref("int_product_descriptions"),
        "int_customer_product_days": dbt.ref("int_customer_product_days"),
    }
    from scoring.recommend import recommend_relations

    return recommend_relations(
        session,
        dbt.this.identifier,
        refs,
        k=int(dbt.config.get("top_k")),
        repeats=flag(dbt.config.get("include_repeats")),
        unseen=flag(dbt.config.get("unseen_products")),
    )
