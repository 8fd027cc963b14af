{{ config(**parquet_mart_config()) }}
{#-
  The catalogue's best sellers at each snapshot: the `recommend_popular_products` products on
  the most merchandise lines in the 90 days before as_of, with their lines in those 90 days
  and in the last 30. One row per snapshot, keyed by the constant catalogue id 'all' so that
  Feast serves it beside a customer's rows. The recommender reads it, and it is the
  popularity baseline (and the list a customer with no history gets).
-#}
with

calendar as (

    select as_of from {{ ref('int_snapshot_calendar') }}

),

lines as (

    select product_id, ordered_at from {{ ref('int_merchandise_lines_sequenced') }}

),

counted as (

    select
        calendar.as_of,
        lines.product_id,
        count(*) as lines_90d,
        count(*) filter (
            where lines.ordered_at >= {{ dbt.dateadd('day', -30, 'calendar.as_of') }}
        ) as lines_30d
    from calendar
    inner join lines
        on lines.ordered_at < calendar.as_of
        and lines.ordered_at >= {{ dbt.dateadd('day', -90, 'calendar.as_of') }}
    group by calendar.as_of, lines.product_id

),

ranked as (

    select
        *,
        row_number() over (
            partition by as_of order by lines_90d desc, lines_30d desc, product_id
        ) as popularity_rank
    from counted
    qualify popularity_rank <= {{ var('recommend_popular_products') }}

),

final as (

    select
        'all' as catalogue_id,
        as_of,
        {{ list_by_key_descending('product_id', '-popularity_rank') }} as popular_product_ids,
        {{ list_by_key_descending('lines_90d', '-popularity_rank') }} as popular_lines_90d,
        {{ list_by_key_descending('lines_30d', '-popularity_rank') }} as popular_lines_30d
    from ranked
    group by as_of

)

select * from final
order by as_of
