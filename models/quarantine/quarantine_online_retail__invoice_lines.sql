{{ config(alias='online_retail__invoice_lines') }}
{#- Raw order lines that cannot be used, each with the reason and the raw values as received. -#}
with

base as (

    select * from {{ ref('base_online_retail__invoice_lines') }}
    where quarantine_reason is not null

),

final as (

    select
        'online_retail.invoice_lines' as source_table,
        row_fingerprint,
        raw_invoice_no as order_id,
        raw_stock_code as product_id,
        quarantine_reason as reason,
        raw_invoice_no,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_unit_price,
        raw_customer_id,
        raw_country,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as loaded_at
    from base

)

select * from final
