{#-
  Point-in-time check on customer features: recount each row's orders straight from
  int_orders with a strict `ordered_at < as_of` and compare. A feature that reads an order
  at or after `as_of` shows up as a count, recency or tenure that does not match.
-#}
{% test cartcast_features_before_as_of(model) %}
with

features as (

    select customer_id, as_of, recency_days, tenure_days, orders_lifetime from {{ model }}

),

orders as (

    select customer_id, ordered_at, status from {{ ref('int_orders') }}

),

recounted as (

    select
        features.customer_id,
        features.as_of,
        count(orders.customer_id) as orders_before,
        sum(case when orders.status = 'completed' then 1 else 0 end) as completed_before,
        max(case when orders.status = 'completed' then orders.ordered_at end) as last_completed_at,
        min(orders.ordered_at) as first_ordered_at
    from features
    left join orders
        on orders.customer_id = features.customer_id
        and orders.ordered_at < features.as_of
    group by features.customer_id, features.as_of

)

select features.*, recounted.orders_before, recounted.completed_before
from features
inner join recounted
    on features.customer_id = recounted.customer_id
    and features.as_of = recounted.as_of
where recounted.orders_before = 0
    or features.orders_lifetime != recounted.completed_before
    or features.tenure_days <= 0
    or features.recency_days <= 0
    or abs(features.tenure_days - {{ days_between('recounted.first_ordered_at', 'features.as_of') }}) > 1e-5
    or abs(coalesce(features.recency_days, -1)
        - coalesce({{ days_between('recounted.last_completed_at', 'features.as_of') }}, -1)) > 1e-5
{% endtest %}
