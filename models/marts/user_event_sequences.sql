{{ config(slicing={'rows_of': 'int_events_sessionized', 'bytes_per_row': 2048}, **parquet_mart_config()) }}
{#-
  Each clickstream user's most recent `sequence_length` events before each snapshot, newest
  first, as tokens `<event_type>:<category_id>` (the session encoder's input), for the users
  and snapshots of `user_event_features`: the same events, in the active window before as_of.
  Ties in time fall back to the event key, as the session encoder's pre-training orders them.
-#}
-- depends_on: {{ ref('int_events_sessionized') }}
with

history as (

    select * from {{ ref('int_user_events_before_snapshots') }}
    where {{ in_slice('user_id') }}

),

ranked as (

    select
        user_id,
        as_of,
        event_type || ':' || coalesce(category_id, '') as event_token,
        minutes_before_as_of,
        row_number() over (
            partition by user_id, as_of order by occurred_at desc, event_id desc
        ) as events_back
    from history

),

recent as (

    select * from ranked
    where events_back <= {{ var('sequence_length') }}

),

final as (

    select
        user_id,
        as_of,
        {{ list_by_key_descending('event_token', '-events_back') }} as recent_event_tokens,
        {{ list_by_key_descending('round(minutes_before_as_of, 6)', '-events_back') }}
            as recent_minutes_before_as_of,
        cast(count(*) as bigint) as sequence_length
    from recent
    group by user_id, as_of

)

select * from final
order by as_of, user_id
