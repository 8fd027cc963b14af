"""Fast materialization for Feast, inside Feast's own extension points.

- `engine.CartcastComputeEngine` (`batch_engine:` in feature_store.yaml) is Feast's local
  compute engine with three nodes swapped: instead of turning every row into Python protobuf
  objects, the output node encodes whole Arrow columns at once (`encode.py`) and hands them
  to the online store's bulk writer; the filter and the newest row per entity stay in Arrow
  instead of going through pandas and back.
- `sqlite.CartcastSqliteOnlineStore` and `redis.CartcastRedisOnlineStore`
  (`online_store: type:`) are Feast's SQLite and Redis stores with bulk writers added and a
  batched `online_write_batch`. Reads are Feast's own, unchanged.

The bytes stored are the ones Feast's own stores write: same tables and hash layout, entity
keys in serialization version 3, the same ValueProto bytes, the same timestamps.
"""

from cartcast.features.bulk.encode import BulkOnlineStore, EncodedRows, encode_rows

__all__ = ["BulkOnlineStore", "EncodedRows", "encode_rows"]
