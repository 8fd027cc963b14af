"""Switching the privacy option (or its salt) on a built warehouse stops the run: incremental
tables would otherwise hold raw and pseudonymized ids side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from tests.conftest import FIXED_NOW
from tests.reliability.summary import TALLY

RUN = ["run", "--select", "+stg_taobao__events"]
ON = {"cartcast_now": FIXED_NOW, "cartcast_pseudonymize_ids": True}


def test_a_change_of_id_mode_needs_a_full_refresh(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path)
    run_dbt(RUN, warehouse, {"cartcast_now": FIXED_NOW}, work_dir=tmp_path)
    with pytest.raises(DbtError, match="id_mode_changed"):
        run_dbt(RUN, warehouse, ON, work_dir=tmp_path, extra_env={"CARTCAST_ID_SALT": "s1"})
    run_dbt(
        [*RUN, "--full-refresh"],
        warehouse,
        ON,
        work_dir=tmp_path,
        extra_env={"CARTCAST_ID_SALT": "s1"},
    )
    # The same mode again runs; another salt is another mode.
    run_dbt(RUN, warehouse, ON, work_dir=tmp_path, extra_env={"CARTCAST_ID_SALT": "s1"})
    with pytest.raises(DbtError, match="id_mode_changed"):
        run_dbt(RUN, warehouse, ON, work_dir=tmp_path, extra_env={"CARTCAST_ID_SALT": "s2"})
    TALLY.add("id mode changes refused", 2)
