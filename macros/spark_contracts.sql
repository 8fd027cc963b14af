{#- Contracts are written once, in DuckDB's type names (varchar, integer, double[],
    float[64]). On Spark each is read as Spark's own (string, int, array<double>,
    array<float>), so the same YAML enforces the same columns on both engines. -#}
{% macro cartcast_spark_type(data_type) -%}
    {%- set t = data_type | trim | lower -%}
    {%- if t.endswith(']') -%}
        {%- set element = t[:t.index('[')] -%}
        {{- return('array<' ~ cartcast_spark_type(element) ~ '>') -}}
    {%- endif -%}
    {{- return({'varchar': 'string', 'text': 'string', 'integer': 'int'}.get(t, t)) -}}
{%- endmacro %}

{% macro spark__get_empty_schema_sql(columns) %}
    {%- set translated = {} -%}
    {%- for name, column in columns.items() -%}
        {%- set copy = column.copy() -%}
        {%- if copy.get('data_type') -%}
            {%- do copy.update({'data_type': cartcast_spark_type(copy['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: copy}) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(translated)) }}
{% endmacro %}
