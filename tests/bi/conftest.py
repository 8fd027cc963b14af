"""The BI server (Superset) started by `cartcast bi serve` on loopback, over the warehouse every
model was trained and scored in: every test below this folder is marked `bi`, and `slow`
(the warehouse is built from the full bundled data; other suites share it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cartcast.bi.paths import BIPaths
from cartcast.testing.local_redis import free_port
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

HERE = Path(__file__).parent
SERVE_TIMEOUT_S = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.bi)
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class BIServer:
    url: str
    username: str
    password: str
    dashboard_url: str
    warehouse: Warehouse
    paths: BIPaths
    output: str


def cartcast(*args: str, env: dict[str, str], timeout_s: float = SERVE_TIMEOUT_S):
    return subprocess.run(
        [str(Path(sys.executable).parent / "cartcast"), *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.fixture(scope="session")
def bi_env(scored_warehouse: Warehouse) -> dict[str, str]:
    """A shell pointed at the scored warehouse, as a user's after `make demo`."""
    env = {k: v for k, v in os.environ.items() if k != "CARTCAST_BI_DIR"}
    return {**env, **scored_warehouse.env()}


@pytest.fixture(scope="module")
def bi_server(scored_warehouse: Warehouse, bi_env: dict[str, str]):
    """`cartcast bi serve --detach` on a free port; `cartcast bi stop` once the module's tests
    are done, whatever they did (and the server's process group killed if that fails), so
    the server does not outlive them through the rest of the suite."""
    port = free_port()
    started = cartcast("bi", "serve", "--detach", "--port", str(port), env=bi_env)
    paths = BIPaths.for_warehouse(scored_warehouse)
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        login = re.search(r"login:\s+(\S+) / (\S+)", started.stdout)
        dashboard = re.search(r"Superset is running: (\S+)", started.stdout)
        assert login and dashboard, started.stdout
        yield BIServer(
            url=f"http://127.0.0.1:{port}",
            username=login.group(1),
            password=login.group(2),
            dashboard_url=dashboard.group(1),
            warehouse=scored_warehouse,
            paths=paths,
            output=started.stdout,
        )
    finally:
        stopped = cartcast("bi", "stop", env=bi_env, timeout_s=120)
        pid_file = paths.superset_home / "server.pid"
        if pid_file.exists():  # `stop` failed: do not leave a server behind
            import signal

            os.killpg(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
