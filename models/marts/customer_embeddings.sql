{{ config(tags=['scoring'], **parquet_mart_config()) }}
{#- Each customer's encoder vector per snapshot, as Parquet for Feast's customer_embeddings view. -#}
with

embeddings as (

    select * from {{ ref('int_customer_embeddings') }}

),

final as (

    select
        customer_id,
        as_of,
        embedding,
        encoder_cutoff,
        encoder
    from embeddings

)

select * from final
