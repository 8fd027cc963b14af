{{
  config(
    on_schema_change='fail',
    **snapshot_incremental_config(unique_key=['customer_id', 'as_of'])
  )
}}
{#-
  Customer features at each snapshot, from orders strictly before `as_of`. Incremental:
  a rerun recomputes only snapshots newer than the last built one minus
  `feature_lookback_days` (so late-arriving orders still reach recent snapshots).
-#}
with

calendar as (

    select * from {{ ref('int_snapshot_calendar') }}
    {% if is_incremental() %}
    where as_of >= (
        select {{ dbt.dateadd('day', -1 * var('feature_lookback_days'), 'max(as_of)') }}
        from {{ this }}
    )
    {% endif %}

),

orders as (

    select * from {{ ref('int_orders') }}

),

order_lines as (

    select * from {{ ref(var('orders_lines_model')) }}

),

first_purchase_of_product as (

    select
        customer_id,
        product_id,
        min(ordered_at) as first_ordered_at
    from order_lines
    where status = 'completed' and is_merchandise
    group by customer_id, product_id

),

orders_as_of as (

    select
        calendar.as_of,
        orders.*,
        {{ days_between('orders.ordered_at', 'calendar.as_of') }} as days_before_as_of,
        case when orders.status = 'completed' then 1 else 0 end as is_completed
    from calendar
    inner join orders
        on orders.ordered_at < calendar.as_of

),

aggregated as (

    select
        customer_id,
        as_of,
        min(days_before_as_of) filter (where is_completed = 1) as recency_days,
        max(days_before_as_of) as tenure_days,
        {% for n in [7, 30, 90, 365] %}
        count(case when is_completed = 1 and days_before_as_of <= {{ n }} then 1 end)
            as orders_{{ n }}d,
        coalesce(sum(case when days_before_as_of <= {{ n }} then net_amount end), 0)
            as spend_{{ n }}d,
        {% endfor %}
        count(case when is_completed = 1 then 1 end) as orders_lifetime,
        sum(net_amount) as spend_lifetime,
        sum(case when is_completed = 1 then net_amount end) as gross_spend_lifetime,
        count(case when is_completed = 0 then 1 end) as cancelled_orders_lifetime,
        count(*) as all_orders_lifetime,
        -sum(case when is_completed = 0 then net_amount else 0 end) as returned_amount_lifetime,
        avg(case when is_completed = 1 then line_count end) as avg_basket_lines,
        avg(case when is_completed = 1 then item_count end) as avg_basket_items,
        -- the gaps are fractional days: a plain avg() of doubles changes in its last bits
        -- from run to run, which rounding to 6 places does not always hide
        {{ exact_avg('days_since_previous_order') }} as days_between_orders_mean,
        {{ exact_stddev_samp('days_since_previous_order') }} as days_between_orders_std,
        count(case when is_completed = 1 and days_before_as_of > 30 and days_before_as_of <= 120
            then 1 end) as orders_31_120d,
        -- 1e0 is a double on every engine (Spark reads 1.0 as a decimal, and would keep one)
        avg(case when is_completed = 1 then
            case when {{ is_weekend('ordered_at') }} then 1e0 else 0e0 end end)
            as share_orders_weekend,
        avg(case when is_completed = 1 then
            case when extract(hour from ordered_at) < 12 then 1e0 else 0e0 end end)
            as share_orders_morning,
        avg(case when is_completed = 1 then
            case when extract(hour from ordered_at) >= 12 and extract(hour from ordered_at) < 17
            then 1e0 else 0e0 end end) as share_orders_afternoon,
        avg(case when is_completed = 1 then
            case when extract(hour from ordered_at) >= 17 then 1e0 else 0e0 end end)
            as share_orders_evening,
        max_by(country, customer_order_number) as country
    from orders_as_of
    group by customer_id, as_of

),

product_timeline as (

    -- first purchases of each product and the snapshots on one timeline per customer; at
    -- equal times the snapshot sorts first, so a product first bought at as_of is not counted
    select customer_id, as_of as happened_at, 0 as sort_key, 0 as is_first_purchase
    from aggregated
    union all
    select customer_id, first_ordered_at, 1, 1
    from first_purchase_of_product

),

distinct_products as (

    select
        customer_id,
        as_of,
        distinct_products
    from (
        select
            customer_id,
            happened_at as as_of,
            sort_key,
            count(case when is_first_purchase = 1 then 1 end) over (
                partition by customer_id order by happened_at, sort_key
                rows between unbounded preceding and current row
            ) as distinct_products
        from product_timeline
    ) as running
    where sort_key = 0

),

final as (

    select
        aggregated.customer_id,
        aggregated.as_of,
        -- floats are rounded so that parallel sums give bit-identical reruns
        round(aggregated.recency_days, 6) as recency_days,
        round(aggregated.tenure_days, 6) as tenure_days,
        cast(aggregated.orders_7d as bigint) as orders_7d,
        cast(aggregated.orders_30d as bigint) as orders_30d,
        cast(aggregated.orders_90d as bigint) as orders_90d,
        cast(aggregated.orders_365d as bigint) as orders_365d,
        cast(aggregated.orders_lifetime as bigint) as orders_lifetime,
        cast(aggregated.spend_7d as double) as spend_7d,
        cast(aggregated.spend_30d as double) as spend_30d,
        cast(aggregated.spend_90d as double) as spend_90d,
        cast(aggregated.spend_365d as double) as spend_365d,
        cast(aggregated.spend_lifetime as double) as spend_lifetime,
        round(cast(coalesce(
            aggregated.gross_spend_lifetime / nullif(aggregated.orders_lifetime, 0), 0
        ) as double), 6) as avg_order_value,
        cast(coalesce(distinct_products.distinct_products, 0) as bigint) as distinct_products,
        round(coalesce(aggregated.avg_basket_lines, 0), 6) as avg_basket_lines,
        round(coalesce(aggregated.avg_basket_items, 0), 6) as avg_basket_items,
        round(aggregated.cancelled_orders_lifetime * 1e0 / aggregated.all_orders_lifetime, 6)
            as cancellation_rate,
        round(cast(coalesce(
            aggregated.returned_amount_lifetime / nullif(aggregated.gross_spend_lifetime, 0), 0
        ) as double), 6) as return_rate,
        round(aggregated.days_between_orders_mean, 6) as days_between_orders_mean,
        round(aggregated.days_between_orders_std, 6) as days_between_orders_std,
        round((aggregated.orders_30d + 1e0) / (aggregated.orders_31_120d / 3e0 + 1e0), 6)
            as order_trend_30v90,
        round(coalesce(aggregated.share_orders_weekend, 0), 6) as share_orders_weekend,
        round(coalesce(aggregated.share_orders_morning, 0), 6) as share_orders_morning,
        round(coalesce(aggregated.share_orders_afternoon, 0), 6) as share_orders_afternoon,
        round(coalesce(aggregated.share_orders_evening, 0), 6) as share_orders_evening,
        aggregated.country
    from aggregated
    left join distinct_products
        on aggregated.customer_id = distinct_products.customer_id
        and aggregated.as_of = distinct_products.as_of

)

select * from final
