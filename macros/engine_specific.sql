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
    md5(concat_ws('|', {% for c in columns %}coalesce(cast({{ c }} as varchar), '<null>'){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{% macro is_weekend(expr) -%}
    {{ return(adapter.dispatch('is_weekend', 'cartcast')(expr)) }}
{%- endmacro %}
{% macro default__is_weekend(expr) -%}
    (isodow({{ expr }}) in (6, 7))
{%- endmacro %}

{# Seconds between two timestamps as a double (exact for second-resolution data). #}
{% macro days_between(start_expr, end_expr) -%}
    ({{ dbt.datediff(start_expr, end_expr, 'second') }} / 86400.0)
{%- endmacro %}
{% macro minutes_between(start_expr, end_expr) -%}
    ({{ dbt.datediff(start_expr, end_expr, 'second') }} / 60.0)
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
