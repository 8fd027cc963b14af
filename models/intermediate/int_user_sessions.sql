{#- One row per clickstream session: when it started and ended, and what happened in it. -#}
with

events as (

    select * from {{ ref('int_events_sessionized') }}

),

final as (

    select
        session_id,
        min(user_id) as user_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as event_count,
        sum(case when event_type = 'view' then 1 else 0 end) as views,
        sum(case when event_type = 'cart' then 1 else 0 end) as carts,
        sum(case when event_type = 'favorite' then 1 else 0 end) as favorites,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases
    from events
    group by session_id

)

select * from final
