{#- One row per order with its net amounts, built from the canonical order lines. -#}
with

order_lines as (

    select * from {{ ref(var('orders_lines_model')) }}

),

orders as (

    select
        order_id,
        min(customer_id) as customer_id,
        min(ordered_at) as ordered_at,
        min(status) as status,
        min(country) as country,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as item_count,
        sum(line_amount) as net_amount,
        max(case when is_merchandise then 1 else 0 end) = 1 as has_merchandise
    from order_lines
    group by order_id

),

completed_gaps as (

    select
        order_id,
        lag(ordered_at) over (
            partition by customer_id order by ordered_at, order_id
        ) as previous_completed_ordered_at
    from orders
    where status = 'completed'

),

sequenced as (

    select
        orders.*,
        completed_gaps.previous_completed_ordered_at,
        row_number() over (
            partition by orders.customer_id order by orders.ordered_at, orders.order_id
        ) as customer_order_number
    from orders
    left join completed_gaps
        on orders.order_id = completed_gaps.order_id

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        status,
        country,
        line_count,
        item_count,
        net_amount,
        has_merchandise,
        customer_order_number,
        case
            when status = 'completed' and previous_completed_ordered_at is not null
                then {{ days_between('previous_completed_ordered_at', 'ordered_at') }}
        end as days_since_previous_order
    from sequenced

)

select * from final
