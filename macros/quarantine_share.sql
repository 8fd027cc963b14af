{#- Run after audit.load_reconciliation is built (its post-hook). A source whose rows are all
    quarantined builds "successfully" into empty marts, which no data test notices: zero
    customers have nothing to be wrong about. So a source with raw rows and no used row stops
    the build, naming its most frequent quarantine reason and the var that usually explains
    it; more than `max_quarantined_share` of a source quarantined (var, default 0.5) only warns,
    since a real export can be mostly guest orders. A source with no rows at all (a header-only
    file) is left alone: it is an empty extract, not a wrong setting. -#}
{% macro cartcast_check_quarantine_share() %}
    {%- if execute -%}
        {%- set quarantine_models = {
            'online_retail.invoice_lines': ref('quarantine_online_retail__invoice_lines'),
            'taobao.user_behavior': ref('quarantine_taobao__user_behavior'),
        } -%}
        {%- set source_vars = {
            'online_retail.invoice_lines': 'online_retail_invoice_lines',
            'taobao.user_behavior': 'taobao_user_behavior',
        } -%}
        {%- set max_share = var('max_quarantined_share', 0.5) | float -%}
        {%- set counts = run_query(
            "select source_table, raw_rows, used_rows, quarantined_rows from " ~ this
            ~ " order by source_table"
        ) -%}
        {%- for source_table, raw_rows, used_rows, quarantined_rows in counts.rows -%}
            {%- set share = (quarantined_rows / raw_rows) if raw_rows > 0 else 0 -%}
            {%- if raw_rows > 0 and (used_rows == 0 or share > max_share) -%}
                {%- set reasons = run_query(
                    "select reason, count(*) as n from " ~ quarantine_models[source_table]
                    ~ " group by reason order by n desc, reason"
                ).rows -%}
                {%- set listed = [] -%}
                {%- for reason, n in reasons -%}
                    {%- do listed.append(reason ~ " " ~ n) -%}
                {%- endfor -%}
                {%- set top = reasons[0][0] if reasons | length > 0 else 'none' -%}
                {%- set hint = cartcast_quarantine_hint(top, source_vars[source_table]) -%}
                {%- if used_rows == 0 -%}
                    {{ exceptions.raise_compiler_error(
                        "Raw input " ~ source_table ~ " has " ~ raw_rows ~ " rows and none is usable"
                        ~ " (rule: source_unusable): " ~ quarantined_rows ~ " quarantined, most as "
                        ~ top ~ " (" ~ listed | join(', ') ~ "). " ~ hint
                    ) }}
                {%- else -%}
                    {%- do exceptions.warn(
                        "Raw input " ~ source_table ~ ": " ~ quarantined_rows ~ " of " ~ raw_rows
                        ~ " rows (" ~ ((100 * share) | round(1)) ~ "%) quarantined, more than the"
                        ~ " var max_quarantined_share (" ~ max_share ~ ") allows without notice"
                        ~ " (rule: mostly_quarantined). Reasons: " ~ listed | join(', ') ~ ". "
                        ~ hint
                    ) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}

{#- What to change for the most frequent reason: the var behind a threshold, else the source. -#}
{% macro cartcast_quarantine_hint(reason, source_var) %}
    {%- set thresholds = {
        'time_too_old': 'min_valid_time',
        'future_time': 'cartcast_now',
        'absurd_price': 'max_unit_price',
        'absurd_quantity': 'max_abs_quantity',
    } -%}
    {%- if reason in thresholds -%}
        {%- set name = thresholds[reason] -%}
        {{ return("Change the var " ~ name ~ " (now " ~ var(name) ~ ") if those rows are real,"
                  ~ " or check the var " ~ source_var ~ ".") }}
    {%- endif -%}
    {{ return("Check the var " ~ source_var ~ " (the relation read) and the staging model that"
              ~ " maps it (vars orders_lines_model, events_model).") }}
{% endmacro %}
