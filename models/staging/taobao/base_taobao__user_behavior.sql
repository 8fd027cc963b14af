{#- Every raw event, typed, fingerprinted and judged (see base_online_retail__invoice_lines). -#}
with

source as (

    -- stops with the input, column and rule when a documented column is missing
    select * from {{ checked_source('taobao', 'user_behavior') }}

),

raw_text as (

    select
        -- replaced by a salted hash here when the privacy option is on
        {{ pseudonymize_id(clean_text('user_id')) }} as raw_user_id,
        {{ clean_text('item_id') }} as raw_item_id,
        {{ clean_text('category_id') }} as raw_category_id,
        {{ clean_text('behavior_type') }} as raw_behavior_type,
        {{ clean_text('ts') }} as raw_ts
    from source

),

distinct_rows as (

    -- exact duplicates collapse here; `copies` remembers how many raw rows each one stands for
    select
        raw_user_id,
        raw_item_id,
        raw_category_id,
        raw_behavior_type,
        raw_ts,
        count(*) as copies
    from raw_text
    group by raw_user_id, raw_item_id, raw_category_id, raw_behavior_type, raw_ts

),

typed as (

    select
        *,
        {{ row_fingerprint(['raw_user_id', 'raw_item_id', 'raw_category_id', 'raw_behavior_type', 'raw_ts']) }}
            as row_fingerprint,
        case lower(raw_behavior_type)
            when 'pv' then 'view'
            when 'cart' then 'cart'
            when 'fav' then 'favorite'
            when 'buy' then 'purchase'
        end as event_type,
        case
            when abs({{ integer_or_null('raw_ts') }}) <= 253402300799
                then {{ epoch_seconds_to_timestamp(integer_or_null('raw_ts')) }}
        end as occurred_at
    from distinct_rows

),

judged as (

    select
        *,
        case
            when raw_user_id is null then 'missing_user_id'
            when raw_behavior_type is null then 'missing_event_type'
            when event_type is null then 'unknown_event_type'
            when raw_ts is null then 'missing_time'
            when occurred_at is null then 'unparseable_time'
            when occurred_at < cast('{{ var("min_valid_time") }}' as timestamp) then 'time_too_old'
            when occurred_at > {{ cartcast_now() }} then 'future_time'
            when raw_item_id is null then 'missing_product_id'
        end as quarantine_reason
    from typed

),

final as (

    select
        row_fingerprint,
        copies,
        copies - 1 as removed_duplicates,
        quarantine_reason,
        raw_user_id,
        raw_item_id,
        raw_category_id,
        raw_behavior_type,
        raw_ts,
        event_type,
        occurred_at
    from judged

)

select * from final
