"""What `cartcast bi` does before the server starts: a publication to read, Superset's
metadata ready, and the shipped dashboard imported for this warehouse (again only when it
changed, so edits made in Superset stay)."""

from __future__ import annotations

from dataclasses import dataclass

from cartcast.bi import dashboard, publish, superset
from cartcast.bi.paths import BIPaths
from cartcast.warehouse.paths import Warehouse


@dataclass(frozen=True)
class Prepared:
    paths: BIPaths
    publication: publish.Publication
    password: str
    bundle: dashboard.Bundle
    published_now: bool
    imported: bool

    def login(self, port: int) -> superset.Login:
        return superset.Login(f"http://{superset.HOST}:{port}", superset.ADMIN, self.password)


def prepare(warehouse: Warehouse) -> Prepared:
    """Publish first if nothing is published yet (a warehouse built before publishing
    existed), set Superset up (once per installed version) and import the dashboard."""
    paths = BIPaths.for_warehouse(warehouse)
    publication = publish.current(paths)
    published_now = publication is None
    if publication is None:
        publication = publish.publish(warehouse, source="cartcast bi")
    password = superset.setup(paths)
    bundle = dashboard.write_bundle(
        paths, superset.home(paths) / "dashboard.zip", publication.tables
    )
    imported = superset.import_dashboards(paths, bundle.path, bundle.digest)
    return Prepared(paths, publication, password, bundle, published_now, imported)
