"""Encode Arrow columns into the exact bytes Feast's online stores hold, a column at a time.

Stock Feast turns every row into an `EntityKeyProto` and every cell into a `ValueProto`
object, then serializes them one by one (`feast.utils._convert_arrow_to_proto`). Here the
same bytes come from vectorized NumPy/Arrow code:

- entity keys in serialization version 3 (`feast.infra.key_encoding_utils`): a 4-byte key
  count, then per join key (sorted by name) its type, length and name, then per value its
  type, length and bytes;
- `ValueProto` bytes: the oneof field's tag, then the value (fixed width, varint, or length
  and UTF-8); a null cell is the empty message (`b""`), as Feast writes it;
- the text SQLite keeps beside each value (`value_text`), as `extract_text_and_num` makes it.

Types without a vectorized encoder here (lists, timestamps, maps, ...) and any column whose
Arrow type differs from what the feature's type expects go through Feast's own conversion
(`python_values_to_proto_values`), so every value is still exactly what Feast would store.
Only the types that matter for speed are vectorized; correctness never depends on it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.type_map import python_values_to_proto_values
from feast.utils import _build_entity_keys, _coerce_datetime, _columns_to_proto_values
from feast.value_type import ValueType

# Wire tags of the Value oneof members (field number << 3 | wire type), see Value.proto.
_TAG_STRING = 0x12  # string_val = 2, length-delimited
_TAG_INT32 = 0x18  # int32_val = 3, varint
_TAG_INT64 = 0x20  # int64_val = 4, varint
_TAG_DOUBLE = 0x29  # double_val = 5, 64-bit
_TAG_FLOAT = 0x35  # float_val = 6, 32-bit
_TAG_BOOL = 0x38  # bool_val = 7, varint

# Python's repr writes floats in positional notation for magnitudes in [1e-4, 1e16).
_PY_REPR_LOW, _PY_REPR_HIGH = 1e-4, 1e16


@runtime_checkable
class BulkOnlineStore(Protocol):
    """An online store that can take whole encoded batches (see `engine.py`)."""

    def supports_bulk_write(self, config: Any) -> bool: ...

    def online_write_arrow(
        self, config: Any, table: Any, data: pa.Table, join_keys: dict[str, ValueType]
    ) -> None: ...


# --------------------------------------------------------------------------------------
# Building blocks: Arrow binary arrays from NumPy bytes, varints, fixed-width values.
# --------------------------------------------------------------------------------------


def binary_from_parts(lengths: np.ndarray, data: np.ndarray) -> pa.Array:
    """A binary array whose row i is the next `lengths[i]` bytes of `data` (uint8)."""
    n = len(lengths)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(data, dtype=np.uint8)
    if offsets[-1] < 2**31:
        return pa.Array.from_buffers(
            pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)]
        )
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _rows_from_matrix(matrix: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """Row i is the first `lengths[i]` bytes of `matrix[i]`."""
    keep = np.arange(matrix.shape[1]) < lengths[:, None]
    return binary_from_parts(lengths, matrix[keep])


_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_VARINT_SHIFTS = (7 * np.arange(10)).astype(np.uint64)


def tagged_varints(tag: int, values: np.ndarray, valid: np.ndarray) -> pa.Array:
    """`tag` + protobuf varint of each int64 (negatives as 10-byte two's complement)."""
    u = values.astype(np.int64, copy=False).view(np.uint64)
    n = len(u)
    lengths = 1 + (u[:, None] >= _VARINT_LIMITS).sum(axis=1)
    matrix = np.empty((n, 11), dtype=np.uint8)
    matrix[:, 0] = tag
    groups = ((u[:, None] >> _VARINT_SHIFTS) & np.uint64(0x7F)).astype(np.uint8)
    groups[np.arange(10) < (lengths - 1)[:, None]] |= 0x80
    matrix[:, 1:] = groups
    return _rows_from_matrix(matrix, np.where(valid, lengths + 1, 0))


def tagged_fixed(tag: int, raw: np.ndarray, valid: np.ndarray) -> pa.Array:
    """`tag` + the little-endian bytes of each fixed-width value (float64, float32)."""
    n = len(raw)
    width = raw.dtype.itemsize
    raw = np.ascontiguousarray(raw.astype(raw.dtype.newbyteorder("<"), copy=False))
    matrix = np.empty((n, 1 + width), dtype=np.uint8)
    matrix[:, 0] = tag
    matrix[:, 1:] = raw.view(np.uint8).reshape(n, width)
    return binary_from_parts(np.where(valid, 1 + width, 0), matrix[valid].reshape(-1))


def tagged_bytes(tag: int, payload: pa.Array) -> pa.Array:
    """`tag` + varint length + bytes for each value of a binary/string array; null -> b""."""
    payload = payload.cast(pa.large_binary() if _is_large(payload.type) else pa.binary())
    valid = _valid(payload)
    sizes = pc.binary_length(payload).fill_null(0).to_numpy(zero_copy_only=False)
    header = tagged_varints(tag, sizes.astype(np.int64), valid)
    if _is_large(payload.type):
        header = header.cast(pa.large_binary())
    return pc.binary_join_element_wise(
        header, payload.fill_null(b""), pa.scalar(b"", type=payload.type)
    )


def _is_large(t: pa.DataType) -> bool:
    return pa.types.is_large_binary(t) or pa.types.is_large_string(t)


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _combine(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if not isinstance(array, pa.ChunkedArray):
        return array
    return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()


# --------------------------------------------------------------------------------------
# ValueProto bytes and SQLite's value_text, one feature column at a time.
# --------------------------------------------------------------------------------------


@dataclass
class EncodedColumn:
    """One feature's ValueProto bytes (never null: b"" stands for a null value)."""

    values: pa.Array
    text: Any  # a callable giving the value_text list, made lazily (SQLite only)


def _int_values(col: pa.Array, column_has_nulls: bool) -> np.ndarray | None:
    """The integers Feast would store. With nulls in the column Arrow hands Feast float64
    (NaN for null) and Feast calls int() on those floats: mirror that rounding, and give up
    (None: use Feast's own path) where it would overflow."""
    valid = _valid(col)
    ints = col.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if not column_has_nulls:
        return ints
    floats = ints.astype(np.float64)
    if np.any(np.abs(floats[valid]) >= 2.0**63):
        return None
    return floats.astype(np.int64)


def _ints_from_floats(col: pa.Array, valid: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Feast's int(x) of each float (NaN is null); None where Feast would fail (inf, or out
    of int64), so that its own path raises as it does."""
    floats = col.fill_null(0.0).to_numpy(zero_copy_only=False)
    valid = valid & ~np.isnan(floats)
    checked = floats[valid]
    if not np.isfinite(checked).all() or np.any(np.abs(checked) >= 2.0**63):
        return None, valid
    return np.where(valid, floats, 0.0).astype(np.int64), valid


def _double_text(values: np.ndarray, valid: np.ndarray) -> list[str | None]:
    """str(float) of each value, as `extract_text_and_num` writes it; None for null/NaN.

    Arrow's shortest round-trip text has the same digits as Python's repr; only the layout
    can differ (exponent thresholds, "1" for 1.0). Arrow's text is kept where both write
    plain positional notation with a fraction; everything else is formatted by Python.
    """
    text = pc.cast(pa.array(values), pa.string())
    odd = pc.or_(pc.match_substring(text, "e"), pc.invert(pc.match_substring(text, "."))).to_numpy(
        zero_copy_only=False
    )
    absval = np.abs(values)
    python_layout = (
        odd
        | ~np.isfinite(values)
        | (values == np.trunc(values))
        | ((absval < _PY_REPR_LOW) & (values != 0))
        | (absval >= _PY_REPR_HIGH)
    )
    out: list[Any] = text.to_pylist()
    for i in np.flatnonzero(python_layout & valid):
        out[i] = str(float(values[i]))
    if not valid.all():
        for i in np.flatnonzero(~valid):
            out[i] = None
    return out


def encode_column(
    col: pa.Array, value_type: ValueType, column_has_nulls: bool | None = None
) -> EncodedColumn:
    """ValueProto bytes for one Arrow column, as Feast's materialization would write them.

    `column_has_nulls`: whether the whole column (not just this slice) holds nulls; it
    decides, as in Feast, whether integers pass through float64 on their way.
    """
    col = _combine(col)
    t = col.type
    if column_has_nulls is None:
        column_has_nulls = col.null_count > 0
    valid = _valid(col)
    if value_type == ValueType.DOUBLE and pa.types.is_float64(t):
        raw = col.fill_null(0.0).to_numpy(zero_copy_only=False)
        ok = valid & ~np.isnan(raw)  # Feast stores NaN as null (pd.isnull)
        return EncodedColumn(tagged_fixed(_TAG_DOUBLE, raw, ok), lambda: _double_text(raw, ok))
    if value_type == ValueType.FLOAT and pa.types.is_float32(t):
        raw = col.fill_null(0.0).to_numpy(zero_copy_only=False)
        ok = valid & ~np.isnan(raw)
        return EncodedColumn(
            tagged_fixed(_TAG_FLOAT, raw, ok),
            lambda: _double_text(raw.astype(np.float64), ok),
        )
    if value_type in (ValueType.INT64, ValueType.INT32) and (
        pa.types.is_int64(t) or pa.types.is_int32(t) or pa.types.is_float64(t)
    ):
        if pa.types.is_float64(t):  # integers with nulls, after a trip through pandas
            ints, valid = _ints_from_floats(col, valid)
        else:
            ints = _int_values(col, column_has_nulls)
        if ints is not None:
            if value_type == ValueType.INT32 and (
                ints.size and (ints.min() < -(2**31) or ints.max() >= 2**31)
            ):
                pass  # out of int32 range: Feast raises; let its own path do so
            else:
                tag = _TAG_INT64 if value_type == ValueType.INT64 else _TAG_INT32
                return EncodedColumn(
                    tagged_varints(tag, ints, valid),
                    lambda: _int_text(ints, valid),
                )
    if value_type == ValueType.BOOL and pa.types.is_boolean(t):
        raw = col.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        matrix = np.empty((len(raw), 2), dtype=np.uint8)
        matrix[:, 0] = _TAG_BOOL
        matrix[:, 1] = raw
        return EncodedColumn(
            binary_from_parts(np.where(valid, 2, 0), matrix[valid].reshape(-1)),
            lambda: [
                None if not v else ("True" if b else "False")
                for v, b in zip(valid, raw, strict=True)
            ],
        )
    if value_type == ValueType.STRING and (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return EncodedColumn(tagged_bytes(_TAG_STRING, col), lambda: col.to_pylist())
    return _encode_with_feast(col, value_type)


def _int_text(ints: np.ndarray, valid: np.ndarray) -> list[str | None]:
    out: list[Any] = pc.cast(pa.array(ints), pa.string()).to_pylist()
    if not valid.all():
        for i in np.flatnonzero(~valid):
            out[i] = None
    return out


def _encode_with_feast(col: pa.Array, value_type: ValueType) -> EncodedColumn:
    """Feast's own conversion, for types not vectorized here."""
    protos = python_values_to_proto_values(col.to_numpy(zero_copy_only=False), value_type)
    values = pa.array([p.SerializeToString() for p in protos], type=pa.binary())
    return EncodedColumn(values, lambda: [extract_text_and_num(p, False)[0] for p in protos])


# --------------------------------------------------------------------------------------
# Entity keys (serialization version 3).
# --------------------------------------------------------------------------------------

_KEY_VALUE_TYPES = {ValueType.STRING, ValueType.INT64, ValueType.INT32}


def encode_entity_keys(
    table: pa.Table | pa.RecordBatch,
    join_keys: dict[str, ValueType],
    entity_key_serialization_version: int = 3,
) -> pa.Array:
    """`serialize_entity_key` of every row, as a binary array."""
    n = table.num_rows
    fast = entity_key_serialization_version == 3 and all(
        vt in _KEY_VALUE_TYPES and _key_column_ok(_combine(table.column(k)), vt)
        for k, vt in join_keys.items()
    )
    if not fast:
        return _entity_keys_with_feast(table, join_keys, entity_key_serialization_version)
    names = sorted(join_keys)
    prefix = [struct.pack("<I", len(names))]
    for name in names:
        encoded = name.encode("utf8")
        prefix += [struct.pack("<II", ValueType.STRING.value, len(encoded)), encoded]
    parts: list[Any] = [pa.scalar(b"".join(prefix), type=pa.binary())]
    for name in names:
        col = _combine(table.column(name))
        vt = join_keys[name]
        if vt == ValueType.STRING:
            payload = col.cast(pa.binary())
            sizes = pc.binary_length(payload).to_numpy(zero_copy_only=False)
        else:
            fmt = "<i8" if vt == ValueType.INT64 else "<i4"
            raw = col.to_numpy(zero_copy_only=False).astype(fmt)
            sizes = np.full(n, raw.dtype.itemsize, dtype=np.int64)
            payload = binary_from_parts(sizes, raw.view(np.uint8))
        header = np.empty((n, 2), dtype="<u4")
        header[:, 0] = vt.value
        header[:, 1] = sizes
        parts += [binary_from_parts(np.full(n, 8), header.view(np.uint8).reshape(-1)), payload]
    return pc.binary_join_element_wise(*parts, pa.scalar(b"", type=pa.binary()))


def _key_column_ok(col: pa.Array, vt: ValueType) -> bool:
    if col.null_count:
        return False
    if vt == ValueType.STRING:
        return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
    if vt == ValueType.INT64:
        return pa.types.is_int64(col.type) or pa.types.is_int32(col.type)
    return pa.types.is_int32(col.type)


def _entity_keys_with_feast(
    table: pa.Table | pa.RecordBatch, join_keys: dict[str, ValueType], version: int
) -> pa.Array:
    batch = table.combine_chunks().to_batches()[0] if isinstance(table, pa.Table) else table
    protos = _columns_to_proto_values(batch, list(join_keys.items()))
    keys = _build_entity_keys(batch.num_rows, join_keys, protos)
    return pa.array(
        [serialize_entity_key(k, entity_key_serialization_version=version) for k in keys],
        type=pa.binary(),
    )


# --------------------------------------------------------------------------------------
# Timestamps: Feast converts each row's timestamp in Python; here each distinct one.
# --------------------------------------------------------------------------------------


@dataclass
class Timestamps:
    """Row timestamps as codes into the distinct values, those coerced as Feast does."""

    codes: np.ndarray
    distinct: list[datetime]

    @classmethod
    def of(cls, col: pa.Array | pa.ChunkedArray) -> Timestamps:
        col = _combine(col)
        if col.null_count:
            raise ValueError("null event timestamps")
        distinct = pc.unique(col)
        codes = pc.index_in(col, value_set=distinct).to_numpy(zero_copy_only=False)
        values = [
            _coerce_datetime(v) for v in pd.to_datetime(distinct.to_numpy(zero_copy_only=False))
        ]
        return cls(codes=codes.astype(np.int64), distinct=values)

    def mapped(self, fn) -> list[Any]:
        """fn applied to each row's timestamp (computed once per distinct value)."""
        table = [fn(v) for v in self.distinct]
        if len(table) == 1:
            return table * len(self.codes)
        return [table[c] for c in self.codes.tolist()]


# --------------------------------------------------------------------------------------
# A batch of rows, encoded.
# --------------------------------------------------------------------------------------


@dataclass
class EncodedRows:
    """Rows of one feature view, encoded as Feast would write them to an online store."""

    entity_keys: pa.Array
    features: dict[str, EncodedColumn]
    event_ts: Timestamps
    created_ts: Timestamps | None
    num_rows: int = field(default=0)

    def texts(self, name: str) -> list[str | None]:
        return self.features[name].text()


def encode_rows(
    table: pa.Table | pa.RecordBatch,
    feature_view: Any,
    join_keys: dict[str, ValueType],
    entity_key_serialization_version: int = 3,
    entity_keys: pa.Array | None = None,
    columns_with_nulls: set[str] | None = None,
) -> EncodedRows:
    """Encode a batch: entity keys, every feature's ValueProto bytes, timestamps.

    `columns_with_nulls`: columns with nulls in the whole table this batch was cut from
    (Feast converts integers with nulls through float64; see `encode_column`).
    """
    if entity_keys is None:
        entity_keys = encode_entity_keys(table, join_keys, entity_key_serialization_version)
    features = {}
    for f in feature_view.features:
        col = _combine(table.column(f.name))
        has_nulls = (
            col.null_count > 0 if columns_with_nulls is None else (f.name in columns_with_nulls)
        )
        features[f.name] = encode_column(col, f.dtype.to_value_type(), has_nulls)
    source = feature_view.batch_source
    event_ts = Timestamps.of(table.column(source.timestamp_field))
    created_ts = (
        Timestamps.of(table.column(source.created_timestamp_column))
        if source.created_timestamp_column
        else None
    )
    return EncodedRows(
        entity_keys=_combine(entity_keys),
        features=features,
        event_ts=event_ts,
        created_ts=created_ts,
        num_rows=table.num_rows,
    )


def sort_by_key(data: pa.Table, keys: pa.Array) -> tuple[pa.Table, pa.Array]:
    """Rows in entity key order; rows with equal keys keep their order (last one wins)."""
    order = pc.sort_indices(
        pa.table({"key": keys, "row": pa.array(np.arange(len(keys)))}),
        sort_keys=[("key", "ascending"), ("row", "ascending")],
    )
    return data.take(order), keys.take(order)


def columns_with_nulls(table: pa.Table) -> set[str]:
    return {name for name in table.column_names if table.column(name).null_count > 0}
