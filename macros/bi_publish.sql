{#- The project's on-run-end hook: after a `dbt build` or `dbt run` in which nothing failed,
    publish the tables BI tools read (predictions, monitoring, the registry's description of
    each model) as a read-only copy beside the warehouse (cartcast/bi/publish.py). Dashboards
    read that copy, so they keep working while a later build holds the warehouse file, and
    they see the previous complete build until this one is published.

    dbt is the only process that may open the warehouse while it runs, so the COPY statements
    run here, on dbt's connection; the functions the cartcast plugin registers
    (udfs/bi_publish.py) plan them and then load and swap in the new copy. A run that scored
    nothing publishes only when no copy exists yet. On another engine (dbt-spark) it does
    nothing: the functions exist on cartcast's DuckDB connection only. It renders to no
    statement. -#}
{% macro cartcast_publish_bi() %}
    {%- if execute and target.type == 'duckdb' and flags.WHICH in ('build', 'run') -%}
        {%- set failed = [] -%}
        {%- set changed = [] -%}
        {%- for result in results -%}
            {%- if result.status in ('error', 'fail', 'runtime error') -%}
                {%- do failed.append(result.node.unique_id) -%}
            {%- endif -%}
            {%- if 'scoring' in result.node.tags -%}
                {%- do changed.append(result.node.unique_id) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not failed -%}
            {%- set database -%}
                (select path from duckdb_databases() where database_name = current_database())
            {%- endset -%}
            {%- set tables -%}
                (select list(table_schema || '.' || table_name) from information_schema.tables
                 where table_catalog = current_database())
            {%- endset -%}
            {%- set build_id = run_query(
                "select cartcast_bi_build_id('" ~ invocation_id ~ "')"
            ).columns[0].values()[0] -%}
            {%- set statements = run_query(
                "select unnest(cartcast_bi_plan('" ~ build_id ~ "', " ~ database ~ ", "
                ~ tables ~ ", " ~ (changed | length > 0) ~ "))"
            ).columns[0].values() -%}
            {%- if statements | length > 0 -%}
                {%- for statement in statements -%}
                    {%- do run_query(statement) -%}
                {%- endfor -%}
                {%- set published = run_query(
                    "select cartcast_bi_activate('" ~ build_id ~ "', " ~ database
                    ~ ", 'dbt " ~ flags.WHICH ~ "')"
                ).columns[0].values()[0] -%}
                {%- do log(published, info=True) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
