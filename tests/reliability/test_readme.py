"""Every command README.md shows in Quick start and Features through Feast, read from the
README itself and run as written in a project where `cartcast demo` ran (a fresh clone's
paths, pseudonymized ids, no salt set). The README cannot drift from the code unnoticed.

Only two things are adapted, both to the test machine: the feature server's port and the Redis
address become free ones of this run. `make demo` is the fixture itself and `make test` is this
suite; other `make` targets are set-up around commands shown elsewhere.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cartcast.warehouse.paths import PROJECT_DIR
from tests.reliability.demo_project import project_env
from tests.reliability.summary import TALLY

pytestmark = pytest.mark.slow

SECTIONS = ("## Quick start", "## Features through Feast")
COMMAND = re.compile(r"^(?:[A-Z_]+=\S+ )*(?:cartcast|dbt|python|curl|cd feature_repo &&) ")
# `[--option value]` marks an optional part: run the fullest form
OPTIONAL = re.compile(r"\[(--[^\]]*)\]")
COMMAND_TIMEOUT_S = 600
SERVER_PORT = "6566"
REDIS_ADDRESS = "127.0.0.1:6379"


def _section(text: str, title: str) -> str:
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def readme_commands(readme: str) -> list[str]:
    """Shell commands of the README sections, in reading order: lines of fenced bash blocks
    (comments dropped) and inline code that starts like a command."""
    commands: list[str] = []
    for title in SECTIONS:
        body = _section(readme, title)
        for fenced, inline in re.findall(r"```bash\n(.*?)```|`([^`\n]+)`", body, re.DOTALL):
            lines = fenced.splitlines() if fenced else [inline]
            for line in lines:
                line = re.sub(r"\s+#\s.*$", "", line).strip()
                if COMMAND.match(line) and line not in commands:
                    commands.append(OPTIONAL.sub(r"\1", line))
    # a command's bare name in prose ("`cartcast predict` refuses ...") names it, not a run
    return [c for c in commands if not any(o.startswith(c + " ") for o in commands)]


def test_the_readme_commands_are_found() -> None:
    """The extraction itself: the commands a reader sees in these sections are all there."""
    commands = readme_commands((PROJECT_DIR / "README.md").read_text())
    assert any(c.startswith("cartcast features get --customer 12347") for c in commands)
    assert "dbt build" in commands and any(c.startswith("curl ") for c in commands)
    assert any(c.startswith("cartcast predict ") for c in commands)
    assert all("[--" not in c for c in commands)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the feature server exited: {server.stdout.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the feature server did not listen on {port}")


def _check(command: str, out: str) -> None:
    """What each kind of command must show, beyond exiting 0."""
    if command.startswith("cartcast features get --customer"):
        assert "recency_days" in out and "event time 2011-12-" in out, out
    elif command.startswith("cartcast features get --user"):
        assert "user_id" in out and "event time 2017-11-" in out, out
    elif command.startswith("cartcast predict"):
        assert re.search(r"customer_id=[0-9a-f]{64}: 0\.\d+", out), out
    elif command.startswith("curl"):
        assert '"PRESENT"' in out and "12347" not in out, out
    elif command.startswith("python -c"):
        assert "customer_id" in out and "as_of" in out, out


def test_every_readme_command_runs_after_the_demo(demo_project, redis_url: str) -> None:
    project, _ = demo_project
    commands = readme_commands((PROJECT_DIR / "README.md").read_text())
    env = project_env(project)
    port = str(_free_port())
    server = None
    failures = []
    try:
        for command in commands:
            command = command.replace(SERVER_PORT, port).replace(REDIS_ADDRESS, redis_url)
            if " features serve " in f"{command} ":
                server = subprocess.Popen(
                    command,
                    shell=True,
                    cwd=project,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
                _wait_for_port(int(port), server)
                TALLY.add("README commands run")
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
            TALLY.add("README commands run")
            out = done.stdout + done.stderr
            if done.returncode != 0:
                failures.append(f"{command}\n  exit {done.returncode}: {out[-1500:]}")
                continue
            try:
                _check(command, out)
            except AssertionError as wrong:
                failures.append(f"{command}\n  printed what it should not: {wrong}")
    finally:
        if server is not None:
            import os

            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    assert not failures, "\n".join(failures)
    assert server is not None, "the README's feature server command was not found"
    assert (project / "warehouse/synthetic").is_dir()  # `cartcast generate` wrote its files
    assert Path(project / "warehouse/cartcast.duckdb").exists()
