{{ config(materialized='external', format='parquet') }}
{#-
  Each customer's most recent `sequence_length` bought products before each snapshot,
  newest first, as lists (for sequence models). Lines are found by their running number,
  so the join touches only N lines per snapshot, not the whole history.
-#}
with

snapshots as (

    select customer_id, as_of from {{ ref('int_customer_snapshot_features') }}

),

lines as (

    select * from {{ ref('int_merchandise_lines_sequenced') }}

),

timeline as (

    -- snapshots and lines on one timeline; at equal times the snapshot sorts first,
    -- so a line stamped exactly at as_of is not "before" it
    select customer_id, as_of as happened_at, 0 as sort_key, cast(null as bigint) as line_number
    from snapshots
    union all
    select customer_id, ordered_at, 1, line_number
    from lines

),

running as (

    select
        customer_id,
        happened_at,
        sort_key,
        max(line_number) over (
            partition by customer_id order by happened_at, sort_key
            rows between unbounded preceding and current row
        ) as last_line_number
    from timeline

),

last_line_before_as_of as (

    select
        customer_id,
        happened_at as as_of,
        last_line_number
    from running
    where sort_key = 0 and last_line_number is not null

),

recent_lines as (

    select
        last_line_before_as_of.customer_id,
        last_line_before_as_of.as_of,
        lines.line_number,
        lines.product_id,
        lines.quantity,
        round({{ days_between('lines.ordered_at', 'last_line_before_as_of.as_of') }}, 6)
            as days_before_as_of
    from last_line_before_as_of
    inner join lines
        on lines.customer_id = last_line_before_as_of.customer_id
        and lines.line_number > last_line_before_as_of.last_line_number - {{ var('sequence_length') }}
        and lines.line_number <= last_line_before_as_of.last_line_number

),

final as (

    select
        customer_id,
        as_of,
        {{ ordered_list_agg('product_id', 'line_number desc') }} as recent_product_ids,
        {{ ordered_list_agg('quantity', 'line_number desc') }} as recent_quantities,
        {{ ordered_list_agg('days_before_as_of', 'line_number desc') }} as recent_days_before_as_of,
        count(*) as sequence_length
    from recent_lines
    group by customer_id, as_of

)

select * from final
order by as_of, customer_id
