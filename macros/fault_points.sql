{#- A model's fault point (see cartcast/warehouse/faults.py): run as every model's post-hook,
    after the model's write and before its commit. It renders to nothing, so dbt runs no
    statement, unless the environment variable CARTCAST_FAULT_POINT names this model
    ("dbt:<model>"): then the SQL function the cartcast plugin registers kills dbt there.
    Crash tests use it to stop a build mid-write at a known moment. -#}
{% macro cartcast_fault_point() %}
    {%- set point = 'dbt:' ~ this.identifier -%}
    {%- if execute and env_var('CARTCAST_FAULT_POINT', '') == point -%}
        select cartcast_fault_point('{{ point }}')
    {%- endif -%}
{% endmacro %}
