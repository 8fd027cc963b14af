"""The Spark engine's settings and its refusals, read from the project's own profiles.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartcast.errors import SparkUnavailable
from cartcast.warehouse import spark
from cartcast.warehouse.paths import Warehouse


def test_spark_binds_and_talks_to_the_loopback_address_only(tmp_path: Path) -> None:
    env = spark.spark_env(Warehouse.under(tmp_path))
    settings = spark.session_settings(env)
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert settings["spark.driver.host"] == "127.0.0.1"
    assert settings["spark.driver.bindAddress"] == "127.0.0.1"
    assert settings["spark.ui.enabled"] == "false"


def test_tables_metastore_and_master_follow_the_environment(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path)
    env = spark.spark_env(warehouse, master="local-cluster[2,1,1024]")
    settings = spark.session_settings(env)
    assert settings["spark.master"] == "local-cluster[2,1,1024]"
    assert settings["spark.sql.warehouse.dir"] == f"{tmp_path / 'spark'}/tables"
    assert (
        f"databaseName={tmp_path / 'spark'}/metastore_db"
        in settings["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    default = spark.session_settings({k: v for k, v in env.items() if "MASTER" not in k})
    assert default["spark.master"] == "local[*]"


def test_executors_run_this_python(tmp_path: Path) -> None:
    import sys

    env = spark.spark_env(Warehouse.under(tmp_path))
    assert env["PYSPARK_PYTHON"] == sys.executable


def test_without_java_the_one_line_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailable, match="openjdk-17-jre-headless"):
        spark.spark_env(Warehouse.under(tmp_path))
