{#- Every merchandise product's description vector, for models and for similarity queries. -#}
with

embeddings as (

    select * from {{ ref('int_product_text_embeddings') }}

),

final as (

    select
        product_id,
        description,
        embedding,
        null_reason,
        encoder,
        encoder_version
    from embeddings

)

select * from final
