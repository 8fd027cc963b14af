{#- The newest score of each entity from the model's current champion: what a BI tool shows
    as "the" prediction. A promotion or rollback changes it without rescoring. -#}
{% macro cartcast_latest_predictions(predictions, key, model_name) %}
with predictions as (
    select * from {{ predictions }}
),

registry as (
    select * from {{ source('ml', 'model_registry') }}
),

champion as (
    select version
    from registry
    where name = '{{ model_name }}'
        and status = 'champion'
),

champion_predictions as (
    select
        predictions.*,
        row_number() over (
            partition by predictions.{{ key }}
            order by predictions.as_of desc
        ) as recency
    from predictions
    inner join champion
        on predictions.model_version = champion.version
),

final as (
    select
        {{ key }},
        as_of,
        score,
        score_rank,
        score_decile,
        model_name,
        model_version,
        scored_at,
        reasons
    from champion_predictions
    where recency = 1
)

select * from final
{% endmacro %}
