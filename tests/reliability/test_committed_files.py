"""Nothing committed holds a secret or a machine's absolute path, and the dbt profile takes
its locations from the environment."""

from __future__ import annotations

import re
import subprocess

import yaml

from cartcast.warehouse.paths import PROJECT_DIR
from tests.reliability.summary import TALLY

# Home and temp folders of a developer's machine, and credential-looking assignments.
ABSOLUTE = re.compile(r"(?<![\w.])(/home/\w+|/root/|/Users/\w+|[A-Z]:\\\\Users)")
SECRET = re.compile(
    r"(?i)\b(password|passwd|secret|api[_-]?key|token)\b\s*[:=]\s*['\"][^'\"\s{]{8,}['\"]"
)
TEXT = (".py", ".sql", ".yml", ".yaml", ".toml", ".md", ".cfg", ".txt", ".sh", "Makefile", "run")


def tracked_text_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.split()
    # this file holds examples of what the patterns catch
    return [f for f in out if f.endswith(TEXT) and f != "tests/reliability/test_committed_files.py"]


def test_no_secret_or_absolute_path_is_committed() -> None:
    files = tracked_text_files()
    assert len(files) > 50
    found = []
    for name in files:
        text = (PROJECT_DIR / name).read_text(errors="replace")
        for pattern in (ABSOLUTE, SECRET):
            found += [f"{name}: {m.group(0)}" for m in pattern.finditer(text)]
    TALLY.add("committed files scanned for secrets and paths", len(files))
    for place in found:
        TALLY.mismatch(f"committed {place}")
    assert not found, "\n".join(found)


def test_the_patterns_catch_what_they_are_for() -> None:
    assert ABSOLUTE.search("path: /home/alice/warehouse.duckdb")
    assert SECRET.search('password = "hunter2hunter2"')
    assert not SECRET.search("password: \"{{ env_var('REDIS_PASSWORD') }}\"")


def test_the_profile_reads_locations_from_the_environment() -> None:
    profile = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text())
    output = profile["cartcast"]["outputs"]["duckdb"]
    assert "env_var('CARTCAST_DUCKDB'" in output["path"]
    assert "env_var('CARTCAST_PARQUET_DIR'" in output["external_root"]
