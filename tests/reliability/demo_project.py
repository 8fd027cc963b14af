"""A copy of the project whose bundled data is a real slice, where `cartcast demo` ran.

The copy's own code runs (PYTHONPATH), with the default paths of a fresh clone (warehouse/,
artifacts/ inside the copy), so README commands run there exactly as a new user types them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from cartcast.warehouse.paths import PROJECT_DIR

# Ids the README uses; the slice keeps them (beside every 24th customer, every 8th user).
README_CUSTOMER = 12347
README_USER = 258029
DEMO_TIMEOUT_S = 1500


# Left out of the copy at the top of the checkout only (cartcast/warehouse/ is a package).
TOP_LEVEL_SKIPPED = {
    ".venv", ".venv-bi", ".git", "warehouse", "artifacts", "target", "logs", "data", "bench",
    ".whl", ".gl",
}  # fmt: skip
ANYWHERE_SKIPPED = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info"
)


def _skipped(folder: str, names: list[str]) -> set[str]:
    skipped = set(ANYWHERE_SKIPPED(folder, names))
    if Path(folder).resolve() == PROJECT_DIR:
        skipped |= TOP_LEVEL_SKIPPED & set(names)
    return skipped


def copy_project(root: Path) -> Path:
    shutil.copytree(PROJECT_DIR, root, ignore=_skipped)
    assert (root / "cartcast/warehouse/paths.py").exists()
    return root


def write_bundled_slice(raw_paths: dict[str, Path], project: Path) -> None:
    """The slice in place of the bundled files, same names and layout (gzip CSV)."""
    orders = project / "data/raw/online_retail/online_retail.csv.gz"
    events = project / "data/raw/taobao/user_behavior_sample.csv.gz"
    orders.parent.mkdir(parents=True)
    events.parent.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["online_retail"]}', header=true, all_varchar=true)
            where try_cast(CustomerID as bigint) % 24 = 0
               or try_cast(CustomerID as bigint) = {README_CUSTOMER}
               or CustomerID is null and InvoiceNo like '5363%'
        ) to '{orders}' (header true, compression gzip)
        """
    )
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["taobao"]}', header=false, all_varchar=true)
            where try_cast(column0 as bigint) % 8 = 0
               or try_cast(column0 as bigint) = {README_USER}
        ) to '{events}' (header false, compression gzip)
        """
    )
    con.close()


def project_env(project: Path) -> dict[str, str]:
    """A new user's shell in the copy: the venv active, no cartcast settings, no salt."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CARTCAST_") and not k.startswith("DBT_")
    }
    env["PYTHONPATH"] = str(project)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "False"
    return env


def run_demo(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cartcast"), "demo", "--quick"],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
