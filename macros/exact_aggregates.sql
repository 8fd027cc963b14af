{#- Averages and spreads that a rebuild reproduces bit for bit. Summing doubles in parallel
    adds them in a different order on each run, so the last bits of avg() and stddev_samp()
    change from build to build; summing fixed-point decimals is exact, so the result does not
    depend on the order. Twelve decimals keep far more precision than scores carry. -#}

{% macro exact_avg(expr) -%}
    cast(avg(cast({{ expr }} as decimal(38, 12))) as double)
{%- endmacro %}

{% macro exact_sum(expr) -%}
    cast(sum(cast({{ expr }} as decimal(38, 12))) as double)
{%- endmacro %}

{#- Squares are taken per row in double (the same on every run) and summed as decimal(38, 6);
    multiplying two decimal(38, 12) sums would overflow 38 digits for amounts like spend. -#}
{% macro exact_stddev_samp(expr) -%}
    case when count({{ expr }}) > 1 then sqrt(greatest(0,
        (
            cast(sum(cast(cast({{ expr }} as double) * cast({{ expr }} as double)
                as decimal(38, 6))) as double)
            - power(cast(sum(cast({{ expr }} as decimal(38, 12))) as double), 2)
            / count({{ expr }})
        ) / (count({{ expr }}) - 1)
    )) end
{%- endmacro %}
