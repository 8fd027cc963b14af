{#- The canonical order-line contract (README.md, "The canonical contract"), one row per usable line. -#}
with

base as (

    select * from {{ ref('base_online_retail__invoice_lines') }}
    where quarantine_reason is null

),

non_merchandise as (

    select * from {{ ref('non_merchandise_stock_codes') }}

),

final as (

    select
        base.row_fingerprint as order_line_id,
        base.raw_invoice_no as order_id,
        base.raw_customer_id as customer_id,
        base.ordered_at,
        case when base.raw_invoice_no like 'C%' then 'cancelled' else 'completed' end as status,
        coalesce(base.raw_country, 'Unspecified') as country,
        upper(base.raw_stock_code) as product_id,
        base.raw_description as description,
        base.quantity,
        -- decimals keep money sums exact, so reruns and the Polars oracle agree to the penny
        cast(base.unit_price as decimal(18, 4)) as unit_price,
        cast(base.quantity * cast(base.unit_price as decimal(18, 4)) as decimal(18, 4)) as line_amount,
        non_merchandise.stock_code is null as is_merchandise
    from base
    left join non_merchandise
        on upper(base.raw_stock_code) = non_merchandise.stock_code

)

select * from final
