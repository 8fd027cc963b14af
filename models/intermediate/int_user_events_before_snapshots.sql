{{ config(materialized='view') }}
{#-
  Each clickstream event once for every snapshot that sees it: the snapshots after it within
  `event_active_window_minutes`. The clickstream marts aggregate these rows, so every
  feature and sequence of a (user, as_of) reads the same events, strictly before as_of.
  A view: each mart's query inlines it, as before it was shared.
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

final as (

    select
        calendar.as_of,
        candidate_snapshots.event_id,
        candidate_snapshots.user_id,
        candidate_snapshots.session_id,
        candidate_snapshots.event_type,
        candidate_snapshots.product_id,
        candidate_snapshots.category_id,
        candidate_snapshots.occurred_at,
        candidate_snapshots.next_product_event_at,
        candidate_snapshots.next_category_event_at,
        candidate_snapshots.next_session_event_at,
        candidate_snapshots.previous_session_event_at,
        {{ minutes_between('candidate_snapshots.occurred_at', 'calendar.as_of') }}
            as minutes_before_as_of
    from candidate_snapshots
    inner join calendar
        on candidate_snapshots.candidate_as_of = calendar.as_of
    where {{ minutes_between('candidate_snapshots.occurred_at', 'calendar.as_of') }} <= {{ active }}

)

select * from final
