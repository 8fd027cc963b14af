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
