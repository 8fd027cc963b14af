{#-
  Purchase intent: did the user buy within `intent_horizon_minutes` after each snapshot?
  A row exists only once the whole horizon lies inside the observed events.
-#}
with

features as (

    select user_id, as_of from {{ ref('user_event_features') }}

),

calendar as (

    select * from {{ ref('int_event_snapshot_calendar') }}

),

purchases as (

    select user_id, occurred_at
    from {{ ref('int_events_sessionized') }}
    where event_type = 'purchase'

),

labellable as (

    select features.user_id, features.as_of
    from features
    inner join calendar
        on features.as_of = calendar.as_of
    where {{ dbt.dateadd('minute', var('intent_horizon_minutes'), 'features.as_of') }}
        <= calendar.observed_until

),

purchases_in_horizon as (

    select
        labellable.user_id,
        labellable.as_of,
        count(*) as purchases
    from labellable
    inner join purchases
        on purchases.user_id = labellable.user_id
        and purchases.occurred_at >= labellable.as_of
        and purchases.occurred_at
            < {{ dbt.dateadd('minute', var('intent_horizon_minutes'), 'labellable.as_of') }}
    group by labellable.user_id, labellable.as_of

),

final as (

    select
        labellable.user_id,
        labellable.as_of,
        case when purchases_in_horizon.purchases > 0 then 1 else 0 end as purchase_within_horizon,
        {{ var('intent_horizon_minutes') }} as horizon_minutes
    from labellable
    left join purchases_in_horizon
        on labellable.user_id = purchases_in_horizon.user_id
        and labellable.as_of = purchases_in_horizon.as_of

)

select * from final
