{#- The privacy option (var `cartcast_pseudonymize_ids`) and its salt (env CARTCAST_ID_SALT).
    The salt is a secret: it comes from the environment, never from vars or files in the repo. -#}

{% macro cartcast_pseudonymize_ids_enabled() -%}
    {%- set value = var('cartcast_pseudonymize_ids', false) -%}
    {{ return((value | string | lower) in ('true', '1', 'yes', 'on')) }}
{%- endmacro %}

{% macro cartcast_id_salt() -%}
    {%- set salt = env_var('CARTCAST_ID_SALT', '') -%}
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
            {%- set mode = 'pseudonymized (salt ' ~ local_md5('cartcast:' ~ cartcast_id_salt())[:8] ~ ')' -%}
        {%- else -%}
            {%- set mode = 'raw' -%}
        {%- endif -%}
        {%- do run_query("create schema if not exists audit") -%}
        {%- do run_query(
            "create table if not exists audit.id_mode (mode varchar not null, set_at timestamp not null)"
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
            {%- do run_query("delete from audit.id_mode") -%}
            {%- do run_query(
                "insert into audit.id_mode values ('" ~ mode ~ "', current_timestamp)"
            ) -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
