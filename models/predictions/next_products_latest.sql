{#- The current champion's newest list of each customer: k rows per customer. -#}
with

next_products as (

    select * from {{ ref('next_products') }}

),

registry as (

    select * from {{ source('ml', 'model_registry') }}

),

champion as (

    select version
    from registry
    where name = 'next_products'
        and status = 'champion'

),

champion_lists as (

    select next_products.*
    from next_products
    inner join champion
        on next_products.model_version = champion.version

),

newest as (

    select customer_id, max(as_of) as as_of
    from champion_lists
    group by customer_id

),

final as (

    select
        champion_lists.customer_id,
        champion_lists.as_of,
        champion_lists.rank,
        champion_lists.product_id,
        champion_lists.description,
        champion_lists.score,
        champion_lists.is_repeat,
        champion_lists.is_cold_start,
        champion_lists.model_name,
        champion_lists.model_version,
        champion_lists.scored_at
    from champion_lists
    inner join newest
        on newest.customer_id = champion_lists.customer_id
        and newest.as_of = champion_lists.as_of

)

select * from final
