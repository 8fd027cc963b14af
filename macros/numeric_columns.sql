{#- The numeric columns a model's YAML declares (its contract), but the keys: what drift is
    measured on. Read from the graph, so a feature added to a mart is monitored without an
    edit here. -#}
{% macro cartcast_numeric_columns(model_name, exclude=[]) %}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.name == model_name -%}
                {%- for column in node.columns.values() -%}
                    {%- if column.data_type in ('double', 'bigint', 'integer')
                        and column.name not in exclude -%}
                        {%- do found.append(column.name) -%}
                    {%- endif -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{% endmacro %}
