{{ config(tags=["scoring"]) }}

{#- Every score whose label has matured, beside that label (the outcome). -#}
{%- set scored = var('scored_models') -%}

with

{% for name, model in scored.items() %}
{{ name }}_scores as (
    select * from {{ ref(name) }}
),

{{ name }}_labels as (
    select * from {{ ref(model.labels) }}
),

{% endfor -%}

joined as (
    {% for name, model in scored.items() %}
    select
        {{ name }}_scores.model_name,
        '{{ model.task }}' as task,
        {{ name }}_scores.model_version,
        {{ name }}_scores.as_of,
        {{ name }}_scores.score,
        {{ name }}_scores.score_decile,
        cast({{ name }}_labels.{{ model.label }} as double) as outcome
    from {{ name }}_scores
    inner join {{ name }}_labels
        on {{ name }}_scores.{{ model.key }} = {{ name }}_labels.{{ model.key }}
        and {{ name }}_scores.as_of = {{ name }}_labels.as_of
    where {{ name }}_labels.{{ model.label }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select * from joined
)

select * from final
