"""A real BI client on the prediction tables: Superset started by `cartcast bi`, logged into
through its API, its answers compared with DuckDB's own, every shipped chart's data fetched,
the dashboard rendered in headless Chromium, and reads that go on while a writer holds the
warehouse file."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from cartcast.bi import dashboard, publish
from tests.support.session_proxy import SessionProxy
from tests.support.superset_client import Superset, session_cookie

# Superset's default colour scheme starts with this blue: the bars and first lines are drawn in it.
FIRST_SERIES_COLOUR = "#1FA8C9"
BROWSER_TIMEOUT_S = 240
# Virtual time the page may use: it only runs out while nothing is loading.
RENDER_BUDGET_MS = 30_000
# What Superset shows in place of a chart that failed.
CHART_ERRORS = ("Unexpected error", "ant-alert-error", "No results were returned", "Data error")


@pytest.fixture(scope="module")
def api(bi_server) -> Superset:
    return Superset(bi_server.url, bi_server.username, bi_server.password)


@pytest.fixture(scope="module")
def database_id(api: Superset) -> int:
    (database,) = [
        d for d in api.get("/api/v1/database/")["result"] if d["database_name"] == "cartcast"
    ]
    return database["id"]


def duck(bi_server, sql: str) -> list[tuple]:
    """DuckDB's own answer, from the warehouse file itself (read-only)."""
    con = duckdb.connect(str(bi_server.warehouse.duckdb_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def same(superset_rows: list[dict], duckdb_rows: list[tuple]) -> None:
    assert len(superset_rows) == len(duckdb_rows) > 0
    for got, want in zip(superset_rows, duckdb_rows, strict=True):
        for a, b in zip(got.values(), want, strict=True):
            if isinstance(b, float):
                assert a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (
                    got,
                    want,
                )
            elif hasattr(b, "isoformat"):
                assert str(a).replace("T", " ").startswith(str(b)[:19]), (got, want)
            else:
                assert a == b, (got, want)


def test_cartcast_bi_prints_the_url_and_a_login_that_works(bi_server, api) -> None:
    assert bi_server.dashboard_url.startswith(bi_server.url) and "127.0.0.1" in bi_server.url
    me = api.get("/api/v1/me/")["result"]
    assert me["username"] == bi_server.username
    # the scoring build published what the server reads (dbt's on-run-end hook)
    current = publish.current(bi_server.paths)
    assert current is not None and str(bi_server.paths.current_database) in bi_server.output
    for table, rows in current.rows.items():
        ((count,),) = duck(bi_server, f"select count(*) from {table}")
        assert count == rows, table


QUERIES = {
    "top buyers": "select customer_id, score, score_decile, as_of "
    "from predictions.purchase_30d_latest order by score desc, customer_id limit 50",
    "churn by decile": "select score_decile, avg(score) as p, count(*) as n "
    "from predictions.churn_90d_latest group by 1 order by 1",
    "expected spend": "select sum(score) as spend, count(*) as n from predictions.spend_90d_latest",
    "history": "select model_name, model_version, count(*) as n, max(as_of) as newest "
    "from predictions.purchase_30d group by all order by all",
    "realized performance": "select model_name, as_of, rows, roc_auc, brier "
    "from monitoring.realized_performance order by model_name, as_of",
    "calibration": "select model_name, score_decile, sum(rows) as n, avg(mean_outcome) as o "
    "from monitoring.calibration group by all order by all",
    "drift": "select model_name, drift_level, count(*) as n from monitoring.feature_drift "
    "group by all order by all",
    "champions": "select name, version, family from ml.model_registry where status = 'champion' "
    "order by name",
}


@pytest.mark.parametrize("name", QUERIES)
def test_sql_lab_answers_equal_duckdbs(bi_server, api, database_id, name) -> None:
    sql = QUERIES[name]
    # SQL Lab's row limit, as its dropdown sets it: Superset 6.1 runs DuckDB queries with that
    # limit in place of the query's own LIMIT
    limit = int(re.search(r"limit (\d+)$", sql).group(1)) if " limit " in sql else 100_000
    same(api.sql(database_id, sql, limit=limit), duck(bi_server, sql))


def test_sql_lab_cannot_read_files_or_write(api, database_id) -> None:
    from tests.support.superset_client import SupersetError

    for sql in ("select * from read_csv('/etc/hostname')", "create table predictions.x (a int)"):
        with pytest.raises(SupersetError):
            api.sql(database_id, sql)


def test_every_chart_of_the_dashboard_returns_its_data(bi_server, api) -> None:
    charts = api.get("/api/v1/dashboard/cartcast/charts")["result"]
    shipped = {
        c["slice_name"] for n, c in dashboard.read_assets().items() if n.startswith("charts/")
    }
    published = publish.current(bi_server.paths).tables
    expected = {
        title
        for title in shipped
        if "next products" not in title.lower() or "predictions.next_products_latest" in published
    }
    assert {c["slice_name"] for c in charts} == expected
    answers = {}
    for chart in charts:
        (result,) = api.get(f"/api/v1/chart/{chart['id']}/data/")["result"]
        assert result["status"] == "success" and result["rowcount"] > 0, chart["slice_name"]
        answers[chart["slice_name"]] = result["data"]
    # two of them against DuckDB's own answers
    ((spend,),) = duck(bi_server, "select sum(score) from predictions.spend_90d_latest")
    (row,) = answers["Expected spend, next 90 days"]
    assert math.isclose(next(iter(row.values())), spend, rel_tol=1e-9)
    deciles = duck(
        bi_server,
        "select score_decile, avg(score) from predictions.churn_90d_latest group by 1 order by 1",
    )
    got = [
        (r["score_decile"], r["mean churn probability"]) for r in answers["Churn risk by decile"]
    ]
    assert [d for d, _ in got] == [d for d, _ in deciles]
    assert all(
        math.isclose(a, b, rel_tol=1e-9) for (_, a), (_, b) in zip(got, deciles, strict=True)
    )


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: run `make chromium` (Debian package).")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]
    budget = f"--virtual-time-budget={RENDER_BUDGET_MS}"
    return subprocess.run(
        [found, *flags, budget, "--window-size=1400,2600", *args],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    )


def render(url: str, out: Path) -> tuple[str, np.ndarray]:
    """The page's DOM once its charts loaded, and its screenshot."""
    dom = chromium("--dump-dom", url).stdout
    chromium(f"--screenshot={out}", url)
    return dom, np.asarray(Image.open(out).convert("RGB"))


def colour_pixels(pixels: np.ndarray, hex_colour: str, tolerance: int = 16) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).max(axis=2) <= tolerance).sum())


def rendered_charts(dom: str, pixels: np.ndarray) -> dict[str, int]:
    """What the browser drew: chart containers, ECharts canvases, table rows, error boxes,
    distinct colours and pixels in the first series' colour."""
    return {
        "charts": dom.count('data-test="chart-container"'),
        "canvases": dom.count("<canvas"),
        "table rows": len(re.findall(r"<tr[ >]", dom)),
        "errors": sum(dom.count(text) for text in CHART_ERRORS),
        "colours": len(np.unique(pixels.reshape(-1, 3), axis=0)),
        "series ink": colour_pixels(pixels, FIRST_SERIES_COLOUR),
    }


def test_the_dashboard_renders_its_charts_in_chromium(bi_server, api, tmp_path: Path) -> None:
    charts = api.get("/api/v1/dashboard/cartcast/charts")["result"]
    echarts = [c for c in charts if c["form_data"]["viz_type"].startswith("echarts")]
    cookie = session_cookie(bi_server.url, bi_server.username, bi_server.password)
    with SessionProxy(bi_server.url, cookie) as proxy:
        page = bi_server.dashboard_url.replace(bi_server.url, proxy.url) + "?standalone=1"
        dom, pixels = render(page, tmp_path / "dashboard.png")
        # the same checks on the dashboard with one dataset broken find the broken chart
        with broken_dataset(api, "feature_drift_newest"):
            broken_dom = chromium("--dump-dom", page).stdout
        assert proxy.errors == []
    seen = rendered_charts(dom, pixels)
    assert seen["charts"] == len(charts), seen
    assert seen["canvases"] >= len(echarts), seen
    assert seen["table rows"] >= 25, seen  # the buyers table alone has 25
    assert seen["errors"] == 0, seen
    assert seen["colours"] > 500 and seen["series ink"] > 2_000, seen
    # the buyers table shows the publication's top customer
    ((top,),) = duck(
        bi_server,
        "select left(customer_id, 12) from predictions.purchase_30d_latest "
        "order by score desc, customer_id limit 1",
    )
    assert top in dom
    assert rendered_charts(broken_dom, pixels)["errors"] > 0
    assert "monitoring.no_such_table" in broken_dom


@contextmanager
def broken_dataset(api: Superset, table_name: str):
    """A virtual dataset pointed at a table that does not exist, restored afterwards."""
    (found,) = [
        d
        for d in api.get("/api/v1/dataset/?q=(page_size:100)")["result"]
        if d["table_name"] == table_name
    ]
    sql = api.get(f"/api/v1/dataset/{found['id']}")["result"]["sql"]
    api.request(
        "PUT", f"/api/v1/dataset/{found['id']}", {"sql": "select * from monitoring.no_such_table"}
    )
    try:
        yield
    finally:
        api.request("PUT", f"/api/v1/dataset/{found['id']}", {"sql": sql})


HOLD = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute('begin'); "
    "con.execute('delete from predictions.purchase_30d'); print('held', flush=True); "
    "sys.stdin.read()"
)


def test_bi_reads_go_on_while_a_writer_holds_the_warehouse(bi_server, api, database_id) -> None:
    """A writer (as dbt during a build) holds the warehouse mid-transaction: the warehouse
    cannot even be opened to read, yet Superset answers from the publication; a new
    publication is picked up by the running server at its next query."""
    sql = QUERIES["top buyers"]
    before = api.sql(database_id, sql, limit=50)
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(bi_server.warehouse.duckdb_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout.readline().strip() == "held"
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(bi_server.warehouse.duckdb_path), read_only=True)
        for _ in range(3):
            assert api.sql(database_id, sql, limit=50) == before
        charts = api.get("/api/v1/dashboard/cartcast/charts")["result"]
        for chart in charts:
            (result,) = api.get(f"/api/v1/chart/{chart['id']}/data/")["result"]
            assert result["status"] == "success", chart["slice_name"]
    finally:
        writer.stdin.close()  # ends the writer without committing: nothing was deleted
        writer.wait(timeout=60)
    old = publish.current(bi_server.paths).build_id
    new = publish.publish(bi_server.warehouse, source="test").build_id
    seen = api.sql(database_id, f"select distinct build_id from {publish.MANIFEST_TABLE}")
    assert old != new and seen == [{"build_id": new}]
    assert api.sql(database_id, sql, limit=50) == before
