{#-
  The "as of" grid for clickstream snapshots, every `event_snapshot_every_minutes` minutes.
  `observed_until` is the newest usable event time; an intent label needs its whole horizon.
-#}
with

events as (

    select * from {{ ref(var('events_model')) }}

),

bounds as (

    select
        {{ dbt.dateadd('minute', var('event_snapshot_every_minutes'),
                       dbt.date_trunc('hour', 'min(occurred_at)')) }} as grid_start,
        max(occurred_at) as grid_end,
        max(occurred_at) as observed_until
    from events

),

grid as (

    {{ timestamp_grid('(select grid_start from bounds)', '(select grid_end from bounds)',
                      var('event_snapshot_every_minutes') * 60, 'as_of') }}

),

final as (

    select
        grid.as_of,
        bounds.observed_until
    from grid
    cross join bounds

)

select * from final
