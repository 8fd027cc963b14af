"""SQL functions that call a registered model from plain SQL, as vectorized Arrow UDFs.

    select customer_id, cartcast_predict('churn_90d', f) as churn
    from marts.customer_features as f

`features` is any row or struct holding the model's inputs by name (a table alias, a
`struct_pack(...)`, `{'recency_days': 3, ...}`); DuckDB passes it as JSON, so one function
serves every model whatever its inputs. Extra fields are ignored; a missing input stops the
query with its name. Scores equal the batch scorer's: the same ONNX file and the same feed.

Functions:
- `cartcast_predict(model, features) -> double`: the champion's score.
- `cartcast_predict_version(model, version, features) -> double`: a named version's score.
- `cartcast_model_version(model) -> integer`: the champion's version (for lineage columns).

The champion of each model is read when the functions are registered: register again after
`cartcast models promote` (dbt does, on every run).
"""

from __future__ import annotations

import contextlib
import io
import json
from functools import cache
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from duckdb.sqltypes import DOUBLE, INTEGER, VARCHAR, DuckDBPyType

from cartcast import catalog
from cartcast.errors import RegistryError, ScoringError
from cartcast.registry import versions as registry

if TYPE_CHECKING:
    from scoring.model import ScoringModel
    from scoring.model_inputs import Input

JSON = DuckDBPyType("JSON")


def _arrow_type(wanted: Input) -> pa.DataType:
    if wanted.length is not None:
        return pa.list_(pa.string())
    return pa.float64() if wanted.type == "float32" else pa.string()


def _rows(features: pa.ChunkedArray, model: ScoringModel) -> pa.Table:
    """The JSON rows as an Arrow table typed by the model's inputs."""
    texts = features.to_pylist()
    first = json.loads(texts[0])
    missing = [i.name for i in model.inputs if i.name not in first]
    if missing:
        raise ScoringError(
            f"cartcast_predict('{model.name}', ...): the features lack {missing}. Pass a row or "
            f"struct with every input of {model.name} v{model.version}."
        )
    schema = pa.schema([(i.name, _arrow_type(i)) for i in model.inputs])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        return pa_json.read_json(io.BytesIO("\n".join(texts).encode()), parse_options=options)
    except pa.ArrowInvalid as err:
        raise ScoringError(
            f"cartcast_predict('{model.name}', ...): a feature has the wrong type ({err})."
        ) from err


class Models:
    """The registered models, read once, with sessions opened on first use."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.champions: dict[str, int] = {}
        self.entries: dict[tuple[str, int], registry.Entry] = {}
        try:
            rows = con.execute(f"select name, version, status from {registry.TABLE}").fetchall()
        except duckdb.CatalogException:
            rows = []  # no model trained yet: every call will say how to train one
        for name, version, status in rows:
            self.entries[(name, version)] = registry.get_on(con, name, version)
            if status == "champion":
                self.champions[name] = version

    def champion(self, name: str) -> int:
        if name not in catalog.MODELS:
            raise ScoringError(f"Unknown model {name!r}; known: {sorted(catalog.MODELS)}.")
        if name not in self.champions:
            raise RegistryError(
                f"Model {name} has no champion: train one with `cartcast train --model {name}`."
            )
        return self.champions[name]

    @cache  # noqa: B019 - one Models per connection, kept as long as its functions
    def model(self, name: str, version: int) -> ScoringModel:
        # imported on first use: every dbt run registers these functions, few call them, and
        # ONNX's import alone was most of dbt's connection start-up
        from scoring.model import from_entry

        if (name, version) not in self.entries:
            raise RegistryError(f"No model {name} v{version}; see `cartcast models list`.")
        return from_entry(self.entries[(name, version)])

    def score(self, name: str, version: int, features: pa.ChunkedArray) -> pa.Array:
        from scoring.model_inputs import feed

        model = self.model(name, version)
        scores = model.score(feed(_rows(features, model), model.inputs))
        return pa.array(scores.astype(np.float64))


def _single(values: pa.ChunkedArray, what: str):
    distinct = pc.unique(values).to_pylist()
    if len(distinct) != 1:
        raise ScoringError(f"Pass one {what} per query to cartcast_predict; got {distinct}.")
    return distinct[0]


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Create the cartcast SQL functions on `con` (any DuckDB connection to a warehouse)."""
    models = Models(con)

    def predict(name: pa.ChunkedArray, features: pa.ChunkedArray) -> pa.Array:
        model = _single(name, "model name")
        return models.score(model, models.champion(model), features)

    def predict_version(
        name: pa.ChunkedArray, version: pa.ChunkedArray, features: pa.ChunkedArray
    ) -> pa.Array:
        return models.score(_single(name, "model name"), _single(version, "version"), features)

    def model_version(name: pa.ChunkedArray) -> pa.Array:
        return pa.array([models.champion(n) for n in name.to_pylist()], pa.int32())

    for fn_name in ("cartcast_predict", "cartcast_predict_version", "cartcast_model_version"):
        # not registered on this connection yet: nothing to remove
        with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
            con.remove_function(fn_name)
    con.create_function("cartcast_predict", predict, [VARCHAR, JSON], DOUBLE, type="arrow")
    con.create_function(
        "cartcast_predict_version", predict_version, [VARCHAR, INTEGER, JSON], DOUBLE, type="arrow"
    )
    con.create_function("cartcast_model_version", model_version, [VARCHAR], INTEGER, type="arrow")
