{#-
  The neighbours the clickstream features count with (int_events_sessionized): a next event
  is never before the event, a previous one never after it, and each session has exactly one
  first and one last event. A wrong partition or order would count a product, category
  or session twice or not at all in user_event_features.
-#}
with

events as (

    select * from {{ ref('int_events_sessionized') }}

),

out_of_order as (

    select event_id, 'a next event before the event' as problem
    from events
    where next_product_event_at < occurred_at
        or next_category_event_at < occurred_at
        or next_session_event_at < occurred_at
    union all
    select event_id, 'a previous event after the event' as problem
    from events
    where previous_session_event_at > occurred_at
    union all
    select
        min(event_id) as event_id,
        'a session without exactly one first and one last event' as problem
    from events
    group by user_id, session_id
    having sum(case when previous_session_event_at is null then 1 else 0 end) <> 1
        or sum(case when next_session_event_at is null then 1 else 0 end) <> 1

),

final as (

    select * from out_of_order

)

select * from final
