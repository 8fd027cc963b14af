"""The BI server: Apache Superset in its own virtual environment, on loopback.

Superset pins older numpy, pandas, pyarrow and SQLAlchemy than cartcast, so it lives in
`.venv-bi` (`make bi-setup`, from `bi/requirements.txt`) and cartcast drives it as separate
processes: its own command line for set-up and imports, gunicorn for the web server. Its
home (`warehouse/bi/superset/`) holds the metadata database (SQLite), a secret key and the
admin password generated there, the server's log and, when it runs detached, its pid.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cartcast.bi.paths import BIPaths
from cartcast.errors import BIError
from cartcast.warehouse.paths import PROJECT_DIR

VENV = PROJECT_DIR / ".venv-bi"
CONFIG = PROJECT_DIR / "bi" / "superset_config.py"
HOST = "127.0.0.1"
DEFAULT_PORT = 8088
ADMIN = "admin"
START_TIMEOUT_S = 180
# One worker process is plenty for one person on loopback; threads serve the dashboard's
# charts in parallel.
GUNICORN_ARGS = ("--workers", "1", "--worker-class", "gthread", "--threads", "4")


@dataclass(frozen=True)
class Login:
    url: str
    username: str
    password: str


def executable(name: str) -> Path:
    path = VENV / "bin" / name
    if not path.exists():
        raise BIError(
            f"Superset is not installed ({path} is missing): run `make bi-setup` (it creates "
            ".venv-bi from bi/requirements.txt)."
        )
    return path


def home(paths: BIPaths) -> Path:
    return paths.superset_home


def environment(paths: BIPaths) -> dict[str, str]:
    """Superset's processes: our settings file, this home, no cartcast variables needed."""
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "CARTCAST_BI_HOME": str(home(paths)),
        "FLASK_APP": "superset",
        # Superset's own dependencies warn about each other's deprecations at every start
        "PYTHONWARNINGS": "ignore",
    }


def _secret(path: Path) -> str:
    """The secret in `path`, created (owner-only) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _run(paths: BIPaths, *args: str, secret: str | None = None, timeout_s: float = 600) -> str:
    """One Superset command; BIError with the end of its output when it fails. `secret` (a
    password among the arguments) is masked in the log."""
    log = home(paths) / "setup.log"
    done = subprocess.run(
        [str(executable("superset")), *args],
        env=environment(paths),
        cwd=home(paths),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    with log.open("a") as handle:
        shown = " ".join("***" if secret and a == secret else a for a in args)
        handle.write(f"$ superset {shown}\n")
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        raise BIError(f"`superset {args[0]}` failed (exit {done.returncode}); see {log}:\n{tail}")
    return done.stdout


def _installed_version() -> str:
    found = sorted((VENV / "lib").glob("python*/site-packages/apache_superset-*.dist-info"))
    return found[-1].name if found else "unknown"


def setup(paths: BIPaths) -> str:
    """Superset's metadata database, migrated to the installed version, with the admin user
    and roles; returns the admin's password. Cheap when nothing changed (a stamp file)."""
    folder = home(paths)
    folder.mkdir(parents=True, exist_ok=True)
    _secret(folder / "secret_key")
    password = _secret(folder / "admin_password")
    stamp = folder / "initialized"
    version = _installed_version()
    metadata = folder / "superset.db"
    if metadata.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return password
    # new or migrated metadata: the dashboard is imported again
    _imported_stamp(paths).unlink(missing_ok=True)
    _run(paths, "db", "upgrade")
    created = _run(
        paths, "fab", "create-admin", "--username", ADMIN, "--firstname", "cartcast",
        "--lastname", "admin", "--email", "admin@localhost", "--password", password,
        secret=password,
    )  # fmt: skip
    if "already exists" in created:
        # the password printed must be the one that works
        _run(paths, "fab", "reset-password", "--username", ADMIN, "--password", password,
             secret=password)  # fmt: skip
    _run(paths, "init")
    stamp.write_text(version + "\n")
    return password


def _imported_stamp(paths: BIPaths) -> Path:
    """What was imported last: the bundle's digest."""
    return home(paths) / "dashboard.imported"


def import_dashboards(paths: BIPaths, bundle: Path, digest: str) -> bool:
    """Import (overwrite) the dashboard bundle, owned by the admin, unless this very bundle
    was imported last: edits made in Superset stay until the shipped dashboard changes, or
    the publication gains a table it shows. Returns whether it imported."""
    if _imported_stamp(paths).exists() and _imported_stamp(paths).read_text().strip() == digest:
        return False
    _run(paths, "import-dashboards", "--path", str(bundle), "--username", ADMIN)
    _imported_stamp(paths).write_text(digest + "\n")
    return True


def _pid_file(paths: BIPaths) -> Path:
    return home(paths) / "server.pid"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def running(paths: BIPaths) -> int | None:
    """The pid of this home's detached server, if it is alive."""
    try:
        pid = int(_pid_file(paths).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return None if _zombie(pid) else pid


def _zombie(pid: int) -> bool:
    """Ended but not yet reaped by its parent (Linux; elsewhere: assume alive)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def start(paths: BIPaths, port: int = DEFAULT_PORT, timeout_s: float = START_TIMEOUT_S):
    """Start gunicorn with Superset on 127.0.0.1:`port` in its own process group (its output
    goes to `server.log` in the home) and wait until it answers /health. Returns the process."""
    url = f"http://{HOST}:{port}"
    if _healthy(url):
        raise BIError(f"Something already answers on {url}: stop it, or pass another --port.")
    log = (home(paths) / "server.log").open("ab")
    process = subprocess.Popen(
        [
            str(executable("gunicorn")),
            *GUNICORN_ARGS,
            "--bind",
            f"{HOST}:{port}",
            "--timeout",
            "120",
            "--no-control-socket",
            "superset.app:create_app()",
        ],
        env=environment(paths),
        cwd=home(paths),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    _pid_file(paths).write_text(f"{process.pid} {port}\n")
    deadline = time.monotonic() + timeout_s
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            _pid_file(paths).unlink(missing_ok=True)
            tail = "\n".join(
                (home(paths) / "server.log").read_text(errors="replace").splitlines()[-25:]
            )
            raise BIError(
                f"Superset did not start on {url}; see {home(paths) / 'server.log'}:\n{tail}"
            )
        time.sleep(0.5)
    return process


def stop_process(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM to the server's process group (gunicorn and its worker), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass


def forget(paths: BIPaths) -> None:
    """Remove the pid file of a server this process stopped itself."""
    _pid_file(paths).unlink(missing_ok=True)


def stop(paths: BIPaths, timeout_s: float = 30) -> int | None:
    """Stop this home's detached server; its pid, or None when none was running."""
    pid = running(paths)
    if pid is None:
        _pid_file(paths).unlink(missing_ok=True)
        return None
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while running(paths) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    if running(paths) is not None:
        os.killpg(pid, signal.SIGKILL)
    _pid_file(paths).unlink(missing_ok=True)
    return pid
