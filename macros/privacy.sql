{#- The privacy option (var `cartcast_pseudonymize_ids`) and its salt (env CARTCAST_ID_SALT).
    The salt is a secret: it comes from the environment, never from vars or files in the repo
    (the one exception, the demo's salt, is public on purpose and protects nothing). -#}

{#- On when the var says so; with the var unset (null, the default), whatever the warehouse was
    last built with (audit.id_mode), so that a plain `dbt build` after `cartcast demo`
    rebuilds the demo's pseudonymized warehouse instead of stopping on id_mode_changed. -#}
{% macro cartcast_pseudonymize_ids_enabled() -%}
    {%- set value = var('cartcast_pseudonymize_ids', none) -%}
    {%- if value is none -%}
        {{ return(cartcast_recorded_id_mode().startswith('pseudonymized')) }}
    {%- endif -%}
    {{ return((value | string | lower) in ('true', '1', 'yes', 'on')) }}
{%- endmacro %}

{#- The id mode stored in audit.id_mode ('raw' when none is stored: a new warehouse). -#}
{% macro cartcast_recorded_id_mode() -%}
    {%- if not execute -%}
        {{ return('raw') }}
    {%- endif -%}
    {%- if adapter.get_relation(database=target.database, schema='audit', identifier='id_mode') is none -%}
        {{ return('raw') }}
    {%- endif -%}
    {%- set stored = run_query("select mode from audit.id_mode") -%}
    {{ return(stored.rows[0][0] if stored.rows | length > 0 else 'raw') }}
{%- endmacro %}

{#- How a salt appears in audit.id_mode: a fingerprint, never the salt. -#}
{% macro cartcast_salt_fingerprint(salt) -%}
    {{ return(local_md5('cartcast:' ~ salt)[:8]) }}
{%- endmacro %}

{#- The salt: CARTCAST_ID_SALT; unset, the public demo salt (var cartcast_demo_id_salt), but
    only for a warehouse the demo built with it, which its recorded fingerprint tells. -#}
{% macro cartcast_id_salt() -%}
    {%- set salt = env_var('CARTCAST_ID_SALT', '') -%}
    {%- set demo = var('cartcast_demo_id_salt') -%}
    {%- if not salt and execute and cartcast_recorded_id_mode()
            == 'pseudonymized (salt ' ~ cartcast_salt_fingerprint(demo) ~ ')' -%}
        {%- set salt = demo -%}
    {%- endif -%}
    {%- if not salt -%}
        {{ exceptions.raise_compiler_error(
            "cartcast_pseudonymize_ids is on but the environment variable CARTCAST_ID_SALT is "
            ~ "empty or not set (rule: id_salt_required). Set it to a long random secret, the same "
            ~ "for every build of this warehouse, or turn the option off."
        ) }}
    {%- endif -%}
    {{ return(salt) }}
{%- endmacro %}

{#- Run at the start of every dbt run (on-run-start). Incremental tables keep the ids they
    were built with, so switching the privacy option (or its salt) on an existing warehouse
    would mix raw and pseudonymized ids. The mode is stored in audit.id_mode (the salt only
    as a fingerprint); a run with another mode stops unless it rebuilds everything. -#}
{% macro cartcast_guard_id_mode() %}
    {%- if execute -%}
        {%- if cartcast_pseudonymize_ids_enabled() -%}
            {%- set mode = 'pseudonymized (salt ' ~ cartcast_salt_fingerprint(cartcast_id_salt()) ~ ')' -%}
        {%- else -%}
            {%- set mode = 'raw' -%}
        {%- endif -%}
        {%- do run_query("create schema if not exists audit") -%}
        {%- do run_query(
            "create table if not exists audit.id_mode (mode " ~ dbt.type_string()
            ~ " not null, set_at timestamp not null)" ~ cartcast_table_format()
        ) -%}
        {%- set stored = run_query("select mode from audit.id_mode") -%}
        {%- set previous = stored.rows[0][0] if stored.rows | length > 0 else none -%}
        {%- if previous is not none and previous != mode and not flags.FULL_REFRESH -%}
            {{ exceptions.raise_compiler_error(
                "This warehouse holds ids built " ~ previous ~ "; this run would build them "
                ~ mode ~ ", and incremental tables would mix the two (rule: id_mode_changed). "
                ~ "Rebuild everything with `dbt build --full-refresh` (scoring included) and "
                ~ "rematerialize Feast, or run with the setting the warehouse was built with."
            ) }}
        {%- endif -%}
        {%- if previous != mode -%}
            {%- do cartcast_replace_rows(
                'audit.id_mode', "select '" ~ mode ~ "', current_timestamp"
            ) -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
