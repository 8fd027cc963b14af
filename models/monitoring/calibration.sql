{#- Predicted against observed by score decile (1 = top tenth), per matured as_of: for a
    well-calibrated model the two columns agree in every decile. -#}
with

outcomes as (
    select * from {{ ref('int_scores_with_outcomes') }}
),

final as (
    select
        model_name,
        model_version,
        as_of,
        score_decile,
        count(*) as rows,
        {{ exact_avg('score') }} as mean_score,
        {{ exact_avg('outcome') }} as mean_outcome
    from outcomes
    group by model_name, model_version, as_of, score_decile
)

select * from final
