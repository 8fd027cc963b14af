"""What BI tools read, and the BI server the project ships (Apache Superset).

DuckDB lets one process write a database file and, while it does, no other process can open
it: a dashboard reading the warehouse would fail during every `dbt build`. So BI tools never
open the warehouse. After each successful build or scoring run the tables they read are
published as a separate, read-only copy (`publish`), and a pointer to the newest complete
copy is swapped atomically (`paths`); the Superset server (`superset`) and its dashboard
(`dashboard`) read that pointer.
"""
