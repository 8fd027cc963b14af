{{ config(slicing={'rows_of': 'int_customer_snapshot_features', 'bytes_per_row': 16384}, **parquet_mart_config()) }}
{#-
  What each customer had bought before each snapshot, product by product: the products in most
  orders first (then the most recently bought, then by id), at most `recommend_history_length`,
  with how many orders held each and how long ago the first and last were. The next-product
  recommender reads it (repeat purchase is the strongest signal in retail); Feast serves it.
-#}
with

snapshots as (

    select customer_id, as_of from {{ ref('int_customer_snapshot_features') }}
    where {{ in_slice('customer_id') }}

),

product_days as (

    select * from {{ ref('int_customer_product_days') }}
    where {{ in_slice('customer_id') }}

),

orders as (

    select customer_id, order_id, min(ordered_at) as ordered_at
    from {{ ref('int_merchandise_lines_sequenced') }}
    where {{ in_slice('customer_id') }}
    group by customer_id, order_id

),

bought_before as (

    -- only days strictly before as_of's day can hold lines before as_of (as_of is midnight)
    select
        snapshots.customer_id,
        snapshots.as_of,
        product_days.product_id,
        cast(sum(product_days.orders) as bigint) as orders,
        min(product_days.first_ordered_at) as first_ordered_at,
        max(product_days.last_ordered_at) as last_ordered_at
    from snapshots
    inner join product_days
        on product_days.customer_id = snapshots.customer_id
        and product_days.last_ordered_at < snapshots.as_of
    group by snapshots.customer_id, snapshots.as_of, product_days.product_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, as_of
            order by orders desc, last_ordered_at desc, product_id
        ) as product_rank
    from bought_before
    qualify product_rank <= {{ var('recommend_history_length') }}

),

order_counts as (

    select
        snapshots.customer_id,
        snapshots.as_of,
        count(*) as orders_before
    from snapshots
    inner join orders
        on orders.customer_id = snapshots.customer_id
        and orders.ordered_at < snapshots.as_of
    group by snapshots.customer_id, snapshots.as_of

),

final as (

    select
        ranked.customer_id,
        ranked.as_of,
        {{ list_by_key_descending('ranked.product_id', '-ranked.product_rank') }}
            as history_product_ids,
        {{ list_by_key_descending('ranked.orders', '-ranked.product_rank') }}
            as history_orders,
        {{ list_by_key_descending(
            'round(' ~ days_between('ranked.last_ordered_at', 'ranked.as_of') ~ ', 6)',
            '-ranked.product_rank') }} as history_days_since_last,
        {{ list_by_key_descending(
            'round(' ~ days_between('ranked.first_ordered_at', 'ranked.as_of') ~ ', 6)',
            '-ranked.product_rank') }} as history_days_since_first,
        count(*) as history_length,
        any_value(order_counts.orders_before) as orders_before
    from ranked
    inner join order_counts
        on order_counts.customer_id = ranked.customer_id
        and order_counts.as_of = ranked.as_of
    group by ranked.customer_id, ranked.as_of

)

select * from final
order by as_of, customer_id
