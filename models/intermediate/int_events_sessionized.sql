{#-
  Events with a session id: the source's own when it has one, otherwise a new session
  starts after `session_gap_minutes` of inactivity.
-#}
with

events as (

    select * from {{ ref(var('events_model')) }}

),

ordered as (

    select
        *,
        lag(occurred_at) over (
            partition by user_id order by occurred_at, event_id
        ) as previous_occurred_at
    from events

),

flagged as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when {{ minutes_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_gap_minutes') }} then 1
            else 0
        end as starts_session
    from ordered

),

numbered as (

    select
        *,
        sum(starts_session) over (
            partition by user_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from flagged

),

final as (

    select
        event_id,
        user_id,
        coalesce(session_id, user_id || '-' || cast(session_number as {{ dbt.type_string() }})) as session_id,
        event_type,
        product_id,
        category_id,
        occurred_at
    from numbered

)

select * from final
