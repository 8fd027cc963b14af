{#-
  One row per merchandise product: its most frequent description over the order lines (ties go
  to the alphabetically first), which the text encoder reads. Products whose lines never carry
  a description keep a null one.
-#}
with

order_lines as (

    select * from {{ ref(var('orders_lines_model')) }}
    where is_merchandise

),

described as (

    select
        product_id,
        trim(description) as description,
        count(*) as line_count
    from order_lines
    group by product_id, trim(description)

),

ranked as (

    select
        product_id,
        description,
        line_count,
        sum(line_count) over (partition by product_id) as product_lines,
        row_number() over (
            partition by product_id
            order by case when description is null or description = '' then 1 else 0 end,
                line_count desc, description
        ) as rank_in_product
    from described

),

final as (

    select
        product_id,
        nullif(description, '') as description,
        cast(product_lines as bigint) as line_count
    from ranked
    where rank_in_product = 1

)

select * from final
