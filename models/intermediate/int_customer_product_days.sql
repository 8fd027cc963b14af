{#-
  Each customer's merchandise purchases of each product, one row per calendar day: how many
  orders that day held it, and the first and last order times. Pre-aggregating by day keeps
  the snapshot join of marts.customer_product_history at (customer, product, day) grain.
-#}
with

lines as (

    select * from {{ ref('int_merchandise_lines_sequenced') }}

),

final as (

    select
        customer_id,
        product_id,
        cast(ordered_at as date) as purchased_on,
        count(distinct order_id) as orders,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at
    from lines
    group by customer_id, product_id, cast(ordered_at as date)

)

select * from final
