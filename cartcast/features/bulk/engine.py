"""Feast's local compute engine with a bulk output node (`batch_engine:` in feature_store.yaml).

Reading the source, filtering and keeping the newest row per entity stay Feast's own nodes
(`LocalFeatureBuilder`). Only the last node changes: stock Feast's `LocalOutputNode` turns the
whole Arrow result into one Python protobuf object per row and per value
(`_convert_arrow_to_proto`) before the online store sees it; `BulkOutputNode` gives the Arrow
table to stores that can encode it in bulk (`BulkOnlineStore`: the cartcast SQLite and Redis
stores) and falls back to the stock node for any other store or feature view.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
from feast.infra.common.materialization_job import MaterializationJobStatus, MaterializationTask
from feast.infra.compute_engines.dag.context import ExecutionContext
from feast.infra.compute_engines.local.arrow_table_value import ArrowTableValue
from feast.infra.compute_engines.local.compute import (
    LocalComputeEngine,
    LocalComputeEngineConfig,
)
from feast.infra.compute_engines.local.feature_builder import LocalFeatureBuilder
from feast.infra.compute_engines.local.job import LocalMaterializationJob
from feast.infra.compute_engines.local.nodes import LocalOutputNode
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
