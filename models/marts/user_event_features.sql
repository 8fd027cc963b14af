{{ config(**parquet_mart_config()) }}
{#-
  Clickstream features per user at each snapshot, for users active in the
  `event_active_window_minutes` before `as_of`, from their events in that window only
  (strictly before `as_of`, `int_user_events_before_snapshots`). The bounded window keeps
  the build linear in events.
-#}
{%- set active = var('event_active_window_minutes') -%}
{%- set is_last = '(next_session_event_at is null or next_session_event_at >= as_of)' -%}
with

history as (

    select * from {{ ref('int_user_events_before_snapshots') }}

),

event_stats as (

    select
        user_id,
        as_of,
        {% for w in [5, 15, active] %}
        {% for t, name in [('view', 'views'), ('cart', 'carts'), ('favorite', 'favorites'), ('purchase', 'purchases')] %}
        count(case when event_type = '{{ t }}' and minutes_before_as_of <= {{ w }} then 1 end)
            as {{ name }}_{{ w }}m,
        {% endfor %}
        {% endfor %}
        -- distinct counts: each product (category) once, at its last event before as_of
        count(case
            when product_id is not null
                and (next_product_event_at is null or next_product_event_at >= as_of)
            then 1 end) as distinct_items,
        count(case
            when category_id is not null
                and (next_category_event_at is null or next_category_event_at >= as_of)
            then 1 end) as distinct_categories,
        min(minutes_before_as_of) as minutes_since_last_event,
        min(case when event_type = 'cart' then minutes_before_as_of end)
            as minutes_since_last_cart,
        count(*) as events,
        -- sessions: each once, at its last event before as_of; a session's span in the window
        -- is (its first event's seconds to as_of) - (its last event's), date_diff counting
        -- whole-second boundaries as the span of min to max would
        count(case when {{ is_last }} then 1 end) as sessions,
        sum(case
            when previous_session_event_at is null
                or {{ minutes_between('previous_session_event_at', 'as_of') }} > {{ active }}
            then {{ dbt.datediff('occurred_at', 'as_of', 'second') }} else 0
        end)
        - sum(case
            when {{ is_last }} then {{ dbt.datediff('occurred_at', 'as_of', 'second') }} else 0
        end) as session_seconds
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
        cast(event_stats.sessions as bigint) as sessions,
        round(event_stats.session_seconds / cast(60 as double) / event_stats.sessions, 6)
            as avg_session_minutes,
        round(event_stats.minutes_since_last_event, 6) as minutes_since_last_event,
        round(event_stats.minutes_since_last_cart, 6) as minutes_since_last_cart
    from event_stats

)

select * from final
order by as_of, user_id
