{{ config(**parquet_mart_config()) }}
{#-
  Clickstream features per user at each snapshot, for users active in the
  `event_active_window_minutes` before `as_of`, from their events in that window only
  (strictly before `as_of`). The bounded window keeps the build linear in events.
-#}
{%- set active = var('event_active_window_minutes') -%}
{%- set step = var('event_snapshot_every_minutes') -%}
with

calendar as (

    select * from {{ ref('int_event_snapshot_calendar') }}

),

events as (

    select * from {{ ref('int_events_sessionized') }}

),

first_snapshot as (

    select min(as_of) as first_as_of from calendar

),

steps_ahead as (

    -- an event is seen by the next ceil(window / step) snapshots after it, at most
    {% for k in range(1, ((active + step - 1) // step) + 1) %}
    select {{ k }} as steps{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

event_slots as (

    -- the grid slot each event falls in; snapshots are then found by equality, which stays
    -- linear in events (a range join of events with the calendar did not)
    select
        events.*,
        cast(floor(
            {{ dbt.datediff('first_snapshot.first_as_of', 'events.occurred_at', 'second') }}
            / {{ step * 60 }}
        ) as bigint) as slot,
        first_snapshot.first_as_of
    from events
    cross join first_snapshot

),

candidate_snapshots as (

    select
        event_slots.*,
        {{ dbt.dateadd('second', '(event_slots.slot + steps_ahead.steps) * ' ~ (step * 60),
                       'event_slots.first_as_of') }} as candidate_as_of
    from event_slots
    cross join steps_ahead

),

history as (

    select
        calendar.as_of,
        candidate_snapshots.event_id,
        candidate_snapshots.user_id,
        candidate_snapshots.session_id,
        candidate_snapshots.event_type,
        candidate_snapshots.product_id,
        candidate_snapshots.category_id,
        candidate_snapshots.occurred_at,
        {{ minutes_between('candidate_snapshots.occurred_at', 'calendar.as_of') }}
            as minutes_before_as_of
    from candidate_snapshots
    inner join calendar
        on candidate_snapshots.candidate_as_of = calendar.as_of
    where {{ minutes_between('candidate_snapshots.occurred_at', 'calendar.as_of') }} <= {{ active }}

),

sessions_as_of as (

    select
        user_id,
        as_of,
        session_id,
        {{ minutes_between('min(occurred_at)', 'max(occurred_at)') }} as session_minutes
    from history
    group by user_id, as_of, session_id

),

session_stats as (

    select
        user_id,
        as_of,
        count(*) as sessions,
        avg(session_minutes) as avg_session_minutes
    from sessions_as_of
    group by user_id, as_of

),

event_stats as (

    select
        user_id,
        as_of,
        {% for w in [5, 15, active] %}
        {% for t, name in [('view', 'views'), ('cart', 'carts'), ('favorite', 'favorites'), ('purchase', 'purchases')] %}
        sum(case when event_type = '{{ t }}' and minutes_before_as_of <= {{ w }} then 1 else 0 end)
            as {{ name }}_{{ w }}m,
        {% endfor %}
        {% endfor %}
        count(distinct product_id) as distinct_items,
        count(distinct category_id) as distinct_categories,
        min(minutes_before_as_of) as minutes_since_last_event,
        min(case when event_type = 'cart' then minutes_before_as_of end)
            as minutes_since_last_cart,
        count(*) as events
    from history
    group by user_id, as_of

),

final as (

    select
        event_stats.user_id,
        event_stats.as_of,
        {% for w in [5, 15, active] %}
        {% for name in ['views', 'carts', 'favorites', 'purchases'] %}
        cast(event_stats.{{ name }}_{{ w }}m as bigint) as {{ name }}_{{ w }}m,
        {% endfor %}
        {% endfor %}
        cast(event_stats.distinct_items as bigint) as distinct_items,
        cast(event_stats.distinct_categories as bigint) as distinct_categories,
        cast(event_stats.events as bigint) as events,
        cast(session_stats.sessions as bigint) as sessions,
        round(session_stats.avg_session_minutes, 6) as avg_session_minutes,
        round(event_stats.minutes_since_last_event, 6) as minutes_since_last_event,
        round(event_stats.minutes_since_last_cart, 6) as minutes_since_last_cart
    from event_stats
    inner join session_stats
        on event_stats.user_id = session_stats.user_id
        and event_stats.as_of = session_stats.as_of

)

select * from final
order by as_of, user_id
