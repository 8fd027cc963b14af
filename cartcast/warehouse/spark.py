"""The Spark engine: the environment dbt-spark's session needs, and cartcast's own sessions.

The settings live once, in profiles.yml's `spark` output (its `server_side_parameters`);
`session()` reads them from there, so cartcast's own Spark jobs and dbt's builds run alike.
Spark binds the machine's network address unless told otherwise: everything here binds and
talks to 127.0.0.1 only. Executors run this Python (`PYSPARK_PYTHON`), which has pyarrow and
onnxruntime; another interpreter on the PATH would not.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import jinja2
import yaml

from cartcast.errors import SparkUnavailable
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

TARGET = "spark"
LOOPBACK = "127.0.0.1"
# What a Spark build leaves out: dbt-spark's session method runs SQL models only, and these
# are (or need) dbt Python models: the scoring models and the product text embeddings.
SQL_ONLY_EXCLUDE = ("tag:scoring", "int_product_text_embeddings+")


def require_spark() -> None:
    """One line naming what to install when Java or pyspark is missing."""
    if (
        importlib.util.find_spec("pyspark") is None
        or importlib.util.find_spec("dbt.adapters.spark") is None
    ):
        raise SparkUnavailable(
            "The Spark engine needs pyspark and dbt-spark: run `make spark-setup` "
            "(or `pip install -e '.[spark]'`)."
        )
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and (Path(java_home) / "bin" / "java").exists()) and not shutil.which("java"):
        raise SparkUnavailable(
            "The Spark engine needs Java 17: install Debian's openjdk-17-jre-headless "
            "(`make spark-setup` does), or set JAVA_HOME."
        )


def spark_env(warehouse: Warehouse, master: str | None = None) -> dict[str, str]:
    """Environment variables for a dbt run (or a session) on Spark for this warehouse."""
    require_spark()
    env = {
        "CARTCAST_TARGET": TARGET,
        "CARTCAST_SPARK_DIR": str(warehouse.spark_dir),
        "SPARK_LOCAL_IP": LOOPBACK,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    if master:
        env["CARTCAST_SPARK_MASTER"] = master
    return env


def session_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """profiles.yml's Spark settings, rendered with `env` as dbt would render them."""
    env = dict(os.environ if env is None else env)

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise SparkUnavailable(f"profiles.yml's spark output needs ${name}, which is not set.")
        return default

    text = (PROJECT_DIR / "profiles.yml").read_text()
    rendered = jinja2.Environment().from_string(text).render(env_var=env_var)
    output = yaml.safe_load(rendered)["cartcast"]["outputs"][TARGET]
    return {k: str(v) for k, v in output["server_side_parameters"].items()}


def session(warehouse: Warehouse, master: str | None = None, app: str = "cartcast"):
    """A Spark session on this warehouse's Spark tables (the ones dbt builds), bound to the
    loopback address. Environment variables must be in place before the JVM starts."""
    env = spark_env(warehouse, master)
    # the JVM and the Python workers it starts read these from this process's environment;
    # CARTCAST_TARGET is left out, so a dbt run started from this process stays on DuckDB
    os.environ.update({k: env[k] for k in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")})
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app).enableHiveSupport()
    for key, value in session_settings({**os.environ, **env}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as err:  # py4j and the JVM raise their own types
        raise SparkUnavailable(
            f"The Spark session did not start ({str(err).splitlines()[0]}). Check that Java 17 "
            "runs (`java -version`) and that nothing else holds "
            f"{warehouse.spark_dir / 'metastore_db'}."
        ) from err
