"""Where BI files live: the publications, the pointer to the current one, the server's home.

Everything sits in `bi/` beside the warehouse file (`warehouse/bi/` by default), or in
`$CARTCAST_BI_DIR`, so a test's or benchmark's warehouse has its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cartcast.warehouse.paths import Warehouse

BI_DIR_ENV = "CARTCAST_BI_DIR"
# The file in each publication that BI tools open (read-only).
DATABASE_FILE = "bi.duckdb"
# Written last into a publication: its presence means the publication is complete.
MANIFEST_FILE = "manifest.json"
CURRENT = "current"


@dataclass(frozen=True)
class BIPaths:
    root: Path

    @classmethod
    def for_database(cls, database_path: Path | str, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        if env.get(BI_DIR_ENV):
            return cls(Path(env[BI_DIR_ENV]).expanduser().resolve())
        return cls(Path(database_path).expanduser().resolve().parent / "bi")

    @classmethod
    def for_warehouse(cls, warehouse: Warehouse, env: Mapping[str, str] | None = None):
        return cls.for_database(warehouse.duckdb_path, env)

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def current(self) -> Path:
        """A symlink to the newest complete publication, replaced atomically (os.replace)."""
        return self.published / CURRENT

    @property
    def current_database(self) -> Path:
        """The path BI tools open: resolved through `current` at each open, so a new
        connection sees the newest publication and an open one keeps the file it opened."""
        return self.current / DATABASE_FILE

    def publication(self, build_id: str) -> Path:
        return self.published / build_id

    @property
    def superset_home(self) -> Path:
        """Superset's metadata database, secret key, admin password, log and pid file."""
        return self.root / "superset"
