{{ config(slicing={'rows_of': 'int_customer_snapshot_features', 'bytes_per_row': 8192}, **parquet_mart_config()) }}
{#-
  Each customer's most recent `sequence_length` bought products before each snapshot,
  newest first, as lists (for sequence models). Lines are found by their running number,
  so each snapshot touches only N lines, not the customer's whole history.
-#}
with

snapshots as (

    select customer_id, as_of from {{ ref('int_customer_snapshot_features') }}
    where {{ in_slice('customer_id') }}

),

lines as (

    select * from {{ ref('int_merchandise_lines_sequenced') }}
    where {{ in_slice('customer_id') }}

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

offsets as (

    -- 0 .. sequence_length - 1: each snapshot looks up exactly these line numbers, so the
    -- join is an equi-join on (customer, line number) and never scans a whole history
    {% for k in range(var('sequence_length')) %}
    select {{ k }} as lines_back{% if not loop.last %} union all{% endif %}
    {% endfor %}

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
    cross join offsets
    inner join lines
        on lines.customer_id = last_line_before_as_of.customer_id
        and lines.line_number = last_line_before_as_of.last_line_number - offsets.lines_back

),

final as (

    select
        customer_id,
        as_of,
        {{ list_by_key_descending('product_id', 'line_number') }} as recent_product_ids,
        {{ list_by_key_descending('quantity', 'line_number') }} as recent_quantities,
        {{ list_by_key_descending('days_before_as_of', 'line_number') }} as recent_days_before_as_of,
        count(*) as sequence_length
    from recent_lines
    group by customer_id, as_of

)

select * from final
order by as_of, customer_id
