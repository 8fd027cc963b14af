"""The SQL that reads a model's feature rows from the feature marts, for some `as_of`s.

The marts are the ones Feast serves (one per feature view); a model's inputs are found in the
marts of its entity by their dbt contracts, so a column moved between marts needs no edit here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cartcast import catalog
from cartcast.warehouse.dbt_contract import mart_columns
from scoring.model_inputs import Input


@dataclass(frozen=True)
class AsOf:
    """Which snapshots to score: all, a list, or an inclusive range."""

    times: tuple[datetime, ...] = ()
    start: datetime | None = None
    end: datetime | None = None

    def where(self, column: str) -> tuple[str, list]:
        clauses, params = [], []
        if self.times:
            clauses.append(f"{column} in ({', '.join('?' for _ in self.times)})")
            params += list(self.times)
        if self.start is not None:
            clauses.append(f"{column} >= ?")
            params.append(self.start)
        if self.end is not None:
            clauses.append(f"{column} <= ?")
            params.append(self.end)
        return (" and ".join(clauses) or "true"), params


def default_tables(key: str) -> dict[str, str]:
    return {mart: f"marts.{mart}" for mart in catalog.ENTITIES[key].mart_names}


def source_sql(
    key: str,
    inputs: Sequence[Input],
    as_of: AsOf | None = None,
    tables: Mapping[str, str] | None = None,
) -> tuple[str, list]:
    """`select key, as_of, <inputs>` over the marts that hold them, and its parameters.

    An input no mart declares is left out, so the schema check names it as missing.
    """
    marts = catalog.ENTITIES[key].mart_names
    tables = dict(tables or default_tables(key))
    declared = {mart: {c.name for c in mart_columns(mart)} for mart in marts}
    alias = {mart: f"f{i}" for i, mart in enumerate(marts)}
    columns, used = [f"f0.{key}", "f0.as_of"], {marts[0]}
    for wanted in inputs:
        mart = next((m for m in marts if wanted.name in declared[m]), None)
        if mart is not None:
            columns.append(f"{alias[mart]}.{wanted.name}")
            used.add(mart)
    joins = [
        f"left join {tables[mart]} as {alias[mart]} "
        f"on {alias[mart]}.{key} = f0.{key} and {alias[mart]}.as_of = f0.as_of"
        for mart in marts[1:]
        if mart in used
    ]
    where, params = (as_of or AsOf()).where("f0.as_of")
    sql = (
        f"select {', '.join(columns)} from {tables[marts[0]]} as f0 "
        + " ".join(joins)
        + f" where {where}"
    )
    return sql, params


def snapshots_sql(
    key: str, as_of: AsOf | None = None, tables: Mapping[str, str] | None = None
) -> tuple[str, list]:
    """The distinct `as_of`s `source_sql` reads, oldest first, and their parameters.

    Read from the first mart alone: `source_sql` left-joins the others to it, so its rows'
    `as_of`s are that mart's, and the joins would only cost time.
    """
    first = catalog.ENTITIES[key].mart_names[0]
    table = dict(tables or default_tables(key))[first]
    where, params = (as_of or AsOf()).where("f0.as_of")
    return f"select distinct f0.as_of from {table} as f0 where {where} order by 1", params
