{#-
  Building a list-making mart in slices of its entities, so that it fits DuckDB's memory cap.

  DuckDB's hash aggregate keeps the state of every `list()` group in memory and does not spill
  it: a mart that makes lists per (customer, snapshot) needs memory in proportion to all its
  groups at once (at 10M order lines more than the machine has). Built slice by slice (the
  entities whose id hashes to 0, 1, ... modulo the slice count), each step holds one slice's
  groups, and the mart's rows are the same.

  A model opts in with
      config(..., slicing={'rows_of': '<model>', 'bytes_per_row': <n>})
  and filters every import CTE that carries the entity with `where {{ in_slice('<id>') }}`.
  The count of slices is sized at build time: the rows of `rows_of` times `bytes_per_row`
  (measured for the model) over the share `slice_memory_share` of the memory cap (dbt runs
  two models at once, both under the one cap). The var `slices` forces a count.
  Spark builds a model in one step (its aggregates spill), so there `in_slice` is `true`.
-#}

{%- macro slice_variable(name, what) -%}
    cartcast_{{ what }}__{{ name }}
{%- endmacro -%}

{#- The filter an import CTE adds: its rows of the slice being built (all rows outside a
    sliced build, e.g. `dbt show`, since the variables are then unset). -#}
{% macro in_slice(column) -%}
    {{ return(adapter.dispatch('in_slice', 'cartcast')(column)) }}
{%- endmacro %}
{% macro default__in_slice(column) -%}
    (hash({{ column }}) % coalesce(getvariable('{{ slice_variable(model.name, "slices") }}'), 1)
        = coalesce(getvariable('{{ slice_variable(model.name, "slice") }}'), 0))
{%- endmacro %}
{% macro spark__in_slice(column) -%}
    true
{%- endmacro %}

{#- DuckDB's memory cap in bytes, as DuckDB reports it (e.g. "11.7 GiB"). -#}
{% macro duckdb_memory_limit_bytes() -%}
    {%- set shown = run_query("select current_setting('memory_limit')").columns[0].values()[0] -%}
    {%- set parts = shown.split(' ') -%}
    {%- set units = {'bytes': 1, 'KiB': 1024, 'MiB': 1024 ** 2, 'GiB': 1024 ** 3,
                     'TiB': 1024 ** 4, 'KB': 1000, 'MB': 1000 ** 2, 'GB': 1000 ** 3,
                     'TB': 1000 ** 4} -%}
    {%- if parts | length != 2 or parts[1] not in units -%}
        {{ exceptions.raise_compiler_error(
            "cartcast cannot read DuckDB's memory_limit '" ~ shown ~ "': set "
            ~ "CARTCAST_DUCKDB_MEMORY_LIMIT to a size such as 8GB") }}
    {%- endif -%}
    {{ return((parts[0] | float) * units[parts[1]]) }}
{%- endmacro %}

{#- How many slices this model is built in: 1 unless it opts in and would not fit. -#}
{% macro slice_count() -%}
    {%- set slicing = config.get('slicing') -%}
    {%- if not slicing or not execute -%}
        {{ return(1) }}
    {%- endif -%}
    {%- set forced = var('slices', none) -%}
    {%- if forced is not none -%}
        {%- if (forced | int) < 1 -%}
            {{ exceptions.raise_compiler_error(
                "var 'slices' must be a whole number of at least 1, not '" ~ forced ~ "'") }}
        {%- endif -%}
        {{ return(forced | int) }}
    {%- endif -%}
    {%- set rows = run_query('select count(*) from ' ~ ref(slicing['rows_of'])).columns[0].values()[0] -%}
    {%- set budget = duckdb_memory_limit_bytes() * (var('slice_memory_share') | float) -%}
    {%- set needed = rows * slicing['bytes_per_row'] -%}
    {{ return([1, (needed / budget) | round(0, 'ceil') | int] | max) }}
{%- endmacro %}

{#- dbt-duckdb's create_table_as (which the `external` and `table` materializations call),
    run once per slice when the model is sliced: the first slice creates the table, the
    others are inserted, all in the materialization's one transaction. -#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set slices = slice_count() if language == 'sql' else 1 -%}
    {%- set created = dbt.duckdb__create_table_as(
        temporary, relation, compiled_code, language, partitioned_by, sorted_by) -%}
    {%- if slices == 1 -%}
        {{ return(created) }}
    {%- endif -%}
    {%- do log(model.name ~ ': built in ' ~ slices ~ ' slices to fit DuckDB memory_limit', info=True) -%}
    {%- set count_name = slice_variable(model.name, 'slices') -%}
    {%- set slice_name = slice_variable(model.name, 'slice') -%}
    set variable {{ count_name }} = {{ slices }};
    set variable {{ slice_name }} = 0;
    {{ created }};
    {% for slice in range(1, slices) %}
    set variable {{ slice_name }} = {{ slice }};
    {% if config.get('contract').enforced -%}
    insert into {{ relation }} {{ get_column_names() }} ({{ get_select_subquery(compiled_code) }});
    {%- else -%}
    insert into {{ relation }} select * from ({{ compiled_code }}) as model_subq;
    {%- endif %}
    {% endfor %}
    reset variable {{ slice_name }};
    reset variable {{ count_name }}
{%- endmacro %}
