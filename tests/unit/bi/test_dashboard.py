"""The shipped dashboard export: whole and consistent, and made ready for a publication."""

from __future__ import annotations

import zipfile
from pathlib import Path

import yaml

from cartcast.bi import dashboard
from cartcast.bi.paths import BIPaths

NEXT_PRODUCTS = "predictions.next_products_latest"


def shipped() -> dict[str, dict]:
    return dashboard.read_assets()


def by_kind(assets: dict[str, dict], kind: str) -> dict[str, dict]:
    return {n: c for n, c in assets.items() if n.startswith(f"{kind}/")}


def all_tables(assets: dict[str, dict]) -> set[str]:
    return set().union(*(dashboard.tables_read(c) for c in by_kind(assets, "datasets").values()))


def position_charts(board: dict) -> dict[str, dict]:
    return {
        k: v
        for k, v in board["position"].items()
        if isinstance(v, dict) and v.get("type") == "CHART"
    }


def test_the_export_is_whole() -> None:
    assets = shipped()
    assert assets["metadata.yaml"]["type"] == "Dashboard"
    (database,) = by_kind(assets, "databases").values()
    datasets = by_kind(assets, "datasets")
    charts = by_kind(assets, "charts")
    (board,) = by_kind(assets, "dashboards").values()
    assert {d["database_uuid"] for d in datasets.values()} == {database["uuid"]}
    dataset_uuids = {d["uuid"] for d in datasets.values()}
    for name, chart in charts.items():
        assert chart["dataset_uuid"] in dataset_uuids, name
        # the chart data API answers only charts that carry their query
        assert chart["query_context"], f"{name} has no query_context: open it in Explore, save"
    # every chart sits on the dashboard once, and nothing else does
    placed = [c["meta"]["uuid"] for c in position_charts(board).values()]
    assert sorted(placed) == sorted(c["uuid"] for c in charts.values())
    for key, node in board["position"].items():
        for child in node.get("children", []) if isinstance(node, dict) else []:
            assert child in board["position"], (key, child)
    # what the brief asks the dashboard to show
    titles = " | ".join(c["slice_name"] for c in charts.values()).lower()
    for topic in ("order in the next 30 days", "churn", "expected spend", "roc-auc",
                  "calibration", "drift", "next products"):  # fmt: skip
        assert topic in titles, topic


def test_every_published_table_it_reads_exists_in_a_publication_by_name() -> None:
    tables = all_tables(shipped())
    assert NEXT_PRODUCTS in tables
    schemas = {t.split(".", 1)[0] for t in tables}
    assert schemas <= {"predictions", "monitoring", "ml", "cartcast"}


def test_the_bundle_reads_this_warehouses_publication_read_only(tmp_path: Path) -> None:
    paths = BIPaths(tmp_path / "bi")
    assets = shipped()
    bundle = dashboard.write_bundle(paths, tmp_path / "b.zip", all_tables(assets))
    assert bundle.left_out == {} and len(bundle.charts) == len(by_kind(assets, "charts"))
    with zipfile.ZipFile(bundle.path) as archive:
        names = archive.namelist()
        assert all(n.startswith(f"{dashboard.BUNDLE_ROOT}/") for n in names)
        (db_name,) = [n for n in names if "/databases/" in n]
        uri = yaml.safe_load(archive.read(db_name))["sqlalchemy_uri"]
    assert uri == (
        f"duckdb:///{tmp_path}/bi/published/current/bi.duckdb"
        "?access_mode=read_only&enable_external_access=false&lock_configuration=true"
    )


def test_without_next_products_its_chart_and_place_are_left_out(tmp_path: Path) -> None:
    assets = shipped()
    available = all_tables(assets) - {NEXT_PRODUCTS}
    kept, left_out = dashboard.select(assets, available)
    (title,) = left_out
    assert "next products" in title.lower() and NEXT_PRODUCTS in left_out[title]
    assert not any(c.get("table_name") == "next_products_latest" for c in kept.values())
    assert title not in {c.get("slice_name") for c in kept.values()}
    (board,) = by_kind(kept, "dashboards").values()
    placed = {c["meta"]["uuid"] for c in position_charts(board).values()}
    assert placed == {c["uuid"] for c in by_kind(kept, "charts").values()}
    # no row is left empty, nothing points at a removed node
    for key, node in board["position"].items():
        if isinstance(node, dict):
            assert node.get("type") != "ROW" or node["children"], key
            assert all(child in board["position"] for child in node.get("children", []))
    # the shipped files themselves are untouched
    assert any(c.get("table_name") == "next_products_latest" for c in shipped().values())


def test_a_virtual_dataset_reads_the_tables_its_sql_names() -> None:
    sql = "select * from monitoring.feature_drift d join predictions.x_latest p on true"
    assert dashboard.tables_read({"sql": sql}) == {
        "monitoring.feature_drift",
        "predictions.x_latest",
    }
    assert dashboard.tables_read({"sql": None, "schema": "ml", "table_name": "t"}) == {"ml.t"}


def test_the_digest_tells_bundles_apart(tmp_path: Path) -> None:
    paths = BIPaths(tmp_path / "bi")
    everything = all_tables(shipped())
    one = dashboard.write_bundle(paths, tmp_path / "1.zip", everything).digest
    assert dashboard.write_bundle(paths, tmp_path / "2.zip", everything).digest == one
    fewer = dashboard.write_bundle(paths, tmp_path / "3.zip", everything - {NEXT_PRODUCTS})
    other = dashboard.write_bundle(BIPaths(tmp_path / "other"), tmp_path / "4.zip", everything)
    assert len({one, fewer.digest, other.digest}) == 3
