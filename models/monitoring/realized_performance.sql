{#- How each model did on every scored as_of whose labels have matured. ROC-AUC is the
    Mann-Whitney statistic with tied scores at their average rank. -#}
with

outcomes as (
    select * from {{ ref('int_scores_with_outcomes') }}
),

ranked as (
    select
        *,
        rank() over (
            partition by model_name, model_version, as_of order by score
        ) + (count(*) over (
            partition by model_name, model_version, as_of, score
        ) - 1) / 2.0 as score_rank_average
    from outcomes
),

per_as_of as (
    select
        model_name,
        model_version,
        as_of,
        task,
        count(*) as rows,
        sum(case when outcome > 0 then 1 else 0 end) as positives,
        {{ exact_sum('case when outcome > 0 then score_rank_average else 0 end') }}
            as positive_rank_sum,
        {{ exact_avg('score') }} as mean_score,
        {{ exact_avg('outcome') }} as observed_rate,
        {{ exact_avg('(score - outcome) * (score - outcome)') }} as squared_error,
        {{ exact_avg('abs(score - outcome)') }} as absolute_error
    from ranked
    group by model_name, model_version, as_of, task
),

final as (
    select
        model_name,
        model_version,
        as_of,
        rows,
        case when task = 'binary'
            then positives end as positives,
        case
            when task = 'binary'
                and positives > 0 and positives < rows
            then (positive_rank_sum - positives * (positives + 1) / 2.0)
                / (positives * (rows - positives))
        end as roc_auc,
        mean_score,
        observed_rate,
        case when task = 'binary'
            then squared_error end as brier,
        case when task = 'regression'
            then absolute_error end as mae,
        case when task = 'regression'
            then sqrt(squared_error) end as rmse
    from per_as_of
)

select * from final
