"""Feast's local compute engine with a bulk output node (`batch_engine:` in feature_store.yaml).

Reading the source stays Feast's own node (`LocalFeatureBuilder`). Three nodes change:

- the output: stock Feast's `LocalOutputNode` turns the whole Arrow result into one Python
  protobuf object per row and per value (`_convert_arrow_to_proto`) before the online store
  sees it; `BulkOutputNode` gives the Arrow table to stores that can encode it in bulk
  (`BulkOnlineStore`: the cartcast SQLite and Redis stores) and falls back to the stock node
  for any other store or feature view;
- the filter and the newest row per entity: Feast's nodes copy the table into pandas and back
  at each step (a quarter of a bulk materialization's time at 200,000 customers, the filter
  doing nothing at all when there is no entity frame and no filter expression).
  `ArrowFilterNode` passes the table through in that case, and `ArrowDedupNode` keeps the
  newest row per join key (event time, then created time, both descending, nulls last, as
  Feast sorts) with Arrow's sort and group-by; with anything else both are Feast's own.
  Where two rows of a key tie on both times, the first read wins (Feast leaves it to pandas'
  unstable sort).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import (
    LocalComputeEngine,
    LocalComputeEngineConfig,
)
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import (
    LocalDedupNode,
    LocalFilterNode,
    LocalOutputNode,
)
from feast.infra.compute_engines.utils import ENTITY_TS_ALIAS
from feast.infra.registry.base_registry import BaseRegistry

from cartcast.features.bulk.encode import BulkOnlineStore

ENGINE_TYPE = "cartcast.features.bulk.engine.CartcastComputeEngine"


class CartcastComputeEngineConfig(LocalComputeEngineConfig):
    """`batch_engine: {type: cartcast.features.bulk.engine.CartcastComputeEngine}`."""

    type: Literal["cartcast.features.bulk.engine.CartcastComputeEngine"] = ENGINE_TYPE  # type: ignore[assignment]


class BulkOutputNode(LocalOutputNode):
    """Writes the materialized Arrow table through the store's bulk writer when it has one."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        store = context.online_store
        view = self.feature_view
        if not (view.online and _bulk_capable(store, context, view)):
            return super().execute(context)

        table = self.get_single_table(context).data
        output = ArrowTableValue(data=table)
        context.node_outputs[self.name] = output
        if table.num_rows == 0:
            return output

        join_keys = {e.name: e.dtype.to_value_type() for e in view.entity_columns}
        batch_size = context.repo_config.materialization_config.online_write_batch_size
        parts = (
            [table]
            if batch_size is None
            else [pa.Table.from_batches([b]) for b in table.to_batches(max_chunksize=batch_size)]
        )
        for part in parts:
            store.online_write_arrow(context.repo_config, view, part, join_keys)

        if view.offline:
            context.offline_store.offline_write_batch(
                config=context.repo_config, feature_view=view, table=table, progress=lambda x: None
            )
        return output


class ArrowFilterNode(LocalFilterNode):
    """Feast's filter node, without the pandas round trip when there is nothing to filter."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        table = self.get_single_table(context).data
        if self.filter_expr or ENTITY_TS_ALIAS in table.column_names:
            return super().execute(context)
        output = ArrowTableValue(table)
        context.node_outputs[self.name] = output
        return output


class ArrowDedupNode(LocalDedupNode):
    """Feast's newest-row-per-entity node, in Arrow instead of pandas."""

    def execute(self, context: ExecutionContext) -> ArrowTableValue:
        table = self.get_single_table(context).data
        keys = self.column_info.join_keys_columns
        if not keys or any(k not in table.column_names for k in keys):
            return super().execute(context)
        output = ArrowTableValue(newest_per_key(table, keys, self._sort_columns(table)))
        context.node_outputs[self.name] = output
        return output

    def _sort_columns(self, table: pa.Table) -> list[str]:
        columns = [self.column_info.timestamp_column]
        created = self.column_info.created_timestamp_column
        if created and created in table.column_names:
            columns.append(created)
        return columns


def newest_per_key(table: pa.Table, keys: list[str], times: list[str]) -> pa.Table:
    """One row per distinct `keys`: the one with the latest `times` (compared in order,
    nulls last); ties go to the row that comes first in `table`."""
    if len(keys) == 1 and table.num_rows:
        column = table.column(keys[0])
        if column.null_count == 0 and pc.count_distinct(column).as_py() == table.num_rows:
            return table
    order = pc.sort_indices(
        table, sort_keys=[(c, "descending") for c in times], null_placement="at_end"
    )
    ordered = table.take(order)
    position = pa.array(np.arange(ordered.num_rows, dtype=np.int64))
    first = (
        ordered.select(keys)
        .append_column("cartcast_position", position)
        .group_by(keys, use_threads=False)
        .aggregate([("cartcast_position", "min")])
        .column("cartcast_position_min")
    )
    # Without threads the groups come in the order they are first seen: positions ascend.
    return ordered.take(first)


def _bulk_capable(store, context: ExecutionContext, view) -> bool:
    if not isinstance(store, BulkOnlineStore) or not store.supports_bulk_write(context.repo_config):
        return False
    # On-demand views and vector fields keep Feast's own path (and its checks).
    if getattr(view, "source_request_sources", None) is not None:
        return False
    if getattr(view, "source_feature_view_projections", None) is not None:
        return False
    if any(getattr(f, "vector_index", False) for f in view.features):
        return False
    return view.batch_source is not None


class BulkFeatureBuilder(LocalFeatureBuilder):
    def build_filter_node(self, view, input_node):
        node = ArrowFilterNode(
            "filter",
            self.get_column_info(view),
            self.backend,
            getattr(view, "filter", None),
            getattr(view, "ttl", None),
            inputs=[input_node],
        )
        self.nodes.append(node)
        return node

    def build_dedup_node(self, view, input_node):
        node = ArrowDedupNode(
            "dedup", self.get_column_info(view), self.backend, inputs=[input_node]
        )
        self.nodes.append(node)
        return node

    def build_output_nodes(self, view, input_node):
        node = BulkOutputNode("output", self.dag_root.view, inputs=[input_node])
        self.nodes.append(node)
        return node


class CartcastComputeEngine(LocalComputeEngine):
    """Feast's `LocalComputeEngine`, materializing through `BulkOutputNode`."""

    def _materialize_one(
        self, registry: BaseRegistry, task: MaterializationTask, **kwargs
    ) -> LocalMaterializationJob:
        job_id = f"{task.feature_view.name}-{task.start_time}-{task.end_time}"
        context = self.get_execution_context(registry, task)
        backend = self._get_backend(context)
        try:
            plan = BulkFeatureBuilder(registry, task, backend=backend).build()
            plan.execute(context)
            return LocalMaterializationJob(job_id=job_id, status=MaterializationJobStatus.SUCCEEDED)
        except Exception as e:
            return LocalMaterializationJob(
                job_id=job_id, status=MaterializationJobStatus.ERROR, error=e
            )
