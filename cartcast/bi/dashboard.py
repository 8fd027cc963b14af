"""The shipped dashboard, made ready to import into this warehouse's Superset.

`bi/superset/` holds the dashboard in Superset's own export format (metadata.yaml,
databases/, datasets/, charts/, dashboards/): edit it in Superset and export it again, or
edit the YAML. Before each import, `write_bundle` zips a copy in which
- the database points at this warehouse's current publication, read-only, with file access
  switched off (a BI user's SQL can read the published tables and nothing else on disk);
- a dataset whose table the publication lacks is left out, with the charts built on it and
  their places on the dashboard. `predictions.next_products_latest` appears once the
  next-products model is scored; until then the dashboard has no next-products table, and
  the next `cartcast bi` after a publication that has it imports it.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cartcast.bi.paths import BIPaths
from cartcast.errors import BIError
from cartcast.warehouse.paths import PROJECT_DIR

ASSETS = PROJECT_DIR / "bi" / "superset"
CONNECTION_OPTIONS = "access_mode=read_only&enable_external_access=false&lock_configuration=true"
# A table a virtual dataset's SQL reads: schema.table of a published schema.
_TABLE_IN_SQL = re.compile(r"\b(predictions|monitoring|ml|cartcast)\.([A-Za-z_][A-Za-z0-9_]*)\b")
BUNDLE_ROOT = "cartcast_dashboard"


@dataclass
class Bundle:
    path: Path
    dashboard: str
    slug: str
    charts: list[str]
    # of what was zipped: the same digest, the same dashboard
    digest: str
    left_out: dict[str, str] = field(default_factory=dict)


def database_uri(paths: BIPaths) -> str:
    return f"duckdb:///{paths.current_database}?{CONNECTION_OPTIONS}"


def read_assets(folder: Path = ASSETS) -> dict[str, dict]:
    """Every YAML file of the export, by its path relative to `folder`."""
    assets = {
        p.relative_to(folder).as_posix(): yaml.safe_load(p.read_text())
        for p in sorted(folder.rglob("*.yaml"))
    }
    kinds = {name.split("/", 1)[0] for name in assets}
    missing = {"metadata.yaml", "databases", "datasets", "charts", "dashboards"} - kinds
    if missing:
        raise BIError(f"The dashboard export in {folder} lacks {sorted(missing)}.")
    return assets


def tables_read(dataset: dict) -> set[str]:
    """The published tables ("schema.table") a dataset reads."""
    if dataset.get("sql"):
        return {f"{s}.{t}" for s, t in _TABLE_IN_SQL.findall(dataset["sql"])}
    return {f"{dataset['schema']}.{dataset['table_name']}"}


def _drop_from_position(position: dict, chart_uuids: set[str]) -> None:
    doomed = [
        key
        for key, node in position.items()
        if isinstance(node, dict)
        and node.get("type") == "CHART"
        and node.get("meta", {}).get("uuid") in chart_uuids
    ]
    while doomed:
        key = doomed.pop()
        node = position.pop(key)
        for parent in node.get("parents", [])[-1:]:
            siblings = position.get(parent, {}).get("children", [])
            if key in siblings:
                siblings.remove(key)
            # a row left empty goes too
            if position.get(parent, {}).get("type") == "ROW" and not siblings:
                doomed.append(parent)


def select(assets: dict[str, dict], available: set[str]) -> tuple[dict[str, dict], dict[str, str]]:
    """The assets without the datasets whose tables are not published, their charts and
    their places on the dashboards; and the charts left out, by title, with why."""
    kept = dict(assets)
    absent_by_dataset: dict[str, list[str]] = {}
    for name, config in assets.items():
        if name.startswith("datasets/"):
            absent = sorted(tables_read(config) - available)
            if absent:
                absent_by_dataset[config["uuid"]] = absent
                del kept[name]
    left_out: dict[str, str] = {}
    for name, config in assets.items():
        if name.startswith("charts/") and config["dataset_uuid"] in absent_by_dataset:
            absent = absent_by_dataset[config["dataset_uuid"]]
            left_out[config["slice_name"]] = f"{', '.join(absent)} is not published yet"
            del kept[name]
    dropped = {c["uuid"] for n, c in assets.items() if n.startswith("charts/") and n not in kept}
    for name, config in kept.items():
        if name.startswith("dashboards/"):
            _drop_from_position(config["position"], dropped)
    return kept, left_out


def write_bundle(paths: BIPaths, out: Path, available: set[str], folder: Path = ASSETS) -> Bundle:
    """The zip `superset import-dashboards` takes, for this warehouse's publication."""
    assets, left_out = select(read_assets(folder), available)
    uri = database_uri(paths)
    for name, config in assets.items():
        if name.startswith("databases/"):
            config["sqlalchemy_uri"] = uri
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, config in sorted(assets.items()):
            text = yaml.safe_dump(config, sort_keys=False)
            archive.writestr(f"{BUNDLE_ROOT}/{name}", text)
            digest.update(f"{name}\n{text}\n".encode())
    (dashboard,) = (c for n, c in assets.items() if n.startswith("dashboards/"))
    charts = [c["slice_name"] for n, c in assets.items() if n.startswith("charts/")]
    return Bundle(
        out, dashboard["dashboard_title"], dashboard["slug"], charts, digest.hexdigest(), left_out
    )
