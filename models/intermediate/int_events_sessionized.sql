{#-
  Events with a session id: the source's own when it has one; events without one are
  sessionized among themselves, a new session starting after `session_gap_minutes` of
  inactivity.
-#}
{%- set user_order = 'partition by user_id order by occurred_at, event_id' -%}
{%- set session_order = 'partition by user_id, session_id order by occurred_at, event_id' -%}
with

events as (

    select * from {{ ref(var('events_model')) }}

),

gap_ordered as (

    select
        *,
        lag(occurred_at) over ({{ user_order }}) as previous_occurred_at
    from events
    where session_id is null

),

gap_flagged as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when {{ minutes_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_gap_minutes') }} then 1
            else 0
        end as starts_session
    from gap_ordered

),

gap_numbered as (

    -- a gap session is a run of consecutive events in the user's time order, so its
    -- neighbours come from the same ordering as its number (one sort, not a second one
    -- partitioned by session)
    select
        *,
        count(case when starts_session = 1 then 1 end) over (
            {{ user_order }}
            rows between unbounded preceding and current row
        ) as session_number,
        lead(starts_session) over ({{ user_order }}) as next_starts_session,
        lead(occurred_at) over ({{ user_order }}) as next_occurred_at
    from gap_flagged

),

gap_sessions as (

    select
        event_id,
        user_id,
        user_id || '-' || cast(session_number as {{ dbt.type_string() }}) as session_id,
        event_type,
        product_id,
        category_id,
        occurred_at,
        case when next_starts_session = 0 then next_occurred_at end as next_session_event_at,
        case when starts_session = 0 then previous_occurred_at end as previous_session_event_at
    from gap_numbered

),

source_sessions as (

    select
        event_id,
        user_id,
        session_id,
        event_type,
        product_id,
        category_id,
        occurred_at,
        lead(occurred_at) over ({{ session_order }}) as next_session_event_at,
        lag(occurred_at) over ({{ session_order }}) as previous_session_event_at
    from events
    where session_id is not null

),

sessionized as (

    select * from gap_sessions
    union all
    select * from source_sessions

),

final as (

    -- the user's next event on the same product and in the same category, beside the
    -- session's next and previous events. An event is the last of its product (category,
    -- session) in a window that ends at as_of exactly when that next time is null or at or
    -- after as_of, and the first of its session in the window when the previous one is
    -- outside it: so the clickstream features count distinct products and sessions, and
    -- measure sessions, in one pass over (event, snapshot) rows with no distinct aggregate.
    -- Here, in a table, they are computed once (a view's unused windows are not pruned).
    select
        event_id,
        user_id,
        session_id,
        event_type,
        product_id,
        category_id,
        occurred_at,
        lead(occurred_at) over (
            partition by user_id, product_id order by occurred_at, event_id
        ) as next_product_event_at,
        lead(occurred_at) over (
            partition by user_id, category_id order by occurred_at, event_id
        ) as next_category_event_at,
        next_session_event_at,
        previous_session_event_at
    from sessionized

)

select * from final
