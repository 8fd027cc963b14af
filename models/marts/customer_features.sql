{{ config(**parquet_mart_config()) }}
{#-
  Customer features as of each snapshot, written as Parquet for Feast (FileSource) and
  exposed as a view in `marts`. Built incrementally upstream; this copy is cheap.
-#}
with

snapshot_features as (

    select * from {{ ref('int_customer_snapshot_features') }}

),

final as (

    select * from snapshot_features

)

select * from final
order by as_of, customer_id
