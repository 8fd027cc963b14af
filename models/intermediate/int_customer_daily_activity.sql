{#- Per customer and UTC day: orders placed, cancellations and net revenue. -#}
with

orders as (

    select * from {{ ref('int_orders') }}

),

final as (

    select
        customer_id,
        cast({{ dbt.date_trunc('day', 'ordered_at') }} as date) as activity_date,
        sum(case when status = 'completed' then 1 else 0 end) as completed_orders,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        sum(case when status = 'completed' then item_count else 0 end) as items_bought,
        sum(case when status = 'cancelled' then -item_count else 0 end) as items_returned,
        sum(case when status = 'completed' then net_amount else 0 end) as gross_revenue,
        sum(net_amount) as net_revenue
    from orders
    group by customer_id, cast({{ dbt.date_trunc('day', 'ordered_at') }} as date)

)

select * from final
