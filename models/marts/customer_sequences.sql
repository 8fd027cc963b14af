{{ config(slicing={'rows_of': 'int_customer_snapshot_features', 'bytes_per_row': 8192}, **parquet_mart_config()) }}
{#-
  Each customer's most recent `sequence_length` bought products before each snapshot,
  newest first, as lists (for sequence models). Each snapshot finds the running number of
  its customer's last line before it and takes the slice of the customer's lines that ends
  there, so no line is copied once per snapshot that sees it.
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

customer_lines as (

    -- each customer's lines once, as lists indexed by line number (line numbers run 1, 2, ...
    -- per customer); a snapshot then takes a slice of them, so no line is copied once per
    -- snapshot that sees it and no list is built per (customer, snapshot)
    select
        customer_id,
        {{ list_by_key_descending('product_id', '-line_number') }} as product_ids,
        {{ list_by_key_descending('quantity', '-line_number') }} as quantities,
        {{ list_by_key_descending('ordered_at', '-line_number') }} as ordered_ats
    from lines
    group by customer_id

),

recent as (

    select
        last_line_before_as_of.customer_id,
        last_line_before_as_of.as_of,
        last_line_before_as_of.last_line_number,
        greatest(
            last_line_before_as_of.last_line_number - {{ var('sequence_length') - 1 }}, 1
        ) as first_line_number,
        customer_lines.product_ids,
        customer_lines.quantities,
        customer_lines.ordered_ats
    from last_line_before_as_of
    inner join customer_lines
        on customer_lines.customer_id = last_line_before_as_of.customer_id

),

final as (

    select
        customer_id,
        as_of,
        {{ list_slice_reversed('product_ids', 'first_line_number', 'last_line_number') }}
            as recent_product_ids,
        {{ list_slice_reversed('quantities', 'first_line_number', 'last_line_number') }}
            as recent_quantities,
        {{ list_map(
            list_slice_reversed('ordered_ats', 'first_line_number', 'last_line_number'),
            'ordered_at',
            'round(' ~ days_between('ordered_at', 'as_of') ~ ', 6)'
        ) }} as recent_days_before_as_of,
        last_line_number - first_line_number + 1 as sequence_length
    from recent

)

select * from final
order by as_of, customer_id
