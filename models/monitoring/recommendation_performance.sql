{#-
  Sums and means are exact (decimal), so a rerun gives the same table to the last bit.
  How each next_products version's lists did on every scored as_of whose 30 days have passed,
  for the customers who bought merchandise in those 30 days (the protocol of the recommender's
  validation table): HR@10 (any bought product in the top 10), Recall@10 (share of the bought
  products in it), NDCG@10, and HR@10 on products new to the customer (bought in the window,
  never before as_of) over the customers who bought any.
-#}
with

lists as (

    select customer_id, as_of, model_version, rank, product_id
    from {{ ref('next_products') }}
    where rank <= 10

),

lines as (

    select customer_id, product_id, ordered_at
    from {{ ref('int_merchandise_lines_sequenced') }}

),

first_bought as (

    select customer_id, product_id, min(first_ordered_at) as first_ordered_at
    from {{ ref('int_customer_product_days') }}
    group by customer_id, product_id

),

observed as (

    select max(ordered_at) as observed_until from lines

),

snapshots as (

    select distinct lists.customer_id, lists.as_of
    from lists
    cross join observed
    where {{ dbt.dateadd('day', 30, 'lists.as_of') }} <= observed.observed_until

),

bought as (

    select distinct
        snapshots.customer_id,
        snapshots.as_of,
        lines.product_id
    from snapshots
    inner join lines
        on lines.customer_id = snapshots.customer_id
        and lines.ordered_at >= snapshots.as_of
        and lines.ordered_at < {{ dbt.dateadd('day', 30, 'snapshots.as_of') }}

),

bought_flagged as (

    select
        bought.*,
        first_bought.first_ordered_at >= bought.as_of as is_new
    from bought
    inner join first_bought
        on first_bought.customer_id = bought.customer_id
        and first_bought.product_id = bought.product_id

),

bought_counts as (

    select
        customer_id,
        as_of,
        count(*) as products_bought,
        sum(case when is_new then 1 else 0 end) as new_products_bought
    from bought_flagged
    group by customer_id, as_of

),

hits as (

    select
        lists.customer_id,
        lists.as_of,
        lists.model_version,
        count(bought_flagged.product_id) as hits,
        sum(case when bought_flagged.is_new then 1 else 0 end) as new_hits,
        {{ exact_sum(
            'case when bought_flagged.product_id is not null
                then ln(2) / ln(lists.rank + 1) else 0 end'
        ) }} as dcg
    from lists
    inner join bought_counts
        on bought_counts.customer_id = lists.customer_id
        and bought_counts.as_of = lists.as_of
    left join bought_flagged
        on bought_flagged.customer_id = lists.customer_id
        and bought_flagged.as_of = lists.as_of
        and bought_flagged.product_id = lists.product_id
    group by lists.customer_id, lists.as_of, lists.model_version

),

ideal as (

    -- the best possible DCG of a list of 10 for n bought products: n hits at the top
    select
        positions.n as products_bought,
        {{ exact_sum('ln(2) / ln(steps.position + 1)') }} as idcg
    from (select range + 1 as n from range(10)) as positions
    inner join (select range + 1 as position from range(10)) as steps
        on steps.position <= positions.n
    group by positions.n

),

per_customer as (

    select
        hits.model_version,
        hits.as_of,
        hits.hits,
        hits.new_hits,
        bought_counts.products_bought,
        bought_counts.new_products_bought,
        hits.dcg / ideal.idcg as ndcg
    from hits
    inner join bought_counts
        on bought_counts.customer_id = hits.customer_id
        and bought_counts.as_of = hits.as_of
    inner join ideal
        on ideal.products_bought = least(bought_counts.products_bought, 10)

),

final as (

    select
        'next_products' as model_name,
        model_version,
        as_of,
        count(*) as customers,
        {{ exact_avg('case when hits > 0 then 1.0 else 0.0 end') }} as hr_at_10,
        {{ exact_avg('hits * 1.0 / products_bought') }} as recall_at_10,
        {{ exact_avg('ndcg') }} as ndcg_at_10,
        sum(case when new_products_bought > 0 then 1 else 0 end) as customers_with_new,
        {{ exact_avg('case when new_products_bought > 0
            then (case when new_hits > 0 then 1.0 else 0.0 end) end') }} as new_hr_at_10
    from per_customer
    group by model_version, as_of

)

select * from final
order by model_version, as_of
