"""Feast's Redis online store with bulk writes (`online_store: type:` in feature_store.yaml).

Same keys and hashes as `feast.infra.online_stores.redis`: one hash per entity, keyed by the
serialized entity key (version 3) plus the project name, holding each feature's ValueProto
bytes under the 4-byte murmur3 hash of "<view>:<feature>" and the event time, a protobuf
Timestamp, under "_ts:<view>". Same rule for old data: a row whose event time is not newer
than the one stored (or an earlier row of the batch) is skipped, as in Feast.

`online_write_arrow` (called by `engine.CartcastComputeEngine`) differs only in how the
commands get to Redis: per batch of `bulk_entities` entities, one pipelined round of HGET for
the stored event times and one of HSET (and EXPIRE with `key_ttl_seconds`), each written as
one buffer of Redis protocol built with Arrow from the column-encoded values. The HSETs, and
right behind them the next batch's HGETs, go out from a second thread while the next batch is
encoded; the HSETs' one-line replies are counted
(and parsed only if one is an error), the HGET replies parsed by hiredis. Without hiredis,
and for Redis Cluster, Sentinel and TLS connections, Feast's own writer is used, as it is for
`online_write_batch`. Reads are Feast's own (`RedisOnlineStore`), unchanged.
"""

from __future__ import annotations

import contextlib
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast import utils
from feast.feature_view import FeatureView
from feast.infra.online_stores.helpers import _mmh3
from feast.infra.online_stores.redis import (
    RedisOnlineStore,
    RedisOnlineStoreConfig,
    RedisType,
    _versioned_fv_name,
)
from feast.repo_config import RepoConfig
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from cartcast.features.bulk.encode import columns_with_nulls, encode_entity_keys, encode_rows

try:
    import hiredis
except ImportError:  # pragma: no cover - the bulk path needs it; Feast's writer does not
    hiredis = None

STORE_TYPE = "cartcast.features.bulk.redis.CartcastRedisOnlineStore"


class CartcastRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """`online_store: {type: cartcast.features.bulk.redis.CartcastRedisOnlineStore, ...}`."""

    type: Literal["cartcast.features.bulk.redis.CartcastRedisOnlineStore"] = STORE_TYPE  # type: ignore[assignment]

    bulk_entities: int = 10_000
    """Entities per pipelined round in bulk writes."""


class CartcastRedisOnlineStore(RedisOnlineStore):
    """`RedisOnlineStore` with bulk writes; keys, fields and bytes are Feast's."""

    _resp: _RespConnection | None = None

    def supports_bulk_write(self, config: RepoConfig) -> bool:
        store = config.online_store
        if hiredis is None or store.redis_type != RedisType.redis:
            return False
        _, params = self._parse_connection_string(store.connection_string)
        return not params.get("ssl")

    def online_write_arrow(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: pa.Table,
        join_keys: dict[str, ValueType],
    ) -> None:
        store = config.online_store
        version = config.entity_key_serialization_version
        view_name = _versioned_fv_name(table, config)
        ts_field = f"_ts:{view_name}".encode()
        fields = [_mmh3(f"{view_name}:{f.name}") for f in table.features]
        project = pa.scalar(config.project.encode("utf-8"), type=pa.binary())
        keys = encode_entity_keys(data, join_keys, version)
        nulls = columns_with_nulls(data)
        redis_keys = pc.binary_join_element_wise(keys, project, pa.scalar(b"", type=pa.binary()))
        step = max(1, int(getattr(store, "bulk_entities", 10_000)))
        conn = self._bulk_connection(store)

        def hset(keys_: pa.Array, ts_: pa.Array, values: list[pa.Array]) -> _Commands:
            parts: list[Any] = [b"*%d\r\n$4\r\nHSET\r\n" % (4 + 2 * len(fields))]
            parts += [*_frames(keys_), _frame(ts_field), *_frames(ts_)]
            for name, column in zip(fields, values, strict=True):
                parts += [_frame(name), *_frames(column)]
            if store.key_ttl_seconds:
                ttl = str(store.key_ttl_seconds).encode()
                parts += [b"*3\r\n$6\r\nEXPIRE\r\n", *_frames(keys_), _frame(ttl)]
            return _commands(parts)

        # While Redis works through one batch of writes and the next batch's reads of the
        # stored event times (both sent from a second thread), this thread encodes the next
        # batch and, when the last batch was written whole, builds its writes too. Commands
        # on the connection stay in order, so a batch's HGETs, sent right behind the writes
        # of the batch before, see those writes; and Redis is not left idle waiting for them.
        def hget(start: int) -> _Commands:
            return _commands([_HGET, *_frames(redis_keys.slice(start, step)), _frame(ts_field)])

        owed = 0  # replies still to read for the writes in flight
        prebuild = True
        check = not store.skip_dedup
        try:
            if check and data.num_rows:
                conn.send(hget(0))
            for start in range(0, data.num_rows, step):
                rows = encode_rows(
                    data.slice(start, step),
                    table,
                    join_keys,
                    version,
                    entity_keys=keys.slice(start, step),
                    columns_with_nulls=nulls,
                )
                chunk_keys = redis_keys.slice(start, step)
                stamps = [_timestamp(d) for d in rows.event_ts.distinct]
                ts_bytes = pa.array([b for b, _ in stamps], type=pa.binary()).take(
                    pa.array(rows.event_ts.codes)
                )
                values = [rows.features[f.name].values for f in table.features]
                writes = hset(chunk_keys, ts_bytes, values) if prebuild else None
                todo = None
                if check:
                    conn.skip_replies(owed)
                    owed = 0
                    stored = conn.read(rows.num_rows)
                    new_nanos = [nanos for _, nanos in stamps]
                    todo = _newer(chunk_keys, stored, new_nanos, rows.event_ts.codes)
                    prebuild = len(todo) == rows.num_rows
                    if prebuild:
                        todo = None
                if todo is not None:
                    index = pa.array(todo, type=pa.int64())
                    writes = (
                        hset(
                            chunk_keys.take(index),
                            ts_bytes.take(index),
                            [v.take(index) for v in values],
                        )
                        if todo
                        else None
                    )
                elif writes is None:
                    writes = hset(chunk_keys, ts_bytes, values)
                batch = [writes] if writes is not None else []
                if check and start + step < data.num_rows:
                    batch.append(hget(start + step))
                conn.skip_replies(owed)
                conn.send_in_background(*batch)
                owed = writes.count if writes is not None else 0
            conn.skip_replies(owed)
        except BaseException:
            self._close_bulk()
            raise

    def _bulk_connection(self, store: RedisOnlineStoreConfig) -> _RespConnection:
        if self._resp is None:
            nodes, params = self._parse_connection_string(store.connection_string)
            self._resp = _RespConnection(nodes[0]["host"], int(nodes[0]["port"]), params)
        return self._resp

    def _close_bulk(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def teardown(self, config, tables, entities):
        self._close_bulk()
        super().teardown(config, tables, entities)


def _timestamp(value) -> tuple[bytes, int]:
    """The `_ts` bytes Feast writes for an event time, and its nanoseconds for comparing."""
    ts = Timestamp()
    ts.FromDatetime(utils.make_tzaware(value))
    return ts.SerializeToString(), ts.seconds * 1_000_000_000 + ts.nanos


def _stored_nanos(raw: bytes | None) -> int:
    if not raw:
        return 0
    ts = Timestamp()
    ts.ParseFromString(raw)
    return ts.seconds * 1_000_000_000 + ts.nanos


def _newer(keys: pa.Array, stored: list, new_nanos: list[int], codes: np.ndarray) -> list[int]:
    """Rows to write, by Feast's rule: skip a row unless its event time is newer than both
    the stored one and that of an earlier row of the batch with the same key."""
    cache: dict[bytes | None, int] = {}
    prev = []
    for raw in stored:
        nanos = cache.get(raw)
        if nanos is None:
            nanos = cache[raw] = _stored_nanos(raw)
        prev.append(nanos)
    rows = codes.tolist()
    if pc.count_distinct(keys).as_py() == len(keys):
        return [
            i
            for i, (p, c) in enumerate(zip(prev, rows, strict=True))
            if not (p and new_nanos[c] <= p)
        ]
    latest: dict[bytes, int] = {}
    todo = []
    for i, (key, p, c) in enumerate(zip(keys.to_pylist(), prev, rows, strict=True)):
        new = new_nanos[c]
        seen = max(p, latest.get(key, 0))
        if seen and new <= seen:
            continue
        latest[key] = new
        todo.append(i)
    return todo


# ---- Redis protocol, built a column at a time -----------------------------------------

_HGET = b"*3\r\n$4\r\nHGET\r\n"
_DIGITS = 10
_POWERS = 10 ** np.arange(_DIGITS - 1, -1, -1, dtype=np.int64)


def _frame(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _frames(column: pa.Array) -> list[Any]:
    """Parts that, joined row by row, give each value as a RESP bulk string."""
    column = column.cast(pa.binary())
    lengths = pc.binary_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(lengths) == 0:
        return [column]
    if (lengths == lengths[0]).all():
        return [b"$%d\r\n" % lengths[0], column, b"\r\n"]
    width = len(str(int(lengths.max())))
    powers = _POWERS[_DIGITS - width :]
    digits = ((lengths[:, None] // powers) % 10 + ord("0")).astype(np.uint8)
    count = 1 + (lengths[:, None] >= powers[:-1][::-1]).sum(axis=1)
    keep = np.arange(width) >= (width - count)[:, None]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(count, out=offsets[1:])
    text = pa.Array.from_buffers(
        pa.binary(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(digits[keep])]
    )
    return [b"$", text, b"\r\n", column, b"\r\n"]


class _Commands:
    """A pipelined batch of commands: the protocol bytes and how many replies they get."""

    def __init__(self, payload: memoryview, count: int) -> None:
        self.payload = payload
        self.count = count


def _commands(parts: list[Any]) -> _Commands:
    """Join parts (constant bytes or one array value per command) row by row."""
    merged: list[Any] = []
    count = None
    for part in parts:
        if isinstance(part, bytes):
            if merged and isinstance(merged[-1], bytes):
                merged[-1] += part
            else:
                merged.append(part)
        else:
            count = len(part)
            merged.append(part)
    if count is None:
        raise ValueError("a pipelined command needs at least one column")
    arrays = [pa.scalar(p, type=pa.binary()) if isinstance(p, bytes) else p for p in merged]
    joined = pc.binary_join_element_wise(*arrays, pa.scalar(b"", type=pa.binary()))
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[
        joined.offset : joined.offset + count + 1
    ]
    data = memoryview(joined.buffers()[2])[int(offsets[0]) : int(offsets[-1])]
    return _Commands(data, count)


class _RespConnection:
    """A plain socket speaking the Redis protocol, for pipelines too big for per-command
    Python. Errors surface as redis-py's exceptions, as from Feast's own writer."""

    def __init__(self, host: str, port: int, params: dict[str, Any]) -> None:
        self.address = f"{host}:{port}"
        timeout = params.get("socket_connect_timeout") or params.get("socket_timeout")
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise RedisConnectionError(f"Error connecting to {self.address}. {e}") from e
        self.sock.settimeout(params.get("socket_timeout"))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()
        self._sender: ThreadPoolExecutor | None = None
        self._sending: Future | None = None
        hello = []
        if params.get("password") is not None:
            auth = [b"AUTH"]
            if params.get("username") is not None:
                auth.append(str(params["username"]).encode())
            auth.append(str(params["password"]).encode())
            hello.append(auth)
        if params.get("db"):
            hello.append([b"SELECT", str(params["db"]).encode()])
        for args in hello:
            raw = b"*%d\r\n" % len(args) + b"".join(_frame(a) for a in args)
            self.call(_Commands(memoryview(raw), 1))

    def call(self, commands: _Commands) -> list[Any]:
        self.send(commands)
        return self.read(commands.count)

    def send(self, commands: _Commands) -> None:
        self._wait_for_sender()
        try:
            self.sock.sendall(commands.payload)
        except OSError as e:
            raise RedisConnectionError(f"Error talking to Redis at {self.address}. {e}") from e

    def send_in_background(self, *batches: _Commands) -> None:
        """Send from a second thread, in order; the next send or read waits for it to finish."""
        self._wait_for_sender()
        if not batches:
            return
        if self._sender is None:
            self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="redis-bulk")
        self._sending = self._sender.submit(self._send_all, [b.payload for b in batches])

    def _send_all(self, payloads: list[memoryview]) -> None:
        for payload in payloads:
            self.sock.sendall(payload)

    def _wait_for_sender(self) -> None:
        if self._sending is not None:
            sending, self._sending = self._sending, None
            try:
                sending.result()
            except OSError as e:
                raise RedisConnectionError(f"Error talking to Redis at {self.address}. {e}") from e

    def skip_replies(self, count: int) -> None:
        """Read past `count` one-line replies (integers: HSET, EXPIRE) without parsing each:
        count line ends, and look closer only if one of them is an error."""
        if count == 0:
            return
        if self.reader.has_data():  # bytes already buffered: let the parser go through
            self.read(count)
            return
        buffer = bytearray()
        found = before = scanned = 0
        try:
            while found < count:
                if self._sending is not None and self._sending.done():
                    self._wait_for_sender()
                data = self.sock.recv(1 << 20)
                if not data:
                    raise RedisConnectionError(f"Redis at {self.address} closed the connection")
                scanned = max(len(buffer) - 1, 0)  # a line end may straddle two reads
                buffer += data
                before, found = found, found + buffer.count(b"\r\n", scanned)
        except OSError as e:
            raise RedisConnectionError(f"Error talking to Redis at {self.address}. {e}") from e
        # Our replies are the first `count` lines; what follows (replies to later commands,
        # binary bulk strings among them) goes back to the parser untouched.
        end = scanned
        for _ in range(count - before):
            end = buffer.index(b"\r\n", end) + 2
        if buffer[:1] == b"-" or buffer.find(b"\r\n-", 0, end) >= 0:
            parser = hiredis.Reader()
            parser.feed(bytes(buffer[:end]))
            errors = [r for r in iter(parser.gets, False) if isinstance(r, hiredis.ReplyError)]
            raise ResponseError(f"{len(errors)} of {count} commands failed: {errors[0]}")
        if end < len(buffer):
            self.reader.feed(bytes(buffer[end:]))

    def read(self, count: int) -> list[Any]:
        """The next `count` replies; a failed command raises redis-py's ResponseError."""
        replies = []
        try:
            while len(replies) < count:
                reply = self.reader.gets()
                if reply is False:
                    if self._sending is not None and self._sending.done():
                        self._wait_for_sender()  # surface a failed send rather than hang
                    data = self.sock.recv(1 << 20)
                    if not data:
                        raise RedisConnectionError(f"Redis at {self.address} closed the connection")
                    self.reader.feed(data)
                    continue
                replies.append(reply)
        except OSError as e:
            raise RedisConnectionError(f"Error talking to Redis at {self.address}. {e}") from e
        errors = [r for r in replies if isinstance(r, hiredis.ReplyError)]
        if errors:
            raise ResponseError(f"{len(errors)} of {count} commands failed: {errors[0]}")
        return replies

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self._sender is not None:
            self._sender.shutdown(wait=True)
            self._sender = None
