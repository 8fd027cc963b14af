{#- Population stability index per feature, between the training split of the model version
    (its bins in ml.model_reference) and each scored as_of. Bin rule as in
    scoring/reference.py: bin 0 holds missing values; a value is in bin b when
    lower_bound <= value < upper_bound (a null bound is infinite). Shares are floored at
    1e-4 before the log, so an empty bin on either side counts as rare, not infinite. -#}
{%- set scored = var('scored_models') -%}

with

reference as (
    select * from {{ source('ml', 'model_reference') }}
),

{% for name, model in scored.items() %}
{{ name }}_scores as (
    select * from {{ ref(name) }}
),

{{ name }}_features as (
    select * from {{ ref(model.features) }}
),

{{ name }}_scored_features as (
    select
        {{ name }}_scores.model_name,
        {{ name }}_scores.model_version,
        {{ name }}_features.*
    from {{ name }}_scores
    inner join {{ name }}_features
        on {{ name }}_scores.{{ model.key }} = {{ name }}_features.{{ model.key }}
        and {{ name }}_scores.as_of = {{ name }}_features.as_of
),

{% endfor -%}

observed as (
    {%- set branches = [] %}
    {%- for name, model in scored.items() %}
        {%- for column in cartcast_numeric_columns(model.features, [model.key]) %}
            {%- do branches.append(
                "select model_name, model_version, as_of, '" ~ column ~ "' as feature, "
                ~ "cast(" ~ column ~ " as double) as value from " ~ name ~ "_scored_features"
            ) %}
        {%- endfor %}
    {%- endfor %}
    {{ branches | join('\n    union all\n    ') if branches else "select null as model_name, null as model_version, null as as_of, null as feature, null as value where false" }}
),

populations as (
    select
        model_name,
        model_version,
        as_of,
        feature,
        count(*) as rows
    from observed
    group by model_name, model_version, as_of, feature
),

binned as (
    select
        observed.model_name,
        observed.model_version,
        observed.as_of,
        observed.feature,
        reference.bin,
        count(*) as rows_in_bin
    from observed
    inner join reference
        on observed.model_name = reference.model_name
        and observed.model_version = reference.model_version
        and observed.feature = reference.feature
        and (
            (reference.bin = 0 and observed.value is null)
            or (
                reference.bin > 0
                and observed.value is not null
                and (reference.lower_bound is null or observed.value >= reference.lower_bound)
                and (reference.upper_bound is null or observed.value < reference.upper_bound)
            )
        )
    group by observed.model_name, observed.model_version, observed.as_of, observed.feature,
        reference.bin
),

shares as (
    select
        populations.model_name,
        populations.model_version,
        populations.as_of,
        populations.feature,
        populations.rows,
        greatest(reference.expected_share, 1e-4) as expected,
        greatest(coalesce(binned.rows_in_bin, 0) * 1.0 / populations.rows, 1e-4) as actual
    from populations
    inner join reference
        on populations.model_name = reference.model_name
        and populations.model_version = reference.model_version
        and populations.feature = reference.feature
    left join binned
        on binned.model_name = populations.model_name
        and binned.model_version = populations.model_version
        and binned.as_of = populations.as_of
        and binned.feature = populations.feature
        and binned.bin = reference.bin
),

psi as (
    select
        model_name,
        model_version,
        as_of,
        feature,
        max(rows) as rows,
        sum((actual - expected) * ln(actual / expected)) as psi
    from shares
    group by model_name, model_version, as_of, feature
),

final as (
    select
        model_name,
        model_version,
        as_of,
        feature,
        psi,
        rows,
        case
            when psi >= {{ var('psi_major') }} then 'major'
            when psi >= {{ var('psi_moderate') }} then 'moderate'
            else 'stable'
        end as drift_level
    from psi
)

select * from final
