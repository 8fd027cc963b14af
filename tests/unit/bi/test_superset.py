"""The BI server's housekeeping that needs no server: secrets, its pid file, its environment."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cartcast.bi import superset
from cartcast.bi.paths import BIPaths
from cartcast.errors import BIError


def test_secrets_are_made_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secret_key"
    first = superset._secret(path)
    assert len(first) >= 40 and superset._secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_stale_pid_file_is_no_server(tmp_path: Path) -> None:
    paths = BIPaths(tmp_path / "bi")
    paths.superset_home.mkdir(parents=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                           capture_output=True, check=True)  # fmt: skip
    (paths.superset_home / "server.pid").write_text(f"{ended.stdout.strip()} 8088\n")
    assert superset.running(paths) is None
    assert superset.stop(paths) is None
    assert not (paths.superset_home / "server.pid").exists()


def test_stop_ends_a_detached_server_and_its_process_group(tmp_path: Path) -> None:
    paths = BIPaths(tmp_path / "bi")
    paths.superset_home.mkdir(parents=True)
    server = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    (paths.superset_home / "server.pid").write_text(f"{server.pid} 8088\n")
    assert superset.running(paths) == server.pid
    assert superset.stop(paths) == server.pid
    assert server.wait(timeout=30) != 0


def test_superset_runs_with_the_shipped_settings_and_this_home(tmp_path: Path) -> None:
    env = superset.environment(BIPaths(tmp_path / "bi"))
    assert Path(env["SUPERSET_CONFIG_PATH"]) == superset.CONFIG and superset.CONFIG.exists()
    assert env["CARTCAST_BI_HOME"] == str(tmp_path / "bi" / "superset")


def test_the_same_bundle_is_not_imported_again(tmp_path: Path, monkeypatch) -> None:
    """Edits made in Superset stay: the bundle imported last is not imported again (here no
    Superset is installed at all, so any import attempt would fail)."""
    paths = BIPaths(tmp_path / "bi")
    paths.superset_home.mkdir(parents=True)
    monkeypatch.setattr(superset, "VENV", tmp_path / "no-venv")
    (paths.superset_home / "dashboard.imported").write_text("d1\n")
    assert superset.import_dashboards(paths, tmp_path / "b.zip", "d1") is False
    with pytest.raises(BIError, match="make bi-setup"):
        superset.import_dashboards(paths, tmp_path / "b.zip", "d2")
