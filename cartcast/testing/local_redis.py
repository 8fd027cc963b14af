"""A throwaway redis-server (Debian package) on 127.0.0.1 and a free port, for tests and benches."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


class RedisServerError(RuntimeError):
    """redis-server is missing or would not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_redis(workdir: Path, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Start redis-server without persistence in `workdir`; yield "127.0.0.1:<port>"; stop it."""
    server = shutil.which("redis-server")
    if server is None:
        raise RedisServerError(
            "redis-server is not installed: `make test` installs it, or run "
            "`apt-get install redis-server`."
        )
    port = free_port()
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RedisServerError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
