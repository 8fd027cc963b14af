{#- Quarantined rows per source and reason, for the load summary and BI. -#}
with

online_retail as (

    select source_table, reason from {{ ref('quarantine_online_retail__invoice_lines') }}

),

taobao as (

    select source_table, reason from {{ ref('quarantine_taobao__user_behavior') }}

),

unioned as (

    select * from online_retail
    union all
    select * from taobao

),

final as (

    select
        source_table,
        reason,
        count(*) as quarantined_rows
    from unioned
    group by source_table, reason

)

select * from final
