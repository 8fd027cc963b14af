{%- set scored = var('scored_models') -%}

with

{% for name in scored %}
{{ name }} as (
    select * from {{ ref(name) }}
),

{% endfor -%}

scores as (
    {% for name in scored %}
    select model_name, model_version, as_of, score from {{ name }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        model_name,
        model_version,
        as_of,
        count(*) as rows,
        {{ exact_avg('score') }} as mean_score,
        {{ exact_stddev_samp('score') }} as stddev_score,
        min(score) as min_score,
        percentile_cont(0.1) within group (order by score) as p10,
        percentile_cont(0.5) within group (order by score) as p50,
        percentile_cont(0.9) within group (order by score) as p90,
        max(score) as max_score
    from scores
    group by model_name, model_version, as_of
)

select * from final
