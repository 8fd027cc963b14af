"""Feast's SQLite online store with bulk writes (`online_store: type:` in feature_store.yaml).

Same file, tables, indexes and row format as `feast.infra.online_stores.sqlite`: one row per
entity and feature (entity_key, feature_name, value, value_text, event_ts, created_ts) with
the same upsert. What changes is how rows get there:

- `online_write_arrow` (called by `engine.CartcastComputeEngine`): values are encoded a column
  at a time (`encode.py`) and entities sorted by key so SQLite appends to its B-trees instead
  of inserting all over them. Binding Python values costs about as much as SQLite's own
  insert, so the two run side by side: forked child processes (`bulk_workers`, two by
  default) encode `bulk_entities` entities at a time and bind them (one statement per
  entity, `executemany`) into a private in-memory database, whose image (`serialize`) this
  process loads (`deserialize`) and upserts into Feast's table with one `INSERT ... SELECT`
  while the children stage the next slices. Threads would not do: two threads of one process
  take turns on SQLite's global allocator lock. All of a batch goes in one transaction, as
  stock Feast writes it;
- `online_write_batch` (Feast's interface, for pushes and other engines): the same rows as
  stock Feast, with one `executemany` in one transaction instead of an `execute` per row.

Reads are Feast's own (`SqliteOnlineStore.online_read`), unchanged.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from feast.feature_view import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    SqliteTable,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc
from feast.value_type import ValueType

from cartcast.errors import FeatureStoreError
from cartcast.features.bulk.encode import (
    columns_with_nulls,
    encode_entity_keys,
    encode_rows,
    sort_by_key,
)

STORE_TYPE = "cartcast.features.bulk.sqlite.CartcastSqliteOnlineStore"
# Rows of one multi-row INSERT: well below SQLite's limits on terms and variables.
_ROWS_PER_STATEMENT = 200
# The schema name the staged rows are attached under, on the store's connection.
_STAGE = "cartcast_stage"
_IMAGE, _ERROR = b"image", b"error"  # what the staging child's next message holds
_COLUMNS = "entity_key, feature_name, value, value_text, event_ts, created_ts"


class CartcastSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """`online_store: {type: cartcast.features.bulk.sqlite.CartcastSqliteOnlineStore, path}`."""

    type: Literal["cartcast.features.bulk.sqlite.CartcastSqliteOnlineStore"] = STORE_TYPE  # type: ignore[assignment]

    bulk_entities: int = 20_000
    """Entities encoded and inserted per `executemany` in bulk writes (one transaction for
    the whole batch either way); bounds the Python objects alive at once."""

    bulk_workers: int = 2
    """Child processes that encode and stage slices while this one inserts them (0: all in
    this process). Each holds a slice's rows at a time, twice over while it hands them on."""


class CartcastSqliteOnlineStore(SqliteOnlineStore):
    """`SqliteOnlineStore` with bulk writes; the stored rows are byte for byte Feast's."""

    @staticmethod
    def _plain_layout(config: RepoConfig) -> bool:
        """The layout the fast paths write: no value_num and no vector_value columns."""
        store = config.online_store
        return not getattr(store, "vector_enabled", False) and not getattr(
            store, "enable_openai_compatible_store", False
        )

    def update(
        self,
        config: RepoConfig,
        tables_to_delete,
        tables_to_keep,
        entities_to_delete,
        entities_to_keep,
        partial: bool,
    ):
        """Create tables as stock Feast does, then Feast's own update.

        With `type: sqlite` Feast creates its tables through `SqliteTable.update` (its
        plan/apply path, chosen by that exact type name); any other type comes here. Going
        through `SqliteTable` first gives the same schema, down to the text of the DDL.
        """
        value_num = getattr(config.online_store, "enable_openai_compatible_store", False)
        for table in tables_to_keep:
            infra = SqliteTable(
                path=self._get_db_path(config),
                name=self._table(config, table),
                include_value_num=value_num,
            )
            try:
                infra.update()
            finally:
                infra.conn.close()
        super().update(
            config, tables_to_delete, tables_to_keep, entities_to_delete, entities_to_keep, partial
        )

    # ---- bulk path (engine.BulkOutputNode) ------------------------------------------

    def supports_bulk_write(self, config: RepoConfig) -> bool:
        return self._plain_layout(config)

    def online_write_arrow(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: pa.Table,
        join_keys: dict[str, ValueType],
    ) -> None:
        version = config.entity_key_serialization_version
        keys = encode_entity_keys(data, join_keys, version)
        data, keys = sort_by_key(data, keys)
        nulls = columns_with_nulls(data)
        names = sorted((f.name for f in table.features), key=lambda s: s.encode("utf8"))
        statements = [(group, _stage_sql(group)) for group in _groups(names, _ROWS_PER_STATEMENT)]
        step = max(1, int(getattr(config.online_store, "bulk_entities", 20_000)))
        workers = int(getattr(config.online_store, "bulk_workers", 2))

        def parameters(start: int) -> list[tuple[str, Iterator[tuple]]]:
            """Each statement and its parameters (one tuple per entity) for a slice."""
            rows = encode_rows(
                data.slice(start, step),
                table,
                join_keys,
                version,
                entity_keys=keys.slice(start, step),
                columns_with_nulls=nulls,
            )
            event_ts = rows.event_ts.mapped(_sqlite_timestamp)
            created = (
                rows.created_ts.mapped(_sqlite_timestamp)
                if rows.created_ts is not None
                else [None] * rows.num_rows
            )
            entity_keys = rows.entity_keys.to_pylist()
            out = []
            for group, sql in statements:
                values = [rows.features[n].values.to_pylist() for n in group]
                texts = [rows.texts(n) for n in group]
                out.append((sql, zip(entity_keys, event_ts, created, *values, *texts, strict=True)))
            return out

        def staged(start: int) -> bytes:
            """A slice's rows, in key then feature order, as the image of a private database."""
            stage = sqlite3.connect(":memory:")
            try:
                stage.execute(f"CREATE TABLE rows ({_COLUMNS})")
                with stage:
                    for sql, params in parameters(start):
                        stage.executemany(sql, params)
                return stage.serialize()
            finally:
                stage.close()

        # rowid order is the order the slice was staged in; WHERE true lets SQLite parse the
        # upsert after a SELECT.
        upsert = (
            f"INSERT INTO main.{_quote_id(self._table(config, table))} ({_COLUMNS}) "
            f"SELECT {_COLUMNS} FROM {_STAGE}.rows WHERE true ORDER BY rowid {_UPSERT}"
        )
        conn = self._get_conn(config)
        conn.execute(f"ATTACH ':memory:' AS {_STAGE}")
        try:
            with conn:  # one transaction, as stock Feast writes a batch
                starts = list(range(0, data.num_rows, step))
                for image in _staged_images(staged, starts, workers):
                    conn.deserialize(image, name=_STAGE)
                    conn.execute(upsert)
        finally:
            conn.execute(f"DETACH {_STAGE}")

    # ---- Feast's row interface ------------------------------------------------------

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if not self._plain_layout(config):
            return super().online_write_batch(config, table, data, progress)
        version = config.entity_key_serialization_version
        rows = []
        for entity_key, values, timestamp, created_ts in data:
            key = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            timestamp = to_naive_utc(timestamp)
            created = to_naive_utc(created_ts) if created_ts is not None else None
            for feature_name, val in values.items():
                text, _ = extract_text_and_num(val, False)
                rows.append((key, feature_name, val.SerializeToString(), text, timestamp, created))
        sql = (
            f"INSERT INTO {_quote_id(self._table(config, table))} ({_COLUMNS}) "
            f"VALUES (?, ?, ?, ?, ?, ?) {_UPSERT};"
        )
        conn = self._get_conn(config)
        with conn:
            conn.executemany(sql, rows)
        if progress:
            progress(len(data))

    @staticmethod
    def _table(config: RepoConfig, table: FeatureView) -> str:
        return _table_id(
            config.project, table, config.registry.enable_online_feature_view_versioning
        )


_UPSERT = (
    "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
    "value_text = excluded.value_text, event_ts = excluded.event_ts, "
    "created_ts = excluded.created_ts"
)


def _sqlite_timestamp(value: datetime) -> Any:
    """What SQLite stores for a timestamp Feast binds: its registered adapter's output."""
    return sqlite3.adapt(to_naive_utc(value))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _staged_images(
    stage: Callable[[int], bytes], starts: list[int], workers: int
) -> Iterator[bytes]:
    """`stage(start)` for each start, in order. With more than one slice, `workers` forked
    children stage them in turn (child i the slices i, i + workers, ...) while this process
    inserts the ones before (at most one image waits per child); an error in a child is
    raised here as it was raised there."""
    workers = min(workers, len(starts))
    alone = (
        workers < 1
        or len(starts) < 2
        or "fork" not in multiprocessing.get_all_start_methods()
        or multiprocessing.current_process().daemon  # a daemon may not start processes
    )
    if alone:
        for start in starts:
            yield stage(start)
        return
    context = multiprocessing.get_context("fork")
    children = []
    for i in range(workers):
        receive, send = context.Pipe(duplex=False)
        # the child closes every reading end it inherits (its own and earlier children's),
        # so that if this process dies its writes fail and it exits instead of waiting
        inherited = [r for r, _ in children] + [receive]
        process = context.Process(
            target=_stage_in_child,
            args=(stage, starts[i::workers], send, inherited),
            name=f"cartcast-sqlite-stage-{i}",
            daemon=True,
        )
        process.start()
        send.close()
        children.append((receive, process))
    try:
        for n in range(len(starts)):
            receive, process = children[n % workers]
            try:
                kind, message = receive.recv_bytes(), receive.recv_bytes()
            except EOFError:
                process.join()
                raise FeatureStoreError(
                    f"A process staging SQLite rows ended without its rows (exit code "
                    f"{process.exitcode}): out of memory? Lower `bulk_entities` or "
                    "`bulk_workers` in feature_store.yaml and materialize again."
                ) from None
            if kind == _ERROR:
                raise pickle.loads(message)
            yield message
    finally:
        for receive, process in children:
            receive.close()
            if process.is_alive():
                process.terminate()
            process.join()


def _stage_in_child(
    stage: Callable[[int], bytes], starts: list[int], send, inherited: list
) -> None:
    for receive in inherited:
        receive.close()
    try:
        for start in starts:
            image = stage(start)
            send.send_bytes(_IMAGE)
            send.send_bytes(image)
    except BaseException as exc:  # every error goes back to the parent
        try:
            raised = pickle.dumps(exc)
        except Exception:  # an exception that does not pickle
            raised = pickle.dumps(FeatureStoreError(f"{type(exc).__name__}: {exc}"))
        send.send_bytes(_ERROR)
        send.send_bytes(raised)
    finally:
        send.close()


def _stage_sql(names: list[str]) -> str:
    """One INSERT of an entity's rows into the stage: ?1 key, ?2 event_ts, ?3 created_ts,
    then the values and then the texts of `names`, in that order."""
    n = len(names)
    rows = ", ".join(
        f"(?1, {_literal(name)}, ?{4 + j}, ?{4 + n + j}, ?2, ?3)" for j, name in enumerate(names)
    )
    return f"INSERT INTO rows ({_COLUMNS}) VALUES {rows}"


def _groups(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
