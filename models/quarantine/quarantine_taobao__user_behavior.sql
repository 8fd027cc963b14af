{{ config(alias='taobao__user_behavior') }}
{#- Raw events that cannot be used, each with the reason and the raw values as received. -#}
with

base as (

    select * from {{ ref('base_taobao__user_behavior') }}
    where quarantine_reason is not null

),

final as (

    select
        'taobao.user_behavior' as source_table,
        row_fingerprint,
        raw_user_id as user_id,
        raw_item_id as product_id,
        quarantine_reason as reason,
        raw_user_id,
        raw_item_id,
        raw_category_id,
        raw_behavior_type,
        raw_ts,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as loaded_at
    from base

)

select * from final
