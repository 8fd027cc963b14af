{#- Fails on every source whose raw rows are not all accounted for exactly once. -#}
{% test cartcast_rows_reconcile(model) %}
select *
from {{ model }}
where raw_rows != used_rows + quarantined_rows + duplicate_rows_removed
{% endtest %}
