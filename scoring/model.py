"""A registered model ready to score: its registry entry, declared inputs and a session."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import onnx

from cartcast.catalog import get_spec
from cartcast.errors import ScoringError
from cartcast.registry import versions as registry
from cartcast.registry.metadata import read_metadata
from cartcast.warehouse.paths import Warehouse
from scoring.model_inputs import Input, parse_inputs
from scoring.onnx_session import Session, open_session


@dataclass(frozen=True)
class ScoringModel:
    entry: registry.Entry
    inputs: tuple[Input, ...]
    metadata: dict[str, str]
    session: Session
    # the graph itself, for the explainer (which may cut a sequence model in two)
    proto: onnx.ModelProto | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def version(self) -> int:
        return self.entry.version

    @property
    def task(self) -> str:
        return self.entry.task

    @property
    def key(self) -> str:
        return get_spec(self.name).key

    @property
    def provider(self) -> str:
        return self.session.provider

    def score(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(feed), dtype=np.float64)


def from_entry(
    entry: registry.Entry,
    device: str = "auto",
    threads: int | None = None,
    spinning: bool = True,
) -> ScoringModel:
    """Check the file against its registered digest, read its inputs, open a session
    (`spinning`: see `open_session`)."""
    path = entry.verify_file()
    data = path.read_bytes()
    try:
        proto = onnx.load_from_string(data)
    except Exception as err:  # protobuf raises DecodeError and friends
        raise ScoringError(
            f"{entry.name} v{entry.version}: {path} is not a readable ONNX file ({err})."
        ) from err
    metadata = read_metadata(proto)
    if metadata.get("model_name") not in (None, entry.name):
        raise ScoringError(
            f"{path} holds model {metadata['model_name']!r}, not {entry.name!r}: the registry "
            "row points at the wrong file."
        )
    # TensorRT engines are cached beside the file, built once per model version
    session = open_session(
        data, device, threads, cache_dir=path.parent / "trt_cache", spinning=spinning
    )
    return ScoringModel(entry, parse_inputs(metadata), metadata, session, proto)


def resolve(
    con: duckdb.DuckDBPyConnection, name: str, version: int | None = None
) -> registry.Entry:
    """The named version, else the champion, read on an open connection."""
    get_spec(name)  # unknown names stop here, with the list of known ones
    if version is None:
        return registry.champion_on(con, name)
    return registry.get_on(con, name, version)


def load(
    warehouse: Warehouse,
    name: str,
    version: int | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> ScoringModel:
    with registry.connect(warehouse) as con:
        entry = resolve(con, name, version)
    return from_entry(entry, device, threads)
