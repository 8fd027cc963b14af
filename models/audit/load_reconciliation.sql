{#-
  Per source: raw rows = used rows + quarantined rows + removed duplicates. Each count is
  taken from the table that holds those rows (raw rows straight from the source), so the
  test on this model catches a row lost or doubled anywhere in staging.
-#}
{{ config(post_hook="{{ cartcast_check_quarantine_share() }}") }}

with

raw_online_retail as (

    select count(*) as n from {{ source('online_retail', 'invoice_lines') }}

),

raw_taobao as (

    select count(*) as n from {{ source('taobao', 'user_behavior') }}

),

used_online_retail as (

    select count(*) as n from {{ ref('stg_online_retail__order_lines') }}

),

used_taobao as (

    select count(*) as n from {{ ref('stg_taobao__events') }}

),

quarantined_online_retail as (

    select count(*) as n from {{ ref('quarantine_online_retail__invoice_lines') }}

),

quarantined_taobao as (

    select count(*) as n from {{ ref('quarantine_taobao__user_behavior') }}

),

duplicates_online_retail as (

    select coalesce(sum(removed_duplicates), 0) as n
    from {{ ref('base_online_retail__invoice_lines') }}

),

duplicates_taobao as (

    select coalesce(sum(removed_duplicates), 0) as n
    from {{ ref('base_taobao__user_behavior') }}

),

final as (

    select
        'online_retail.invoice_lines' as source_table,
        raw_online_retail.n as raw_rows,
        used_online_retail.n as used_rows,
        quarantined_online_retail.n as quarantined_rows,
        duplicates_online_retail.n as duplicate_rows_removed
    from raw_online_retail
    cross join used_online_retail
    cross join quarantined_online_retail
    cross join duplicates_online_retail

    union all

    select
        'taobao.user_behavior' as source_table,
        raw_taobao.n,
        used_taobao.n,
        quarantined_taobao.n,
        duplicates_taobao.n
    from raw_taobao
    cross join used_taobao
    cross join quarantined_taobao
    cross join duplicates_taobao

)

select * from final
