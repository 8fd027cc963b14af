"""Fixtures of the reliability suite, and its summary printed after the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.summary import TALLY

_written: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def reliability_summary_file(tmp_path_factory: pytest.TempPathFactory):
    """Writes the tally to reliability_summary.txt under pytest's temporary folder at the end."""
    path = tmp_path_factory.getbasetemp() / "reliability_summary.txt"
    yield path
    if not TALLY.is_empty():
        path.write_text(TALLY.render() + "\n")
        _written.append(path)


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY.is_empty():
        return
    terminalreporter.write_sep("=", "reliability summary")
    terminalreporter.write_line(TALLY.render())
    for path in _written:
        terminalreporter.write_line(f"(written to {path})")


@pytest.fixture(scope="session")
def subset(raw_paths, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small slice of the real data (every 24th customer, 20 minutes of clickstream)."""
    from tests.conftest import write_real_subset

    return write_real_subset(raw_paths, tmp_path_factory.mktemp("rel_subset"), 24)


@pytest.fixture(scope="session")
def clean_warehouse(subset, tmp_path_factory: pytest.TempPathFactory):
    """The slice built as it is (privacy option off): the baseline the other builds match."""
    from tests.conftest import BUILD_ONLY, build_warehouse, subset_vars

    return build_warehouse(tmp_path_factory.mktemp("rel_clean"), subset_vars(subset), BUILD_ONLY)


@pytest.fixture(scope="session")
def pipeline(raw_paths, tmp_path_factory: pytest.TempPathFactory):
    """A slice of the real data through the whole pipeline, ids pseudonymized as in the demo:
    `dbt build`, Feast apply and materialize, every model trained (quick) and registered,
    then `dbt build --select tag:scoring` and the customer embeddings it wrote materialized,
    in the demo's order. Returns the warehouse and the source vars."""
    from cartcast import catalog
    from cartcast.features import store as feature_store
    from cartcast.training.train import TrainOptions, train_model
    from cartcast.training.train_recommender import RecommenderOptions, train_recommender
    from tests.conftest import BUILD, SCORED_MODELS
    from tests.reliability.pipeline import dbt, write_slice

    root = tmp_path_factory.mktemp("rel_pipeline")
    source_vars = write_slice(raw_paths, root / "raw")
    from cartcast.warehouse.paths import Warehouse

    warehouse = Warehouse.under(root / "wh")
    dbt(list(BUILD), warehouse, source_vars)
    feature_store.apply(warehouse)
    feature_store.materialize(warehouse)
    store = feature_store.get_store(warehouse)
    for name in SCORED_MODELS:
        train_model(name, warehouse, TrainOptions(quick=True), store=store, echo=lambda _: None)
    for name in catalog.RECOMMENDERS:
        train_recommender(name, warehouse, RecommenderOptions(quick=True), echo=lambda _: None)
    dbt(["build", "--select", "tag:scoring"], warehouse, source_vars)
    feature_store.materialize(warehouse, feature_views=[catalog.EMBEDDINGS.name])
    return warehouse, source_vars


@pytest.fixture(scope="session")
def demo_project(raw_paths, tmp_path_factory: pytest.TempPathFactory):
    """A project copy whose bundled data is a real slice, after `cartcast demo --quick` ran
    in it as on a fresh clone. Returns the copy and the demo's output."""
    from tests.reliability.demo_project import copy_project, run_demo, write_bundled_slice

    project = copy_project(tmp_path_factory.mktemp("demo") / "project")
    write_bundled_slice(raw_paths, project)
    done = run_demo(project)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # the copy's own code ran, on the copy's data and paths (not the checkout's)
    assert (project / "warehouse/cartcast.duckdb").exists(), done.stdout[-2000:]
    return project, done.stdout
