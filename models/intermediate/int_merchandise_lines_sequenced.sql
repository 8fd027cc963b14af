{#- Each customer's bought products in time order, numbered, for recent-history sequences. -#}
with

order_lines as (

    select * from {{ ref(var('orders_lines_model')) }}
    where status = 'completed' and is_merchandise

),

final as (

    select
        customer_id,
        order_id,
        ordered_at,
        product_id,
        quantity,
        row_number() over (
            partition by customer_id order by ordered_at, order_id, product_id, order_line_id
        ) as line_number
    from order_lines

)

select * from final
