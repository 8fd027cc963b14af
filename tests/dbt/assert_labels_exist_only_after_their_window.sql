{#-
  Labels use only what happened after the snapshot, and exist only once their whole window
  has passed: no 30-day label later than 30 days before the newest order, no 90-day label
  later than 90 days before it. Rows returned are rows that break the rule.
-#}
with

labels as (

    select * from {{ ref('customer_labels') }}

),

orders as (

    select max(ordered_at) as newest_order from {{ ref('int_orders') }}

),

final as (

    select
        labels.customer_id,
        labels.as_of,
        orders.newest_order
    from labels
    cross join orders
    where
        (labels.purchase_30d is not null
            and {{ dbt.dateadd('day', 30, 'labels.as_of') }} > orders.newest_order)
        or (labels.churn_90d is not null
            and {{ dbt.dateadd('day', 90, 'labels.as_of') }} > orders.newest_order)
        or (labels.spend_90d is not null
            and {{ dbt.dateadd('day', 90, 'labels.as_of') }} > orders.newest_order)

)

select * from final
