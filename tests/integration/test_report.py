"""`cartcast report` on models trained on the bundled real data, rendered in headless Chromium:
the pages must show their charts in a real browser, not only exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.features import store as feature_store
from cartcast.report import charts
from cartcast.report.pages import write_reports
from cartcast.training.train import TrainOptions, train_model
from cartcast.warehouse.paths import Warehouse
from scoring import promotion

QUICK = TrainOptions(quick=True, seed=5)
# Charts per page: binary = ROC, PR, calibration, gains/lift, importance; amounts = predicted
# vs actual, gains, importance; each monitoring table adds one; overview = quarantine, models.
BINARY_CHARTS, REGRESSION_CHARTS, MONITORING_CHARTS, OVERVIEW_CHARTS = 5, 3, 3, 2
NOT_SCORED = "Not scored yet: run <code>dbt build</code>"
# Records each image's decoded size in the DOM, so --dump-dom shows what the browser drew.
PROBE = (
    '<script>window.addEventListener("load", () => { for (const img of document.images) '
    '{ img.setAttribute("data-natural", img.naturalWidth + "x" + img.naturalHeight); } });'
    "</script>"
)


@pytest.fixture(scope="module")
def report_warehouse(real_warehouse: Warehouse, tmp_path_factory) -> Warehouse:
    """A copy of the real warehouse with its own Feast registry and models, so promoting the
    report's models changes no champion the other tests score with."""
    root = tmp_path_factory.mktemp("report_warehouse")
    copy = Warehouse.under(root)
    shutil.copy(real_warehouse.duckdb_path, copy.duckdb_path)
    shutil.copytree(real_warehouse.parquet_dir, copy.parquet_dir)
    feature_store.apply(copy)
    return copy


@pytest.fixture(scope="module")
def trained(report_warehouse: Warehouse) -> dict[str, int]:
    """churn_90d (probabilities) and spend_90d (amounts) trained quickly on the real data."""
    store = feature_store.get_store(report_warehouse)
    versions = {}
    for name in ("churn_90d", "spend_90d"):
        result = train_model(name, report_warehouse, QUICK, store=store, echo=lambda _: None)
        # The copy may hold a champion trained without the report's files: report this one.
        promotion.promote(report_warehouse, name, result.version)
        versions[name] = result.version
    return versions


MONITORING_TABLES = ("score_distribution", "feature_drift", "realized_performance")


@pytest.fixture(scope="module")
def monitored(scored_warehouse: Warehouse) -> Warehouse:
    """The warehouse every model was trained in and `dbt build --select tag:scoring` scored:
    the report reads the monitoring tables dbt wrote (read-only), not rows made for it."""
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        for table in MONITORING_TABLES:
            models = {
                name
                for (name,) in con.execute(
                    f"select distinct model_name from monitoring.{table}"
                ).fetchall()
            }
            assert {"churn_90d", "spend_90d"} <= models, (table, models)
    finally:
        con.close()
    return scored_warehouse


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: run `make chromium` (Debian package).")
    return found


def browser(*args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]
    return subprocess.run(
        [chromium(), *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


def rendered_images(page: Path, tmp_path: Path) -> list[tuple[int, int]]:
    """The decoded (width, height) of every image as the browser loaded the page."""
    probe = tmp_path / f"probe_{page.name}"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = browser("--dump-dom", probe.as_uri()).stdout
    assert dom.count("<img") == len(re.findall(r'data-natural="', dom)), "load never fired"
    return [(int(w), int(h)) for w, h in re.findall(r'data-natural="(\d+)x(\d+)"', dom)]


def screenshot(page: Path, out: Path) -> np.ndarray:
    browser(f"--screenshot={out}", "--window-size=1280,5200", page.as_uri())
    return np.asarray(Image.open(out).convert("RGB"))


def ink_measures(pixels: np.ndarray) -> tuple[int, float]:
    """Distinct colours, and the share of pixels darker than the page's near-white."""
    distinct = len(np.unique(pixels.reshape(-1, 3), axis=0))
    return distinct, float((pixels.min(axis=2) < 235).mean())


def has_charts(pixels: np.ndarray) -> bool:
    distinct, non_white = ink_measures(pixels)
    return distinct > 500 and non_white > 0.05


def colour_pixels(pixels: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).max(axis=2) <= tolerance).sum())


def test_report_without_monitoring(report_warehouse: Warehouse, trained, tmp_path: Path) -> None:
    paths = write_reports(report_warehouse, tmp_path, ["churn_90d", "spend_90d"])
    assert [p.name for p in paths] == ["index.html", "churn_90d.html", "spend_90d.html"]
    overview, churn, spend = (p.read_text() for p in paths)
    for page, charts_expected in ((churn, BINARY_CHARTS), (spend, REGRESSION_CHARTS)):
        assert page.count("<img") == charts_expected
        assert page.count(NOT_SCORED) == 2  # score distribution and drift
        assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "ROC curve" in churn and "ROC curve" not in spend
    assert "Predicted vs actual by decile" in spend and "Gains on spend" in spend
    assert overview.count("<img") == OVERVIEW_CHARTS
    assert "missing_customer_id" in overview and "4,345" in overview  # customers, real data
    assert 'href="churn_90d.html"' in overview


def test_report_renders_in_chromium(monitored: Warehouse, tmp_path: Path) -> None:
    paths = write_reports(monitored, tmp_path / "reports", ["churn_90d", "spend_90d"])
    overview, churn, spend = paths
    assert NOT_SCORED not in churn.read_text()
    expected = {
        overview: OVERVIEW_CHARTS,
        churn: BINARY_CHARTS + MONITORING_CHARTS,
        spend: REGRESSION_CHARTS + MONITORING_CHARTS,
    }
    for page, count in expected.items():
        sizes = rendered_images(page, tmp_path)
        assert len(sizes) == count, page.name
        assert all(w >= 300 and h >= 200 for w, h in sizes), (page.name, sizes)

    pixels = screenshot(churn, tmp_path / "churn.png")
    assert pixels.shape[1] == 1280
    body = pixels[120:]  # below the header band
    assert has_charts(body), ink_measures(body)
    # Chart ink in the candidates' colours: nothing but the charts uses them.
    ink = {n: colour_pixels(body, c) for n, c in charts.CANDIDATE_COLOURS.items()}
    assert ink["logistic regression"] > 50 and ink["hist gradient boosting"] > 50, ink
    assert sum(ink.values()) > 1000, ink


def test_blank_page_fails_the_checks(tmp_path: Path) -> None:
    """The browser checks tell a page without charts apart: a broken image draws nothing."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img src="data:image/png;base64,AAAA"></body></html>')
    assert rendered_images(page, tmp_path) == [(0, 0)]
    assert not has_charts(screenshot(page, tmp_path / "broken.png"))


def test_report_command(monitored: Warehouse, tmp_path, monkeypatch) -> None:
    for key, value in monitored.env().items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["report", "--out", str(out), "--model", "spend_90d"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(out / "index.html"), str(out / "spend_90d.html")]
    assert CliRunner().invoke(app, ["report", "--model", "nope"]).exit_code == 2
