{#-
  What each customer did after each snapshot. A row exists once the shortest label window
  (30 days) has fully passed; 90-day labels stay null until their window has passed too.
-#}
with

features as (

    select customer_id, as_of, recency_days from {{ ref('int_customer_snapshot_features') }}

),

calendar as (

    select * from {{ ref('int_snapshot_calendar') }}

),

orders as (

    select * from {{ ref('int_orders') }}

),

labellable as (

    select
        features.customer_id,
        features.as_of,
        features.recency_days,
        {{ dbt.dateadd('day', 90, 'features.as_of') }} <= calendar.observed_until
            as has_90d_window
    from features
    inner join calendar
        on features.as_of = calendar.as_of
    where {{ dbt.dateadd('day', 30, 'features.as_of') }} <= calendar.observed_until

),

future_orders as (

    select
        labellable.customer_id,
        labellable.as_of,
        count(case when orders.status = 'completed'
            and orders.ordered_at < {{ dbt.dateadd('day', 30, 'labellable.as_of') }}
            then 1 end) as completed_orders_30d,
        count(case when orders.status = 'completed'
            and orders.ordered_at < {{ dbt.dateadd('day', 90, 'labellable.as_of') }}
            then 1 end) as completed_orders_90d,
        sum(case when orders.ordered_at < {{ dbt.dateadd('day', 90, 'labellable.as_of') }}
            then orders.net_amount else 0 end) as net_amount_90d
    from labellable
    inner join orders
        on orders.customer_id = labellable.customer_id
        and orders.ordered_at >= labellable.as_of
        and orders.ordered_at < {{ dbt.dateadd('day', 90, 'labellable.as_of') }}
    group by labellable.customer_id, labellable.as_of

),

final as (

    select
        labellable.customer_id,
        labellable.as_of,
        case when coalesce(future_orders.completed_orders_30d, 0) > 0 then 1 else 0 end
            as purchase_30d,
        case
            -- churn is defined only for customers active in the 90 days before as_of
            when not labellable.has_90d_window then null
            when labellable.recency_days is null or labellable.recency_days > 90 then null
            when coalesce(future_orders.completed_orders_90d, 0) = 0 then 1
            else 0
        end as churn_90d,
        case
            when labellable.has_90d_window then cast(coalesce(future_orders.net_amount_90d, 0) as double)
        end as spend_90d
    from labellable
    left join future_orders
        on labellable.customer_id = future_orders.customer_id
        and labellable.as_of = future_orders.as_of

)

select * from final
