{#-
  Every distinct raw line, typed, fingerprinted and judged. Staging and quarantine both
  read this, so a raw row ends in exactly one place: used, quarantined (with a reason) or
  counted in `removed_duplicates` as an extra copy of an exact duplicate.
-#}
{%- set customer_id_text -%}
    regexp_replace({{ clean_text('CustomerID') }}, '[.]0+$', '')
{%- endset %}
with

source as (

    -- stops with the input, column and rule when a documented column is missing
    select * from {{ checked_source('online_retail', 'invoice_lines') }}

),

raw_text as (

    select
        {{ clean_text('InvoiceNo') }} as raw_invoice_no,
        {{ clean_text('StockCode') }} as raw_stock_code,
        {{ clean_text('Description') }} as raw_description,
        {{ clean_text('Quantity') }} as raw_quantity,
        {{ clean_text('InvoiceDate') }} as raw_invoice_date,
        {{ clean_text('UnitPrice') }} as raw_unit_price,
        -- spreadsheets often turn customer numbers into "17850.0"; with the privacy option the
        -- id is replaced here, before any table holds it (var cartcast_pseudonymize_ids)
        {{ pseudonymize_id(customer_id_text) }} as raw_customer_id,
        {{ clean_text('Country') }} as raw_country
    from source

),

distinct_rows as (

    -- exact duplicates collapse here; `copies` remembers how many raw rows each one stands for
    select
        raw_invoice_no,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_unit_price,
        raw_customer_id,
        raw_country,
        count(*) as copies
    from raw_text
    group by
        raw_invoice_no,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_unit_price,
        raw_customer_id,
        raw_country

),

order_times as (

    -- time-zone conversion is costly per row; invoices share few distinct times
    select
        raw_invoice_date,
        {{ local_to_utc(parse_timestamp('raw_invoice_date'), var('online_retail_timezone')) }}
            as ordered_at
    from (select distinct raw_invoice_date from distinct_rows) as times

),

typed as (

    select
        distinct_rows.*,
        {{ row_fingerprint(['distinct_rows.raw_invoice_no', 'distinct_rows.raw_stock_code',
                            'distinct_rows.raw_description', 'distinct_rows.raw_quantity',
                            'distinct_rows.raw_invoice_date', 'distinct_rows.raw_unit_price',
                            'distinct_rows.raw_customer_id', 'distinct_rows.raw_country']) }}
            as row_fingerprint,
        {{ integer_or_null('distinct_rows.raw_quantity') }} as quantity,
        -- nan, inf and sub-penny dust fail or round to 0 here, and are quarantined below
        try_cast(distinct_rows.raw_unit_price as decimal(18, 4)) as unit_price,
        order_times.ordered_at
    from distinct_rows
    left join order_times
        on distinct_rows.raw_invoice_date = order_times.raw_invoice_date

),

judged as (

    select
        *,
        case
            when raw_invoice_no is null then 'missing_order_id'
            when raw_invoice_no like 'A%' then 'accounting_adjustment'
            when raw_stock_code is null then 'missing_product_id'
            when raw_invoice_date is null then 'missing_time'
            when ordered_at is null then 'unparseable_time'
            when ordered_at < cast('{{ var("min_valid_time") }}' as timestamp) then 'time_too_old'
            when ordered_at > {{ cartcast_now() }} then 'future_time'
            when quantity is null then 'unparseable_quantity'
            when quantity = 0 then 'zero_quantity'
            when abs(quantity) > {{ var('max_abs_quantity') }} then 'absurd_quantity'
            when unit_price is null then 'unparseable_price'
            when unit_price <= 0 then 'non_positive_price'
            when unit_price > {{ var('max_unit_price') }} then 'absurd_price'
            when raw_customer_id is null then 'missing_customer_id'
            when raw_invoice_no like 'C%' and quantity > 0 then 'positive_quantity_on_cancellation'
            when raw_invoice_no not like 'C%' and quantity < 0 then 'negative_quantity_not_cancellation'
        end as quarantine_reason
    from typed

),

final as (

    select
        row_fingerprint,
        copies,
        copies - 1 as removed_duplicates,
        quarantine_reason,
        raw_invoice_no,
        raw_stock_code,
        raw_description,
        raw_quantity,
        raw_invoice_date,
        raw_unit_price,
        raw_customer_id,
        raw_country,
        quantity,
        unit_price,
        ordered_at
    from judged

)

select * from final
