{#-
  Every piece of engine-specific SQL lives here, behind a macro with a portable name.
  Models call these instead of DuckDB functions, so moving to Spark or Trino means adding
  a dispatch implementation in this file, not editing models.
-#}

{# The moment rows are judged against ("future time"). A fixed var makes reruns reproducible. #}
{% macro cartcast_now() -%}
    {%- if var('cartcast_now', none) -%}
        cast('{{ var("cartcast_now") }}' as timestamp)
    {%- else -%}
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
    {%- endif -%}
{%- endmacro %}

{% macro parse_timestamp(expr) -%}
    {{ return(adapter.dispatch('parse_timestamp', 'cartcast')(expr)) }}
{%- endmacro %}
{#- Only these layouts; anything else is quarantined rather than guessed at. -#}
{% macro default__parse_timestamp(expr) -%}
    coalesce(
        try_strptime({{ expr }}, '%Y-%m-%d %H:%M:%S'),
        try_strptime({{ expr }}, '%Y-%m-%d %H:%M'),
        try_strptime({{ expr }}, '%m/%d/%Y %H:%M')
    )
{%- endmacro %}

{# Text with surrounding spaces, tabs and line breaks removed; empty text becomes null. #}
{% macro clean_text(expr) -%}
    {{ return(adapter.dispatch('clean_text', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__clean_text(expr) -%}
    nullif(trim(cast({{ expr }} as varchar), ' ' || chr(9) || chr(10) || chr(13)), '')
{%- endmacro %}

{# An integer written as digits with an optional minus sign, else null ("5.5" is not one). #}
{% macro integer_or_null(expr) -%}
    {{ return(adapter.dispatch('integer_or_null', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__integer_or_null(expr) -%}
    case when regexp_full_match({{ expr }}, '-?[0-9]{1,18}') then cast({{ expr }} as bigint) end
{%- endmacro %}

{#- Naive local wall-clock time in `tz` -> naive UTC timestamp. A wall time that occurs twice
    (autumn) is read in standard time; one skipped in spring, with the offset before the change. -#}
{% macro local_to_utc(expr, tz) -%}
    {{ return(adapter.dispatch('local_to_utc', 'cartcast')(expr, tz)) }}
{%- endmacro %}
{% macro default__local_to_utc(expr, tz) -%}
    cast(timezone('UTC', timezone('{{ tz }}', {{ expr }})) as timestamp)
{%- endmacro %}

{% macro epoch_seconds_to_timestamp(expr) -%}
    {{ return(adapter.dispatch('epoch_seconds_to_timestamp', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__epoch_seconds_to_timestamp(expr) -%}
    make_timestamp(cast({{ expr }} as bigint) * 1000000)
{%- endmacro %}

{# Stable row fingerprint of raw values, used to find exact duplicates and as a row key. #}
{% macro row_fingerprint(columns) -%}
    md5(concat_ws('|', {% for c in columns %}coalesce(cast({{ c }} as string), '<null>'){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{% macro is_weekend(expr) -%}
    {{ return(adapter.dispatch('is_weekend', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__is_weekend(expr) -%}
    (isodow({{ expr }}) in (6, 7))
{%- endmacro %}

{# Seconds between two timestamps as a double (exact for second-resolution data). #}
{% macro days_between(start_expr, end_expr) -%}
    ({{ dbt.datediff(start_expr, end_expr, 'second') }} / cast(86400 as double))
{%- endmacro %}
{% macro minutes_between(start_expr, end_expr) -%}
    ({{ dbt.datediff(start_expr, end_expr, 'second') }} / cast(60 as double))
{%- endmacro %}

{#- A list of `expr` ordered by the numeric `sort_key`, newest (largest) first. DuckDB's
    `list(x order by k)` holds every group's rows for sorting and ran out of memory at a
    million order lines; sorting a list of (key, value) structs afterwards does not.
    sqlglot changes the meaning of ordered list aggregates when transpiling: test there. -#}
{% macro list_by_key_descending(expr, sort_key) -%}
    {{ return(adapter.dispatch('list_by_key_descending', 'cartcast')(expr, sort_key)) }}
{%- endmacro %}
{% macro default__list_by_key_descending(expr, sort_key) -%}
    list_transform(
        list_reverse_sort(list(struct_pack(k := {{ sort_key }}, v := {{ expr }}))),
        lambda x: x.v
    )
{%- endmacro %}

{#- Elements `first` .. `last` (1-based, inclusive) of a list, the last first. -#}
{% macro list_slice_reversed(list_expr, first, last) -%}
    {{ return(adapter.dispatch('list_slice_reversed', 'cartcast')(list_expr, first, last)) }}
{%- endmacro %}
{% macro default__list_slice_reversed(list_expr, first, last) -%}
    list_reverse(({{ list_expr }})[{{ first }}:{{ last }}])
{%- endmacro %}

{#- `body` (an expression of `var`) applied to each element of a list. -#}
{% macro list_map(list_expr, var, body) -%}
    {{ return(adapter.dispatch('list_map', 'cartcast')(list_expr, var, body)) }}
{%- endmacro %}
{% macro default__list_map(list_expr, var, body) -%}
    list_transform({{ list_expr }}, lambda {{ var }}: {{ body }})
{%- endmacro %}

{# A regular grid of timestamps from start to end inclusive, every `step_seconds`. #}
{% macro timestamp_grid(start_expr, end_expr, step_seconds, column_name) -%}
    {{ return(adapter.dispatch('timestamp_grid', 'cartcast')(start_expr, end_expr, step_seconds, column_name)) }}
{%- endmacro %}
{% macro default__timestamp_grid(start_expr, end_expr, step_seconds, column_name) -%}
    select cast(g.generate_series as timestamp) as {{ column_name }}
    from generate_series(
        cast({{ start_expr }} as timestamp),
        cast({{ end_expr }} as timestamp),
        to_seconds({{ step_seconds }})
    ) as g
{%- endmacro %}

{#- The column names a relation (a table, or a read_csv / read_parquet call) would give, read
    without scanning its rows. Runs a query, so call it only at execution time. -#}
{% macro relation_column_names(relation) -%}
    {{ return(adapter.dispatch('relation_column_names', 'cartcast')(relation)) }}
{%- endmacro %}
{% macro default__relation_column_names(relation) -%}
    {%- set described = run_query('describe select * from ' ~ relation) -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}

{#- A raw customer or user id replaced by its salted sha256 (64 hex characters), or the id
    unchanged when the option is off. cartcast/privacy.py computes the same value in Python,
    so the online scorer can look a customer up by raw id. Null stays null, so the
    missing-id rules still see missing ids. -#}
{% macro pseudonymize_id(expr) -%}
    {{ return(adapter.dispatch('pseudonymize_id', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__pseudonymize_id(expr) -%}
    {%- if cartcast_pseudonymize_ids_enabled() -%}
        sha256('{{ cartcast_id_salt() | replace("'", "''") }}' || ':' || {{ expr }})
    {%- else -%}
        {{ expr }}
    {%- endif -%}
{%- endmacro %}

{#-
  Spark (dbt-spark). Spark 4 runs in ANSI mode: a cast that cannot succeed raises, so text
  is tested before it is cast (integer_or_null) or read with the try_ functions.
-#}
{% macro spark__parse_timestamp(expr) -%}
    coalesce(
        try_to_timestamp({{ expr }}, 'yyyy-MM-dd HH:mm:ss'),
        try_to_timestamp({{ expr }}, 'yyyy-MM-dd HH:mm'),
        try_to_timestamp({{ expr }}, 'M/d/yyyy H:mm')
    )
{%- endmacro %}

{% macro spark__clean_text(expr) -%}
    nullif(trim(both concat(' ', chr(9), chr(10), chr(13)) from cast({{ expr }} as string)), '')
{%- endmacro %}

{% macro spark__integer_or_null(expr) -%}
    case when {{ expr }} rlike '^-?[0-9]{1,18}$' then cast({{ expr }} as bigint) end
{%- endmacro %}

{% macro spark__local_to_utc(expr, tz) -%}
    to_utc_timestamp({{ expr }}, '{{ tz }}')
{%- endmacro %}

{% macro spark__epoch_seconds_to_timestamp(expr) -%}
    cast(timestamp_seconds(cast({{ expr }} as bigint)) as timestamp)
{%- endmacro %}

{% macro spark__is_weekend(expr) -%}
    (dayofweek({{ expr }}) in (1, 7))
{%- endmacro %}

{% macro spark__list_by_key_descending(expr, sort_key) -%}
    transform(
        reverse(array_sort(collect_list(named_struct('k', {{ sort_key }}, 'v', {{ expr }})))),
        x -> x.v
    )
{%- endmacro %}

{% macro spark__list_slice_reversed(list_expr, first, last) -%}
    reverse(slice({{ list_expr }}, {{ first }}, {{ last }} - ({{ first }}) + 1))
{%- endmacro %}

{% macro spark__list_map(list_expr, var, body) -%}
    transform({{ list_expr }}, {{ var }} -> {{ body }})
{%- endmacro %}

{% macro spark__timestamp_grid(start_expr, end_expr, step_seconds, column_name) -%}
    select explode(sequence(
        cast({{ start_expr }} as timestamp),
        cast({{ end_expr }} as timestamp),
        make_dt_interval(0, 0, 0, {{ step_seconds }})
    )) as {{ column_name }}
{%- endmacro %}

{% macro spark__relation_column_names(relation) -%}
    {%- set described = run_query('describe query select * from ' ~ relation) -%}
    {{ return(described.columns[0].values() | list) }}
{%- endmacro %}

{% macro spark__pseudonymize_id(expr) -%}
    {%- if cartcast_pseudonymize_ids_enabled() -%}
        {#- Spark reads backslash escapes in string literals: both are escaped -#}
        sha2(concat('{{ cartcast_id_salt() | replace("\\", "\\\\") | replace("'", "\\'") }}', ':', {{ expr }}), 256)
    {%- else -%}
        {{ expr }}
    {%- endif -%}
{%- endmacro %}

{#- The clause that makes a plain CREATE TABLE a Parquet table on Spark (nothing on DuckDB). -#}
{% macro cartcast_table_format() -%}
    {{ return(adapter.dispatch('cartcast_table_format', 'cartcast')()) }}
{%- endmacro %}
{% macro default__cartcast_table_format() -%}{%- endmacro %}
{% macro spark__cartcast_table_format() -%} using parquet{%- endmacro %}

{#- Replaces every row of `table` with those of `select_sql`, at once (Spark's Parquet tables
    have no DELETE: an INSERT OVERWRITE there). Runs the statements; call it at execution time. -#}
{% macro cartcast_replace_rows(table, select_sql) -%}
    {%- do adapter.dispatch('cartcast_replace_rows', 'cartcast')(table, select_sql) -%}
{%- endmacro %}
{% macro default__cartcast_replace_rows(table, select_sql) -%}
    {%- do run_query("delete from " ~ table) -%}
    {%- do run_query("insert into " ~ table ~ " " ~ select_sql) -%}
{%- endmacro %}
{% macro spark__cartcast_replace_rows(table, select_sql) -%}
    {%- do run_query("insert overwrite table " ~ table ~ " " ~ select_sql) -%}
{%- endmacro %}

{#- A feature mart Feast reads as Parquet. DuckDB: dbt-duckdb's `external` materialization
    (a Parquet file under external_root, and a view over it). Spark: a Parquet table. -#}
{% macro parquet_mart_config() -%}
    {{ return(adapter.dispatch('parquet_mart_config', 'cartcast')()) }}
{%- endmacro %}
{% macro default__parquet_mart_config() -%}
    {{ return({'materialized': 'external', 'format': 'parquet'}) }}
{%- endmacro %}
{#- A managed table, so that a rebuild's DROP removes its files too; Feast reads them where
    Spark keeps them (CARTCAST_MARTS_ENGINE=spark, cartcast.warehouse.paths). -#}
{% macro spark__parquet_mart_config() -%}
    {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
{%- endmacro %}

{#- An incremental model rebuilt snapshot by snapshot: the rows of each `as_of` it computes
    replace that snapshot's rows. DuckDB: delete+insert on the unique key. Spark (Parquet, no
    MERGE): insert_overwrite of the table partitioned by `partition`, which replaces exactly
    the partitions the run writes. -#}
{% macro snapshot_incremental_config(unique_key, partition='as_of') -%}
    {{ return(adapter.dispatch('snapshot_incremental_config', 'cartcast')(unique_key, partition)) }}
{%- endmacro %}
{% macro default__snapshot_incremental_config(unique_key, partition) -%}
    {{ return({'materialized': 'incremental', 'unique_key': unique_key,
               'incremental_strategy': 'delete+insert'}) }}
{%- endmacro %}
{% macro spark__snapshot_incremental_config(unique_key, partition) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
               'partition_by': [partition], 'file_format': 'parquet'}) }}
{%- endmacro %}
