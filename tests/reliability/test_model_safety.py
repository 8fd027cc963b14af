"""Model safety: a version that cannot serve (inputs that do not fit the feature marts, a
corrupt or truncated ONNX file, a registry row whose file is missing or altered) is refused
by `promote` with a clear message, and the champion stays in service for `cartcast score`
and `dbt build --select tag:scoring`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.errors import RegistryError
from cartcast.registry import versions as registry
from cartcast.warehouse.paths import Warehouse
from scoring import promotion
from tests.reliability.pipeline import SALT_ENV, copy_warehouse, dbt
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

MODEL = "churn_90d"
WINDOW = ("2011-01-03T00:00:00+00:00", "2011-04-18T00:00:00+00:00")


@pytest.fixture()
def served(pipeline, tmp_path: Path) -> tuple[Warehouse, dict]:
    """A copy of the pipeline's warehouse for each test: every test makes the versions it
    needs, so none depends on another having run before it (or at all)."""
    warehouse, source_vars = pipeline
    return copy_warehouse(warehouse, tmp_path / "wh"), source_vars


def _with_inputs(
    change: Callable[[list[dict]], None], graph: Callable[[onnx.ModelProto], None] | None = None
) -> Callable[[bytes], bytes]:
    """The champion's file with its declared inputs (ONNX metadata "inputs") changed, and
    its graph changed alike when `graph` is given."""

    def make(data: bytes) -> bytes:
        proto = onnx.load_from_string(data)
        if graph is not None:
            graph(proto)
        for prop in proto.metadata_props:
            if prop.key == "inputs":
                inputs = json.loads(prop.value)
                change(inputs)
                prop.value = json.dumps(inputs)
        return proto.SerializeToString()

    return make


def _rename(old: str, new: str) -> Callable[[list[dict]], None]:
    def change(inputs: list[dict]) -> None:
        next(i for i in inputs if i["name"] == old)["name"] = new

    return change


def _rename_in_graph(old: str, new: str) -> Callable[[onnx.ModelProto], None]:
    """A sound model that asks for a column the marts do not have."""

    def change(proto: onnx.ModelProto) -> None:
        for value in proto.graph.input:
            if value.name == old:
                value.name = new
        for node in proto.graph.node:
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new

    return change


def _retype(name: str, new_type: str) -> Callable[[list[dict]], None]:
    def change(inputs: list[dict]) -> None:
        next(i for i in inputs if i["name"] == name)["type"] = new_type

    return change


def _register(warehouse: Warehouse, data: bytes) -> registry.Entry:
    """A candidate version of MODEL whose file holds `data`."""
    champion = registry.champion(warehouse, MODEL)
    version = registry.next_version(warehouse, MODEL)
    path = registry.model_dir(warehouse, MODEL, version) / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return registry.register(
        warehouse,
        name=MODEL,
        version=version,
        task=champion.task,
        feature_service=champion.feature_service,
        family=champion.family,
        train_window=WINDOW,
        valid_window=WINDOW,
        cutoff=WINDOW[1],
        metrics=champion.metrics,
        path=path,
    )


def _missing(entry: registry.Entry) -> None:
    entry.path.unlink()


def _altered(entry: registry.Entry) -> None:
    entry.path.write_bytes(entry.path.read_bytes() + b"\0")


# (case, how the file is made from the champion's bytes, what happens to it after
# registration, what the refusal must say)
CASES = [
    ("input the marts lack", _with_inputs(_rename("recency_days", "loyalty_points"),
                 _rename_in_graph("recency_days", "loyalty_points")), None,
     "loyalty_points is missing"),
    ("input of the wrong type", _with_inputs(_retype("country", "float32")), None,
     "country is string, the model needs a number"),
    ("no declared inputs", _with_inputs(lambda inputs: inputs.clear()), None,
     "its graph takes"),
    ("declared input not in the graph", _with_inputs(_rename("tenure_days", "tenure")), None,
     "its graph takes"),
    ("truncated ONNX file", lambda data: data[: len(data) // 2], None, "ONNX"),
    ("corrupt ONNX file", lambda data: b"\x08\x07" + bytes(range(256)) * 8, None, "ONNX"),
    ("registry row, file missing", lambda data: data, _missing, "is missing"),
    ("registry row, file altered", lambda data: data, _altered, "sha256"),
]  # fmt: skip


def _env(monkeypatch: pytest.MonkeyPatch, warehouse: Warehouse) -> None:
    for key, value in {**warehouse.env(), **SALT_ENV}.items():
        monkeypatch.setenv(key, value)


def _register_broken(warehouse: Warehouse, make, after) -> registry.Entry:
    champion = registry.champion(warehouse, MODEL)
    entry = _register(warehouse, make(champion.path.read_bytes()))
    assert entry.status == "candidate"
    if after is not None:
        after(entry)
    return entry


@pytest.mark.parametrize(("case", "make", "after", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_broken_version_is_refused_and_the_champion_keeps_serving(
    served, monkeypatch: pytest.MonkeyPatch, case: str, make, after, says: str | None
) -> None:
    warehouse, _ = served
    champion = registry.champion(warehouse, MODEL)
    entry = _register_broken(warehouse, make, after)
    with pytest.raises(RegistryError) as refused:
        promotion.promote(warehouse, MODEL, entry.version)
    message = str(refused.value)
    assert message.startswith(f"Refusing to promote {MODEL} v{entry.version}: ")
    assert f"v{champion.version} stays the champion" in message
    if says is not None:
        assert says in message
    assert "Traceback" not in message
    assert registry.champion(warehouse, MODEL).version == champion.version
    TALLY.add("broken models refused")

    _env(monkeypatch, warehouse)
    runner = CliRunner()
    promoted = runner.invoke(app, ["models", "promote", MODEL, str(entry.version)])
    assert promoted.exit_code == 1 and "Refusing to promote" in promoted.output
    scored = runner.invoke(app, ["score", "--model", MODEL])
    assert scored.exit_code == 0, scored.output
    assert f"{MODEL} v{champion.version}:" in scored.output


def test_models_check_names_the_broken_versions(served, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse, _ = served
    _env(monkeypatch, warehouse)
    healthy = CliRunner().invoke(app, ["models", "check", MODEL])
    assert healthy.exit_code == 0 and "BROKEN" not in healthy.output, healthy.output
    broken = [_register_broken(warehouse, make, after) for _, make, after, _ in CASES]
    result = CliRunner().invoke(app, ["models", "check", MODEL])
    assert result.exit_code == 1
    assert result.output.count("BROKEN") == len(CASES)
    for entry in broken:
        assert re.search(rf"{MODEL}\s+{entry.version}\s+candidate\s+BROKEN: ", result.output)
    assert "champion  ok" in result.output


def test_dbt_scoring_runs_with_the_champion_after_the_refusals(served) -> None:
    warehouse, source_vars = served
    champion = registry.champion(warehouse, MODEL)
    for _, make, after, _ in CASES:
        entry = _register_broken(warehouse, make, after)
        with pytest.raises(RegistryError):
            promotion.promote(warehouse, MODEL, entry.version)
    dbt(["build", "--select", "tag:scoring"], warehouse, source_vars)
    versions = fetch(warehouse, f"select distinct model_version from predictions.{MODEL}")
    assert versions == [(champion.version,)]
    latest = fetch(
        warehouse, f"select count(*), min(model_version) from predictions.{MODEL}_latest"
    )
    assert latest[0][0] > 0 and latest[0][1] == champion.version


def test_a_healthy_version_is_still_promoted(served) -> None:
    """The check refuses only what is broken: a sound copy of the champion is promoted."""
    warehouse, _ = served
    champion = registry.champion(warehouse, MODEL)
    entry = _register(warehouse, Path(champion.path).read_bytes())
    assert promotion.promote(warehouse, MODEL, entry.version).status == "champion"
    assert promotion.promote(warehouse, MODEL, champion.version).status == "champion"
