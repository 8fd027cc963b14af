"""Every third-party package the code imports is declared in pyproject.toml.

A package that only arrives as a dependency of another (pandas through Feast, say) can vanish
when that one changes its own requirements; declaring it keeps a fresh install working.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from cartcast.warehouse.paths import PROJECT_DIR

PRODUCT = ("cartcast", "scoring", "udfs", "feature_repo", "models", "bench")
FIRST_PARTY = {"cartcast", "scoring", "udfs", "tests", "feature_repo", "bench"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(group: list[str]) -> set[str]:
    return {_canonical(re.split(r"[\s<>=!~\[;]", spec, maxsplit=1)[0]) for spec in group}


def _imported(folders: tuple[str, ...]) -> dict[str, str]:
    """Top-level module imported -> a file importing it (absolute imports only)."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted((PROJECT_DIR / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    # a sibling module (feature_repo's files import each other by name)
                    if (path.parent / f"{top}.py").exists():
                        continue
                    found.setdefault(top, str(path.relative_to(PROJECT_DIR)))
    return found


def _undeclared(folders: tuple[str, ...], declared: set[str]) -> list[str]:
    providers = packages_distributions()
    missing = []
    for module, where in sorted(_imported(folders).items()):
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
            continue
        dists = {_canonical(d) for d in providers.get(module, [])}
        assert dists, f"{module} (imported by {where}) is not installed at all"
        if not dists & declared:
            missing.append(f"{module} ({'/'.join(sorted(dists))}, imported by {where})")
    return missing


def _pinned_files() -> list[str]:
    """Requirements files `make setup` installs beside the project (pinned by hash,
    --no-deps): the pre-trained weights."""
    specs = []
    for path in sorted((PROJECT_DIR / "requirements").glob("*.txt")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-", "--")):
                specs.append(line)
    return specs


SPARK_MODULES = ("cartcast/warehouse/spark.py)", "scoring/spark_job.py)")


def test_every_imported_package_is_declared() -> None:
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    runtime = _declared(project["dependencies"]) | _declared(_pinned_files())
    spark = _declared(project["optional-dependencies"]["spark"])
    assert _undeclared(PRODUCT, runtime | spark) == []
    # the [spark] extra is optional: only the Spark engine's own modules may import it
    outside = [m for m in _undeclared(PRODUCT, runtime) if not m.endswith(SPARK_MODULES)]
    assert outside == []
    dev = runtime | _declared(project["optional-dependencies"]["dev"])
    assert _undeclared(("tests",), dev) == []
