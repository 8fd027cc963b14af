{{ config(**parquet_mart_config()) }}
{#-
  Clickstream features per user at each snapshot, for users active in the
  `event_active_window_minutes` before `as_of`, from their events in that window only
  (strictly before `as_of`, `int_user_events_before_snapshots`). The bounded window keeps
  the build linear in events.
-#}
{%- set active = var('event_active_window_minutes') -%}
with

history as (

    select * from {{ ref('int_user_events_before_snapshots') }}

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
        -- distinct counts: each product (category) once, at its last event before as_of
        sum(case
            when product_id is not null
                and (next_product_event_at is null or next_product_event_at >= as_of)
            then 1 else 0
        end) as distinct_items,
        sum(case
            when category_id is not null
                and (next_category_event_at is null or next_category_event_at >= as_of)
            then 1 else 0
        end) as distinct_categories,
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
