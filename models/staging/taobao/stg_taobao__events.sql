{#- The canonical event contract, one row per usable event. The source has no session id. -#}
with

base as (

    select * from {{ ref('base_taobao__user_behavior') }}
    where quarantine_reason is null

),

final as (

    select
        row_fingerprint as event_id,
        raw_user_id as user_id,
        cast(null as {{ dbt.type_string() }}) as session_id,
        event_type,
        raw_item_id as product_id,
        raw_category_id as category_id,
        occurred_at
    from base

)

select * from final
