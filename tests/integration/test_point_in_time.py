"""Features must not see anything at or after their `as_of`: adding such orders changes nothing."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import BUILD_ONLY, build_warehouse, subset_vars, write_real_subset
from tests.support.warehouse_queries import fetch

LONDON = ZoneInfo("Europe/London")
UTC = ZoneInfo("UTC")


def _local(ts_utc) -> str:
    """The raw file's wall-clock time (UK local) for a UTC moment."""
    return ts_utc.replace(tzinfo=UTC).astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")


def _append_orders(src: Path, dst: Path, customer: str, country: str, as_of) -> None:
    rows = [
        # exactly at as_of: must not count for as_of (features are strictly before)
        ["999001", "85123A", "LEAK AT AS_OF", "500", _local(as_of), "9.99", customer, country],
        [
            "C999002",
            "85123A",
            "LEAK CANCEL AT AS_OF",
            "-1",
            _local(as_of),
            "9.99",
            customer,
            country,
        ],
        # a day later: must show up only in later snapshots
        [
            "999003",
            "22423",
            "AFTER AS_OF",
            "7",
            _local(as_of + timedelta(days=1)),
            "12.75",
            customer,
            country,
        ],
    ]
    dst.write_bytes(src.read_bytes())
    with dst.open("a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def test_orders_at_or_after_as_of_never_reach_its_features(tmp_path: Path, raw_paths) -> None:
    subset = write_real_subset(raw_paths, tmp_path / "raw")
    before = build_warehouse(tmp_path / "before", subset_vars(subset), args=BUILD_ONLY)
    customer, as_of, country = fetch(
        before,
        """
        select customer_id, as_of, country from marts.customer_features
        where orders_lifetime >= 3 and as_of between '2011-06-01' and '2011-09-01'
        order by as_of, customer_id limit 1
        """,
    )[0]

    perturbed_csv = tmp_path / "raw" / "perturbed.csv"
    _append_orders(subset["online_retail"], perturbed_csv, customer, country, as_of)
    after = build_warehouse(
        tmp_path / "after", subset_vars({**subset, "online_retail": perturbed_csv}), args=BUILD_ONLY
    )

    for mart in ("customer_features", "customer_sequences"):
        query = f"select * from marts.{mart} where as_of <= '{as_of}' order by customer_id, as_of"
        unchanged_before, unchanged_after = fetch(before, query), fetch(after, query)
        assert len(unchanged_before) > 1000
        assert unchanged_before == unchanged_after, f"{mart} changed at or before {as_of}"

    # The same orders must be visible one snapshot later, or this test could not fail.
    query = (
        "select as_of, orders_lifetime, cancellation_rate from marts.customer_features "
        f"where customer_id = '{customer}' and as_of > '{as_of}' order by as_of limit 1"
    )
    (_, lifetime_before, cancel_before), (_, lifetime_after, cancel_after) = (
        fetch(before, query)[0],
        fetch(after, query)[0],
    )
    assert lifetime_after == lifetime_before + 2
    assert cancel_after > cancel_before
