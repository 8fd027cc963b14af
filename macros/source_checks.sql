{#- A source relation, after checking it has every column its YAML documents. Without this a
    file missing a column fails deep in a model with "Referenced column not found"; here the
    build stops naming the input, the column and the rule. Extra columns are allowed (ignored). -#}
{% macro checked_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute -%}
        {%- set node = graph.sources.values()
            | selectattr('source_name', 'equalto', source_name)
            | selectattr('name', 'equalto', table_name) | first -%}
        {%- set required = node.columns.keys() | list -%}
        {%- set found = cartcast.relation_column_names(relation) -%}
        {%- set found_lower = found | map('lower') | list -%}
        {%- set missing = [] -%}
        {%- for column in required if column | lower not in found_lower -%}
            {%- do missing.append(column) -%}
        {%- endfor -%}
        {%- if missing -%}
            {%- set hint = ' The file looks empty (no header line).' if found == ['column0'] else '' -%}
            {{ exceptions.raise_compiler_error(
                "Raw input " ~ relation ~ " (source " ~ source_name ~ "." ~ table_name ~ ") has no column "
                ~ missing | join(', ') ~ " (rule: required_columns). Columns found: "
                ~ found | join(', ') ~ "." ~ hint
            ) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}
