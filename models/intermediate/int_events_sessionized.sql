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

sessionized as (

    select
        event_id,
        user_id,
        coalesce(session_id, user_id || '-' || cast(session_number as {{ dbt.type_string() }})) as session_id,
        event_type,
        product_id,
        category_id,
        occurred_at
    from numbered

),

final as (

    -- the user's next event on the same product, in the same category and in the same
    -- session, and the session's previous event. An event is the last of its product
    -- (category, session) in a window that ends at as_of exactly when that next time is null
    -- or at or after as_of, and the first of its session in the window when the previous one
    -- is outside it: so the clickstream features count distinct products and sessions, and
    -- measure sessions, in one pass over (event, snapshot) rows with no distinct aggregate.
    -- Here, in a table, they are computed once (a view's unused windows are not pruned).
    select
        *,
        lead(occurred_at) over (
            partition by user_id, product_id order by occurred_at, event_id
        ) as next_product_event_at,
        lead(occurred_at) over (
            partition by user_id, category_id order by occurred_at, event_id
        ) as next_category_event_at,
        lead(occurred_at) over (
            partition by user_id, session_id order by occurred_at, event_id
        ) as next_session_event_at,
        lag(occurred_at) over (
            partition by user_id, session_id order by occurred_at, event_id
        ) as previous_session_event_at
    from sessionized

)

select * from final
