{#-
  The "as of" grid for customer snapshots: midnight UTC every `snapshot_every_days` days.
  `observed_until` is the newest usable order time; a label window must end by then.
-#}
with

orders as (

    select * from {{ ref('int_orders') }}

),

bounds as (

    select
        {% if var('snapshot_start', none) %}
        cast('{{ var("snapshot_start") }}' as timestamp)
        {% else %}
        {{ dbt.dateadd('day', 7, dbt.date_trunc('week', 'min(ordered_at)')) }}
        {% endif %} as grid_start,
        {% if var('snapshot_end', none) %}
        cast('{{ var("snapshot_end") }}' as timestamp)
        {% else %}
        max(ordered_at)
        {% endif %} as grid_end,
        max(ordered_at) as observed_until
    from orders

),

grid as (

    {{ timestamp_grid('(select grid_start from bounds)', '(select grid_end from bounds)',
                      var('snapshot_every_days') * 86400, 'as_of') }}

),

final as (

    select
        grid.as_of,
        bounds.observed_until
    from grid
    cross join bounds

)

select * from final
