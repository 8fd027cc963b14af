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

{#- The spread from n * sum(x^2) - sum(x)^2, worked out in decimals over the values rounded
    to nine places: exact, so the same on every run, and exactly zero when the values are all
    equal (summing squares in double leaves a little noise that the square root turns into
    1e-6). The products fit 38 digits while sum(x^2) * count(x) stays below 1e20, far above
    day counts. -#}
{% macro exact_stddev_samp(expr) -%}
    {{ return(adapter.dispatch('exact_stddev_samp', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__exact_stddev_samp(expr) -%}
    {%- set value = 'cast(' ~ expr ~ ' as decimal(18, 9))' -%}
    case when count({{ expr }}) > 1 then sqrt(
        cast(
            count({{ expr }}) * sum({{ value }} * {{ value }})
            - sum({{ value }}) * sum({{ value }})
            as double
        ) / (count({{ expr }}) * (count({{ expr }}) - 1))
    ) end
{%- endmacro %}
{#- Spark keeps only six places of a product of two 38-digit decimals, so the sums above would
    not be exact there: its own stddev_samp is as close as it gets. -#}
{% macro spark__exact_stddev_samp(expr) -%}
    stddev_samp({{ expr }})
{%- endmacro %}
