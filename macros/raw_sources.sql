{#- On Spark, each source is a table over its raw file, (re)declared at the start of every run
    from the var `spark_raw_files` ("<source>.<table>": {path, header, format}). A CSV file
    (format csv, the default) is read with every column as text, as DuckDB's
    read_csv(all_varchar) reads it, quotes inside quoted fields doubled (RFC 4180, not Spark's
    default backslash): with a header line it keeps its own column names (so checked_source
    still finds a missing one); headerless, it gets the columns its source YAML documents, in
    order. A Parquet file (format parquet) keeps its own column names and types. On DuckDB the
    sources are the vars' relation expressions (external_location) and this does nothing.
    Renders to no statement. -#}
{% macro cartcast_register_raw_sources() %}
    {{ return(adapter.dispatch('cartcast_register_raw_sources', 'cartcast')()) }}
{% endmacro %}

{% macro default__cartcast_register_raw_sources() %}{% endmacro %}

{% macro spark__cartcast_register_raw_sources() %}
    {%- if execute -%}
        {%- set files = var('spark_raw_files', {}) -%}
        {#- the raw-file sources (those read through external_location on DuckDB); the model
            registry is a source too, and is left alone -#}
        {%- for node in graph.sources.values() if node.config.get('external_location') -%}
            {%- set key = node.source_name ~ '.' ~ node.name -%}
            {%- set file = files.get(key) -%}
            {%- if file is none -%}
                {{ exceptions.raise_compiler_error(
                    "On Spark every source needs its raw file: var spark_raw_files has no entry "
                    ~ "for " ~ key ~ " (rule: spark_raw_file_required). Add "
                    ~ "{\"" ~ key ~ "\": {\"path\": \"<file>\", \"header\": true}}."
                ) }}
            {%- endif -%}
            {#- Spark reads a relative location against the table's database folder, not
                the project: relative paths are made absolute here -#}
            {%- set path = file.path -%}
            {%- if not path.startswith('/') and '://' not in path -%}
                {%- set project = env_var('DBT_PROJECT_DIR', '') -%}
                {%- if not project -%}
                    {{ exceptions.raise_compiler_error(
                        "var spark_raw_files names " ~ key ~ " by the relative path " ~ path
                        ~ ", and DBT_PROJECT_DIR is not set to resolve it (rule: "
                        ~ "spark_raw_file_path). Give an absolute path, or run through "
                        ~ "`cartcast build --engine spark`, which sets it."
                    ) }}
                {%- endif -%}
                {%- set path = project ~ '/' ~ path -%}
            {%- endif -%}
            {%- set header = file.get('header', true) -%}
            {%- set columns -%}
                {%- if not header -%}
                    ({% for column in node.columns.keys() %}`{{ column }}` string{% if not loop.last %}, {% endif %}{% endfor %})
                {%- endif -%}
            {%- endset -%}
            {%- if file.get('format', 'csv') == 'parquet' -%}
                {%- set reader = "using parquet options (path '" ~ path ~ "')" -%}
            {%- else -%}
                {%- set reader = columns ~ " using csv options (path '" ~ path
                    ~ "', header '" ~ (header | string | lower)
                    ~ "', escape '\"', mode 'PERMISSIVE')" -%}
            {%- endif -%}
            {%- do run_query("create database if not exists " ~ node.schema) -%}
            {%- do run_query("drop table if exists " ~ node.schema ~ "." ~ node.identifier) -%}
            {%- do run_query("create table " ~ node.schema ~ "." ~ node.identifier ~ " " ~ reader) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
